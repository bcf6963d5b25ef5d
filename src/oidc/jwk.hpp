// JSON Web Keys (RFC 7517 / 7518 / 8037): loading EC P-256, RSA and Ed25519 keys into OpenSSL,
// writing EC P-256 keys back out, RFC 7638 thumbprints, and a provider's key set.
#pragma once

#include "oidc/jose_openssl.hpp"
#include "oidc/jose_sign.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::oidc {

/// A key loaded from a JWK, with the members that select it. Immutable once built and cheap to
/// copy (the EVP_PKEY is shared); safe to use from many threads at once.
struct jwk_key {
    detail::shared_pkey key;
    key_family family = key_family::ec_p256;
    bool has_private = false; ///< only EC P-256 keys with `d` load their private part
    std::string kid;          ///< empty when the JWK has no `kid`
    std::string alg;          ///< empty when the JWK has no `alg`
    std::string use;          ///< empty when the JWK has no `use`
    /// Set for the keys of a jwks (a provider's keys verify many tokens); null otherwise.
    std::shared_ptr<const jws_verifier> verifier;
};

/// Loads `jwk`: kty EC (crv P-256, x, y, optional d), RSA (n, e; at least 2048 bits) or OKP
/// (crv Ed25519, x). The point must lie on the curve and `d` must match it. Private members of
/// RSA and OKP keys are ignored. Throws multisession::error(oidc_errc::invalid_key) for anything
/// else; the message names the failing member, never its value.
jwk_key parse_jwk(const nlohmann::json& jwk);

/// Parses `text` as JSON, then as parse_jwk(). The caller owns (and should cleanse) `text`.
/// `inspect`, when given, sees the document and the loaded key before the document is wiped: for
/// members the key does not keep.
jwk_key parse_jwk(std::string_view text,
                  const std::function<void(const nlohmann::json& document, const jwk_key& key)>& inspect = {});

/// The public JWK of an EC P-256 key: {"crv":"P-256","kty":"EC","x":...,"y":...}.
/// Throws multisession::error(invalid_key) for any other key.
nlohmann::json ec_public_jwk(EVP_PKEY* key);

/// The private JWK of an EC P-256 key: the public members and `d`. A secret: the caller must
/// release it through cleanse_jwk(). Throws multisession::error(invalid_key) when `key` is not an
/// EC P-256 key pair.
nlohmann::json ec_private_jwk(EVP_PKEY* key);

/// Overwrites every string member of `jwk` in place (the private members among them), then
/// empties it. For JSON that held key material.
void cleanse_jwk(nlohmann::json& jwk) noexcept;

/// The RFC 7638 thumbprint of `jwk`: base64url(SHA-256 of the required members in lexicographic
/// order, no whitespace). Supports EC, RSA and OKP; other members (`d`, `kid`, `alg`) are ignored.
/// Throws multisession::error(invalid_key) when a required member is missing or not a string.
std::string jwk_thumbprint(const nlohmann::json& jwk);

/// A provider's JSON Web Key Set. Keys it cannot use (another kty or curve, a malformed key, a
/// `use` other than "sig") are skipped and counted, so one odd key does not hide the others.
/// Immutable after parsing; safe to share between threads.
class jwks {
public:
    jwks() = default;

    /// Loads {"keys":[...]}. Throws multisession::error(oidc_errc::malformed_response) when the
    /// document is not an object with a `keys` array.
    static jwks parse(const nlohmann::json& document);

    /// Parses `text` as JSON, then as parse(const json&).
    static jwks parse(std::string_view text);

    /// All usable keys, in document order.
    const std::vector<jwk_key>& keys() const noexcept { return keys_; }

    /// The usable keys whose `kid` is `kid`, in document order (usually zero or one).
    std::vector<const jwk_key*> find(std::string_view kid) const;

    /// How many keys of the document were skipped.
    std::size_t skipped() const noexcept { return skipped_; }

private:
    std::vector<jwk_key> keys_;
    std::map<std::string, std::vector<std::size_t>, std::less<>> by_kid_;
    std::size_t skipped_ = 0;
};

} // namespace multisession::oidc
