// JWS signatures (RFC 7515 / 7518 / 8037) over OpenSSL 3 EVP: the four algorithms Solid-OIDC
// providers use, each tied to the one key family it may run with.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::oidc {

/// The JWS algorithms we implement. `none` and the HMAC family are deliberately absent.
enum class jws_algorithm { rs256, ps256, es256, eddsa };

/// The kinds of key we can load from a JWK.
enum class key_family { ec_p256, rsa, ed25519 };

/// The algorithm called `name` ("RS256", "PS256", "ES256", "EdDSA"; case-sensitive as in RFC 7515),
/// or nullopt.
std::optional<jws_algorithm> jws_algorithm_from_name(std::string_view name) noexcept;

/// The registered name of `alg`.
std::string_view jws_algorithm_name(jws_algorithm alg) noexcept;

/// The key family `alg` signs with.
key_family required_family(jws_algorithm alg) noexcept;

/// The family of `key`, or nullopt for any other key (another curve, DSA, ...).
std::optional<key_family> family_of(const EVP_PKEY* key) noexcept;

/// The JWS signature of `signing_input` under `key` (which must hold a private key of the family
/// `alg` requires). ES256 signatures are returned in the 64-byte JOSE form R || S, not DER.
/// Throws multisession::error (invalid_key) if the key does not fit or OpenSSL fails.
/// Thread-safe: `key` is only read.
std::string jws_sign(EVP_PKEY* key, jws_algorithm alg, std::string_view signing_input);

/// Whether `signature` (raw bytes, JOSE form) is a valid `alg` signature of `signing_input` under
/// `key`. False as well when the key does not fit the algorithm. Never throws except bad_alloc.
bool jws_verify(EVP_PKEY* key, jws_algorithm alg, std::string_view signing_input, std::string_view signature);

/// jws_verify() for one key, many signatures: a provider's key checks every session's ID token.
/// OpenSSL 3 looks up the digest and the signature algorithm by name each time a context is set
/// up; here each algorithm's context is set up once, on first use, and copied for each signature.
/// Thread-safe; holds a reference to the key.
class jws_verifier {
public:
    explicit jws_verifier(std::shared_ptr<EVP_PKEY> key);
    ~jws_verifier();
    jws_verifier(const jws_verifier&) = delete;
    jws_verifier& operator=(const jws_verifier&) = delete;

    /// As jws_verify(key, alg, signing_input, signature).
    bool verify(jws_algorithm alg, std::string_view signing_input, std::string_view signature) const;

private:
    std::shared_ptr<EVP_PKEY> key_;
    mutable std::mutex mutex_;
    /// By algorithm: the set-up context, or null before first use (or when it cannot be copied).
    mutable std::array<EVP_MD_CTX*, 4> ready_{};
    mutable std::array<bool, 4> tried_{};
};

} // namespace multisession::oidc
