// JWTs in compact JWS form (RFC 7519 / 7515): parsing, signing, and the verification an OpenID
// Connect client owes an ID token — algorithm allow-list, key selection from the issuer's JWKS,
// signature, then issuer, audience and time claims — plus the Solid-OIDC WebID rule.
#pragma once

#include "oidc/jose_sign.hpp"
#include "oidc/jwk.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::oidc {

/// The parts of a compact JWS, decoded but not verified.
struct compact_jws {
    nlohmann::json header;     ///< always a JSON object
    nlohmann::json payload;    ///< always a JSON object
    std::string signing_input; ///< "<header part>.<payload part>", as received
    std::string signature;     ///< raw signature bytes (empty for an unsecured JWS)
};

/// Splits and decodes `token`: exactly three base64url parts, header and payload JSON objects.
/// Throws multisession::error(oidc_errc::invalid_token) for anything else; the message never
/// contains the token.
compact_jws parse_compact_jws(std::string_view token);

/// Signs `payload` as a compact JWS under `key` with `alg`. `header` gets `alg` set (any
/// `alg` it has is replaced); the other members are kept. Throws multisession::error:
/// invalid_key when the key does not fit `alg`, invalid_request when a member is not valid UTF-8.
std::string sign_compact_jws(nlohmann::json header, const nlohmann::json& payload, EVP_PKEY* key, jws_algorithm alg);

/// What verify_jwt() checks the claims against.
struct jwt_expectations {
    std::string issuer;   ///< `iss` must equal this exactly
    std::string audience; ///< `aud` (a string, or an array) must contain this: our client id
    /// "Now" for the time claims; unset means std::chrono::system_clock::now().
    std::optional<std::chrono::system_clock::time_point> now;
    /// Tolerance for clocks that disagree, applied to `exp`, `nbf` and `iat`.
    std::chrono::seconds clock_skew{60};
    /// Accepted `alg` values. `none` and HS* are refused even when listed (a client verifying with
    /// a public JWKS can never check an HMAC), as is any name this library does not implement.
    std::vector<std::string> allowed_algorithms{"RS256", "PS256", "ES256", "EdDSA"};
};

/// Verifies `token` and returns its claims. Steps and errors (all multisession::error):
/// malformed → invalid_token; `alg` refused → unsupported_algorithm; key selection: with a `kid`,
/// the keys of `keys` carrying it, none → unknown_key (refetch the JWKS and retry), a key of another
/// family or `alg` → invalid_token; without a `kid`, every key fitting the algorithm, none →
/// unknown_key; signature → invalid_token; `iss` → issuer_mismatch; `aud` → audience_mismatch;
/// `exp` missing or not a number → invalid_token, exp <= now - skew → token_expired; `nbf` or
/// `iat` > now + skew → token_not_yet_valid. A `crit` header is refused (invalid_token): we
/// implement no extension. Thread-safe.
nlohmann::json verify_jwt(std::string_view token, const jwks& keys, const jwt_expectations& expected);

/// The WebID of a Solid-OIDC identity: the `webid` claim when it is an http(s) URL, else `sub`
/// when that is one. Throws multisession::error(oidc_errc::missing_webid) otherwise.
std::string webid_from_claims(const nlohmann::json& claims);

} // namespace multisession::oidc
