// The browser login and the client's life cycle around it: PKCE (RFC 7636), the authorization
// request and response (RFC 6749 section 4.1, RFC 9207 `iss`), dynamic client registration
// (RFC 7591), token revocation (RFC 7009) and RP-initiated logout (OpenID RP-Initiated Logout 1.0).
// Pure functions over http::request / http::response and URLs, like the rest of wire_*; only
// make_pkce and random_urlsafe touch the outside world (OpenSSL's CSPRNG).
#pragma once

#include "oidc/wire_discovery.hpp"
#include "oidc/wire_form.hpp"
#include "oidc/wire_http.hpp"
#include "oidc/wire_token.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace multisession::oidc {

// --- PKCE and random values -----------------------------------------------------------------------

/// PKCE (RFC 7636) S256. `verifier` is a secret: it stays with the login until the code exchange
/// and never goes into a message or a URL; `challenge` goes into the authorization request.
struct pkce_pair {
    std::string verifier;
    std::string challenge;
};

/// A fresh pair: the verifier is the base64url (no padding) of 32 CSPRNG bytes, 43 characters
/// (RFC 7636 section 4.1 recommends exactly this); the challenge is pkce_challenge(verifier).
/// Throws multisession::error(oidc_errc::invalid_key) when the random generator fails.
/// Thread-safe.
pkce_pair make_pkce();

/// base64url(SHA-256(verifier)) without padding (RFC 7636 section 4.2, S256). Throws
/// multisession::error(oidc_errc::invalid_request) when `verifier` is not 43-128 characters of
/// [A-Za-z0-9-._~] (section 4.1); the message never quotes it. Pure.
std::string pkce_challenge(std::string_view verifier);

/// The base64url (no padding) of `bytes` CSPRNG bytes: state values, session ids. 32 bytes give
/// 43 characters and 256 bits. Throws multisession::error: oidc_errc::invalid_request for 0 or more
/// than 1024 bytes, oidc_errc::invalid_key when the random generator fails. Thread-safe.
std::string random_urlsafe(std::size_t bytes = 32);

// --- the authorization request and response -------------------------------------------------------

/// What goes into the authorization request besides what the provider's metadata says.
struct authorization_request {
    std::string client_id, redirect_uri, scope, state, code_challenge;
    /// OpenID Connect `prompt` ("consent", "login", "none", ...); omitted when unset.
    std::optional<std::string> prompt{};
    /// Further parameters, appended in order after the standard ones (e.g. `login_hint`).
    std::vector<std::pair<std::string, std::string>> extra_parameters{};
};

/// The URL to send the user agent to: authorization_endpoint + "?" (or "&" when it already has a
/// query, which is kept, RFC 6749 section 3.1) + response_type=code, client_id, redirect_uri, scope,
/// state, code_challenge, code_challenge_method=S256, [prompt], then the extras, all form-encoded.
/// Throws multisession::error: oidc_errc::unsupported_feature when the metadata has no
/// authorization_endpoint; oidc_errc::invalid_request when client_id, state or code_challenge is
/// empty, or an extra parameter is unnamed or repeats a name already present (the standard ones,
/// `prompt` even when unset, another extra, or one in the endpoint's own query: RFC 6749 section
/// 3.1 forbids repeats); http_errc::invalid_url when redirect_uri is not an absolute http(s) URL or
/// has a fragment (RFC 6749 section 3.1.2), or the endpoint is not a URL. Pure.
std::string authorization_url(const provider_metadata& metadata, const authorization_request& request);

/// The parameters of an authorization response (RFC 6749 sections 4.1.2 and 4.1.2.1, RFC 9207
/// `iss`). Each is absent when the response does not carry it; a parameter given with an empty
/// value ("code=") is present and empty. `code` is a secret.
struct authorization_response {
    std::optional<std::string> code, state, iss, error, error_description;
};

/// Reads the authorization response from the full redirect URL the user agent came back with: its
/// query component (a fragment is ignored), form-decoded ('+' is a space, %XX a byte). Parameters
/// the protocol does not define (the application's own, from its redirect_uri) are ignored.
/// Throws multisession::error: oidc_errc::invalid_request when code, state, iss, error,
/// error_description or error_uri is given twice (RFC 6749 section 3.1); http_errc::invalid_url when
/// `redirect_url` is not an absolute http(s) URL or has a bad %-escape. Messages name parameters,
/// never the URL or a value (the code is in it). Does not judge the outcome: the caller compares
/// `state` and `iss` and turns `error` into oidc_errc::access_denied. Pure.
authorization_response parse_authorization_response(std::string_view redirect_url);

// --- dynamic client registration (RFC 7591) -------------------------------------------------------

