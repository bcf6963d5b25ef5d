// The token endpoint (RFC 6749 sections 3.2, 4.1.3, 4.4, 5, 6; RFC 7636; RFC 9449): choosing the
// client authentication, building grant requests, and reading token and error responses.
#pragma once

#include "core/secret.hpp"
#include "oidc/wire_discovery.hpp"
#include "oidc/wire_http.hpp"

#include <multisession/error.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::oidc {

/// How the client was registered (the `clientType` of a stored session record).
enum class client_type {
    dynamic,       ///< registered at the provider's registration_endpoint
    static_client, ///< registered out of band, id (and maybe secret) configured
    solid_oidc,    ///< a Solid-OIDC Client Identifier Document (a URL client_id): a public client
};

/// The client as the token endpoint sees it. `client_secret` is a secret: never logged.
struct client_info {
    std::string client_id;
    std::optional<::multisession::detail::secret_string> client_secret;
    client_type type = client_type::dynamic;
};

/// Token endpoint client authentication methods this library speaks.
enum class client_auth_method {
    none,                ///< public client: client_id in the body
    client_secret_basic, ///< Authorization: Basic (RFC 6749 section 2.3.1)
    client_secret_post,  ///< client_id and client_secret in the body
};

/// "none", "client_secret_basic" or "client_secret_post".
std::string_view to_string(client_auth_method method) noexcept;

/// Chooses the client authentication: without a secret (or for a Solid-OIDC client, whose
/// identifier document makes it public) `none`; with one, client_secret_basic when the provider
/// advertises it or advertises nothing, else client_secret_post when advertised. Throws
/// multisession::error(oidc_errc::invalid_client) naming the advertised methods otherwise.
client_auth_method choose_client_auth(const provider_metadata& metadata, const client_info& client);

/// The scope client-credentials logins ask for by default (as Inrupt's library does).
inline constexpr std::string_view default_client_credentials_scope = "openid offline_access webid";

/// A form POST to `url` authenticated as `client` by `auth`: Content-Type
/// application/x-www-form-urlencoded, Accept application/json, then Authorization for
/// client_secret_basic; the body is `body` followed by client_id (none, post) and client_secret
/// (post). Throws multisession::error(oidc_errc::invalid_client) when `auth` needs a secret the
/// client lacks. The token, revocation and other client-authenticated endpoints share it. Pure.
http::request client_authenticated_post(std::string url, const client_info& client, client_auth_method auth,
                                        std::vector<std::pair<std::string_view, std::string_view>> body);

/// POST token_endpoint, grant_type=refresh_token (RFC 6749 section 6). Headers, in order:
/// Content-Type: application/x-www-form-urlencoded, Accept: application/json, Authorization (for
/// client_secret_basic), DPoP (when `dpop_proof` is given). Body: grant_type, refresh_token,
/// [scope], then client_id (none, post) and client_secret (post). Throws
/// multisession::error(oidc_errc::invalid_request) when `dpop_proof` is not a compact JWS, or
/// (oidc_errc::invalid_client) when the auth method needs a secret the client lacks. Pure.
http::request refresh_token_request(const provider_metadata& metadata, const client_info& client,
                                    client_auth_method auth, std::string_view refresh_token,
                                    std::optional<std::string_view> scope = std::nullopt,
                                    std::optional<std::string_view> dpop_proof = std::nullopt);

/// POST token_endpoint, grant_type=client_credentials&scope=<scope> (RFC 6749 section 4.4);
/// headers and client fields as refresh_token_request.
http::request client_credentials_request(const provider_metadata& metadata, const client_info& client,
                                         client_auth_method auth,
                                         std::string_view scope = default_client_credentials_scope,
                                         std::optional<std::string_view> dpop_proof = std::nullopt);

