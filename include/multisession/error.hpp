// multisession — errors.
//
// Every failure the library reports carries a std::error_code from one of its own categories.
// Blocking calls throw multisession::error (a std::system_error); asynchronous ones hand the code
// to their completion handler. Messages name keys, session ids and URIs with credentials removed;
// they never contain a stored value, a token, a secret or a private key.
#pragma once

#include <string>
#include <system_error>

namespace multisession {

/// Error conditions raised by the storage layer and its decorators.
enum class storage_errc {
    io_error = 1,         ///< the operating system refused a read, write, rename, sync or lock
    corrupt_record,       ///< a stored entry does not have the expected on-disk or envelope format
    busy,                 ///< the store stayed locked by another writer past its timeout
    invalid_key,          ///< empty or oversized key
    invalid_uri,          ///< open_storage() could not parse or does not know the URI
    decryption_failed,    ///< authentication tag mismatch: tampered, swapped between keys, or wrong key
    unknown_key_id,       ///< the envelope names an encryption key that is not in the key ring
    invalid_configuration,///< options that cannot work (bad key length, empty key ring, ...)
    backend_error,        ///< the database engine reported an error it did not classify
    unavailable,          ///< the store's server could not be reached, did not answer in time, or the
                          ///< connection broke during the call (whose effect is then unknown)
    invalid_value,        ///< a value given by the caller is not acceptable (too large, not UTF-8)
};

/// The category of storage_errc codes; its name() is "multisession.storage".
const std::error_category& storage_category() noexcept;

/// Makes storage_errc usable wherever a std::error_code is expected.
std::error_code make_error_code(storage_errc e) noexcept;

/// Error conditions raised by the HTTP(S) transport.
enum class http_errc {
    invalid_url = 1,      ///< not an absolute http(s) URL we can reach
    insecure_url_refused, ///< plain http:// to a non-loopback host, or to loopback without explicit allowance
    connect_failed,       ///< name resolution or TCP connect failed
    tls_failed,           ///< TLS handshake failed: untrusted certificate, wrong host name, protocol
    timeout,              ///< the connect, read or total deadline passed
    connection_closed,    ///< the peer closed the connection before the response was complete
    malformed_response,   ///< not a parseable HTTP/1.1 response
    body_too_large,       ///< the response body exceeded the configured cap
    shut_down,            ///< the transport was stopped while the request was pending
};

/// The category of http_errc codes; its name() is "multisession.http".
const std::error_category& http_category() noexcept;

/// Makes http_errc usable wherever a std::error_code is expected.
std::error_code make_error_code(http_errc e) noexcept;

/// Error conditions of the OAuth 2.0 / OpenID Connect protocol. The first group mirrors the token
/// endpoint's `error` codes (RFC 6749 section 5.2, RFC 9449), so that `invalid_grant` (the refresh
/// token is expired, revoked or was already used) is told apart from transport failures and 5xx.
enum class oidc_errc {
    invalid_grant = 1,      ///< the grant (refresh token, code) is not valid any more
    invalid_client,         ///< client authentication failed
    unauthorized_client,    ///< the client may not use this grant type
    invalid_request,        ///< the provider found the request malformed
    invalid_scope,          ///< a requested scope is not allowed
    unsupported_grant_type, ///< the provider does not offer this grant
    invalid_dpop_proof,     ///< the provider rejected the DPoP proof
    use_dpop_nonce,         ///< the provider still demanded a DPoP nonce after the one retry
    oauth_error,            ///< another OAuth error code (named in the message)
    server_error,           ///< the provider answered 5xx (or `server_error` / `temporarily_unavailable`)
    unexpected_status,      ///< a non-2xx answer without an OAuth error body
    malformed_response,     ///< a body that is not the JSON document the protocol requires
    issuer_mismatch,        ///< the discovery document or a token names another issuer
    invalid_token,          ///< a JWT that is malformed or whose signature does not verify
    unsupported_algorithm,  ///< a JWT or key algorithm outside the allow-list (`none` always is)
    token_expired,          ///< `exp` has passed, beyond the allowed clock skew
    token_not_yet_valid,    ///< `nbf` or `iat` lies in the future, beyond the allowed clock skew
    audience_mismatch,      ///< the token is not meant for this client
    unknown_key,            ///< no key in the issuer's JWKS matches the token, even after a refetch
    invalid_key,            ///< a JWK that is malformed or of an unsupported type
    missing_webid,          ///< no `webid` claim and a `sub` that is not a URL
    invalid_state,          ///< a redirect whose `state` names no pending login (unknown, used or expired)
    access_denied,          ///< the authorization response carries an error (the user or provider refused)
    unsupported_feature,    ///< the provider does not advertise what the call needs (e.g. registration)
};

/// The category of oidc_errc codes; its name() is "multisession.oidc".
const std::error_category& oidc_category() noexcept;

/// Makes oidc_errc usable wherever a std::error_code is expected.
std::error_code make_error_code(oidc_errc e) noexcept;

/// The one exception type of the library. Carries the code; what() is
/// "<context>: <code message>" and never contains a stored value or secret.
class error : public std::system_error {
public:
    error(std::error_code code, const std::string& context) : std::system_error(code, context) {}
};

} // namespace multisession

template <>
struct std::is_error_code_enum<multisession::storage_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<multisession::http_errc> : std::true_type {};
template <>
struct std::is_error_code_enum<multisession::oidc_errc> : std::true_type {};