/// The client metadata sent to the registration endpoint (RFC 7591 section 2, OpenID Connect
/// Dynamic Client Registration 1.0 for application_type and id_token_signed_response_alg).
struct registration_request {
    /// Absolute http(s) URLs without fragment; may be empty for a client that never logs a user in.
    std::vector<std::string> redirect_uris;
    /// Shown to the user on the consent page; omitted when empty.
    std::string client_name;
    /// "client_secret_basic", "client_secret_post" or "none" (a public client).
    std::string token_endpoint_auth_method = "client_secret_basic";
    std::vector<std::string> grant_types{"authorization_code", "refresh_token"};
    std::vector<std::string> response_types{"code"};
    std::string scope = "openid offline_access webid";
    /// Omitted when unset: the provider's default (RS256 for OpenID Connect).
    std::optional<std::string> id_token_signed_response_alg{};
    /// "web" or "native".
    std::string application_type = "web";
};

/// POST registration_endpoint with headers Content-Type: application/json, Accept:
/// application/json, and a JSON object of the fields above. Throws multisession::error:
/// oidc_errc::unsupported_feature without registration_endpoint; oidc_errc::invalid_request for a
/// token_endpoint_auth_method this library cannot use or text that is not UTF-8;
/// http_errc::invalid_url for a redirect URI that is not an absolute http(s) URL without fragment.
/// Pure.
http::request registration_http_request(const provider_metadata& metadata, const registration_request& request);

/// What the provider registered.
struct registered_client {
    std::string client_id;
    std::optional<std::string> client_secret; ///< a secret: never logged, never in a message
    std::int64_t client_secret_expires_at = 0; ///< seconds since the Unix epoch; 0 = never expires
    std::string token_endpoint_auth_method;    ///< as answered, else as requested
    std::optional<std::string> id_token_signed_response_alg; ///< as answered, else as requested
};

/// Reads a registration response. 200 or 201: a JSON object with a non-empty string client_id; a
/// non-empty string client_secret when present (null counts as absent); client_secret_expires_at a
/// number or string of digits, >= 0, when present; string token_endpoint_auth_method and
/// id_token_signed_response_alg when present; a secret when the method is client_secret_basic or
/// client_secret_post. A 2xx body with an `error` and no client_id is handled as an error body.
///
/// Throws multisession::error: for an OAuth error body (any status), the code from
/// oauth_error_code() (invalid_redirect_uri and invalid_client_metadata give oauth_error), with the
/// sanitised code in the message; 5xx without one: server_error; other statuses: unexpected_status;
/// a 200/201 body that does not fit: malformed_response. Messages name fields only, never body text
/// or the secret. Pure.
registered_client parse_registration_response(const http::response& response, const registration_request& request);

// --- token revocation (RFC 7009) ------------------------------------------------------------------

/// POST revocation_endpoint, headers Content-Type: application/x-www-form-urlencoded, Accept:
/// application/json, Authorization (client_secret_basic); body token, [token_type_hint when not
/// empty], then client_id (none, post) and client_secret (post). The client authentication is
/// choose_client_auth(metadata, client). Throws multisession::error: oidc_errc::unsupported_feature
/// without revocation_endpoint; oidc_errc::invalid_request for an empty token;
/// oidc_errc::invalid_client as choose_client_auth. Pure.
http::request revocation_request(const provider_metadata& metadata, const client_info& client, std::string_view token,
                                 std::string_view token_type_hint);

/// Returns when the revocation endpoint answered 200 (RFC 7009 section 2.2: also for a token it did
/// not know). Throws multisession::error: for an OAuth error body the code from oauth_error_code()
/// (unsupported_token_type gives oauth_error); 5xx without one: server_error; anything else:
/// unexpected_status. Never quotes the body. Pure.
void check_revocation_response(const http::response& response);

// --- RP-initiated logout --------------------------------------------------------------------------

/// The parameters of a logout request (OpenID RP-Initiated Logout 1.0 section 2); unset ones are
/// omitted. `id_token_hint` is an ID token: it belongs in the URL (the specification puts it there)
/// but never in a message.
struct end_session_request {
    std::optional<std::string> id_token_hint, client_id, post_logout_redirect_uri, state;
};

/// end_session_endpoint + "?" (or "&" when it has a query) + id_token_hint, client_id,
/// post_logout_redirect_uri, state, in that order, form-encoded, each when given. Throws
/// multisession::error: oidc_errc::unsupported_feature without end_session_endpoint;
/// http_errc::invalid_url when post_logout_redirect_uri is not an absolute http(s) URL or the
/// endpoint is not a URL. Pure.
std::string end_session_url(const provider_metadata& metadata, const end_session_request& request);

} // namespace multisession::oidc