/// POST token_endpoint, grant_type=authorization_code&code&redirect_uri&code_verifier (RFC 6749
/// section 4.1.3, RFC 7636 section 4.5); headers and client fields as refresh_token_request.
http::request authorization_code_request(const provider_metadata& metadata, const client_info& client,
                                         client_auth_method auth, std::string_view code,
                                         std::string_view redirect_uri, std::string_view code_verifier,
                                         std::optional<std::string_view> dpop_proof = std::nullopt);

/// What a successful token response grants. Every string but token_type and scope is a secret.
struct token_set {
    ::multisession::detail::secret_string access_token;
    std::string token_type;                     ///< "DPoP" or "Bearer"
    std::optional<std::chrono::seconds> expires_in;
    /// How long the refresh token lasts, when the provider says so (`refresh_expires_in`, outside
    /// RFC 6749 but common); 0 means it does not expire.
    std::optional<std::chrono::seconds> refresh_expires_in;
    std::optional<::multisession::detail::secret_string> refresh_token; ///< the new one, else the previous one, else none
    bool refresh_token_rotated = false;         ///< the response carried a refresh token that differs from the previous one
    std::optional<::multisession::detail::secret_string> id_token;
    std::optional<std::string> scope;
};

/// A parsed 2xx token response and the DPoP nonce the provider sent with it, if any.
struct token_response {
    token_set tokens;
    std::optional<std::string> dpop_nonce;
};

/// Largest expires_in accepted (ten years); more is taken as a broken provider.
inline constexpr std::chrono::seconds max_expires_in{10LL * 365 * 24 * 3600};

/// The OAuth error body (RFC 6749 section 5.2). `description` and `uri` are provider-chosen text
/// (a hostile provider may echo a token in them): show them to people with care, never log them
/// as trusted text. The library never puts them in an exception message.
struct oauth_error_details {
    std::string error;
    std::string description;
    std::string uri;
};

/// The error body of `response` when it is a JSON object with a string `error` member (any
/// status), else nullopt. Non-string `error_description`/`error_uri` are left empty. Never throws
/// except std::bad_alloc.
std::optional<oauth_error_details> parse_oauth_error(const http::response& response);

/// The oidc_errc for an OAuth `error` code: the RFC 6749 / RFC 9449 codes map to their own
/// value, server_error and temporarily_unavailable to server_error, anything else to oauth_error.
oidc_errc oauth_error_code(std::string_view error) noexcept;

/// Throws the multisession::error for an OAuth `error` code answered by `endpoint` (named in the
/// message with the status): the code from oauth_error_code() when `code` is printable ASCII
/// without '"' and '\\' (RFC 6749 section 5.2), else oauth_error; the message shows the code
/// sanitised and cut at 64 characters, never a description.
[[noreturn]] void throw_oauth_error(std::string_view endpoint, int status, std::string_view code);

/// The DPoP-Nonce header of `response` when present and well-formed (1*NQCHAR, RFC 9449 section
/// 8), else nullopt.
std::optional<std::string> dpop_nonce_of(const http::response& response);

/// Reads a token endpoint response.
///
/// 2xx: a JSON object with a non-empty string access_token, a token_type of "DPoP" or "Bearer"
/// (any case; returned in that spelling), an optional expires_in (a number or a string of digits,
/// 0..max_expires_in), optional non-empty string refresh_token, id_token and scope (null counts as
/// absent). When refresh_token is absent the previous one is kept (rotated = false). A 2xx body
/// with an `error` and no access_token is handled as an error body.
///
/// Throws multisession::error: for an OAuth error body, the code from oauth_error_code(); 5xx
/// without one: server_error; other non-2xx: unexpected_status; a 2xx body that does not fit:
/// malformed_response. The message holds the status and the sanitised `error` code only (printable
/// ASCII without '"' and '\\', at most 64 characters), never error_description or any of the body.
token_response parse_token_response(const http::response& response,
                                    std::optional<std::string_view> previous_refresh_token);

} // namespace multisession::oidc
