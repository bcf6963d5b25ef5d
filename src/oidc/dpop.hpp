// DPoP (RFC 9449): the ES256 key a session's tokens are bound to, stored in Inrupt's format,
// and the proof JWT sent with every token request and resource request.
#pragma once

#include "oidc/jose_openssl.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::oidc {

/// An EC P-256 key pair for DPoP. Immutable after construction and cheap to copy (one reference
/// counted state: the EVP_PKEY, the public JWK and the proofs' encoded header): one value may sign
/// proofs on many threads at once.
class dpop_key {
public:
    /// A fresh key pair from OpenSSL's CSPRNG. Throws multisession::error(invalid_key) if
    /// OpenSSL cannot generate one.
    static dpop_key generate();

    /// Loads a stored pair: `public_jwk_json` and `private_jwk_json` are the JSON texts of
    /// Inrupt's `publicKey` / `privateKey` record fields. The public JWK must describe the private
    /// key's own point, and its `alg`, if any, must be ES256. Throws multisession::error(invalid_key)
    /// otherwise; messages never contain key material. The caller owns (and should cleanse) the
    /// private text.
    static dpop_key from_jwk(std::string_view public_jwk_json, std::string_view private_jwk_json);

    /// Loads the pair from the private JWK alone (its x and y give the public part).
    static dpop_key from_private_jwk(std::string_view private_jwk_json);

    /// The public JWK as Inrupt stores it in `publicKey` and puts in proof headers:
    /// {"alg":"ES256","crv":"P-256","kty":"EC","x":...,"y":...}.
    const nlohmann::json& public_jwk() const noexcept;

    /// public_jwk() as compact JSON text.
    std::string public_jwk_json() const { return public_jwk().dump(); }

    /// The private JWK as compact JSON text ({"crv","d","kty","x","y"}, Inrupt's `privateKey`).
    /// A secret: store it (encrypted) and cleanse it; never log it.
    std::string private_jwk_json() const;

    /// The RFC 7638 thumbprint of the public key: the `jkt` / `dpop_jkt` value. Computed on
    /// first use (a refresh never needs it), then kept.
    const std::string& thumbprint() const;

    /// The OpenSSL key, for signing. Valid as long as this object (or a copy) lives.
    EVP_PKEY* native_handle() const noexcept;

    /// base64url of every proof's protected header {"alg":"ES256","jwk":...,"typ":"dpop+jwt"}:
    /// the same for every proof of this key, so encoded once.
    const std::string& encoded_proof_header() const noexcept;

private:
    struct state;
    /// `public_jwk`: the point's JWK ({crv, kty, x, y}, canonical base64url).
    dpop_key(detail::shared_pkey key, nlohmann::json public_jwk);

    std::shared_ptr<const state> state_;
};

/// `url` as a DPoP `htu`: without query, fragment and user information (credentials never go
/// into a proof). Performs no other normalisation.
std::string dpop_htu(std::string_view url);

/// base64url(SHA-256(access_token)): the `ath` claim.
std::string dpop_ath(std::string_view access_token);

/// A DPoP proof for an `htm` request to `htu`, signed with `key`: header {typ:"dpop+jwt",
/// alg:"ES256", jwk: the public JWK}, claims {htm, htu (see dpop_htu), iat (whole seconds of
/// `now`), jti (128 random bits, base64url), nonce (only when given), ath (only when an access
/// token is given)}. Throws multisession::error: malformed_response when `nonce` breaks RFC 9449's
/// syntax (it comes from the server), invalid_request when `htm` or `htu` is not valid UTF-8.
/// Thread-safe.
std::string make_dpop_proof(const dpop_key& key, std::string_view htm, std::string_view htu,
                            std::chrono::system_clock::time_point now,
                            std::optional<std::string_view> nonce = std::nullopt,
                            std::optional<std::string_view> access_token = std::nullopt);

} // namespace multisession::oidc
