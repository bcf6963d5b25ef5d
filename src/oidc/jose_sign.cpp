#include "oidc/jose_sign.hpp"

#include "oidc/jose_openssl.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include <array>
#include <cstring>

namespace multisession::oidc {
namespace {

using namespace detail;

constexpr std::size_t es256_part_size = 32;

struct ecdsa_sig_free {
    void operator()(ECDSA_SIG* sig) const noexcept { ECDSA_SIG_free(sig); }
};
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, ecdsa_sig_free>;

/// The digest context for `alg`, initialised for signing or verifying with `key`, or null.
md_ctx_ptr start(EVP_PKEY* key, jws_algorithm alg, bool sign) {
    if (family_of(key) != required_family(alg)) return nullptr;
    md_ctx_ptr context(EVP_MD_CTX_new());
    if (!context) return nullptr;
    // Ed25519 hashes internally (PureEdDSA): it takes no digest.
    const EVP_MD* digest = alg == jws_algorithm::eddsa ? nullptr : EVP_sha256();
    EVP_PKEY_CTX* key_context = nullptr; // owned by `context`
    const int started = sign ? EVP_DigestSignInit(context.get(), &key_context, digest, nullptr, key)
                             : EVP_DigestVerifyInit(context.get(), &key_context, digest, nullptr, key);
    if (started != 1) return nullptr;
    if (alg == jws_algorithm::ps256) {
        // RFC 7518 section 3.5: MGF1 with SHA-256 and a salt as long as the hash.
        if (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(key_context, EVP_sha256()) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(key_context, RSA_PSS_SALTLEN_DIGEST) != 1)
            return nullptr;
    } else if (alg == jws_algorithm::rs256) {
        if (EVP_PKEY_CTX_set_rsa_padding(key_context, RSA_PKCS1_PADDING) != 1) return nullptr;
    }
    return context;
}

/// DER ECDSA-Sig-Value to R || S, each left-padded to 32 bytes.
std::string der_to_jose(const std::string& der) {
    const auto* cursor = bytes_of(der);
    ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
    if (!sig) throw_openssl(oidc_errc::invalid_key, "ES256 signing produced no valid signature");
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::string out(2 * es256_part_size, '\0');
    auto* bytes = reinterpret_cast<unsigned char*>(out.data());
    if (BN_bn2binpad(r, bytes, es256_part_size) != es256_part_size ||
        BN_bn2binpad(s, bytes + es256_part_size, es256_part_size) != es256_part_size)
        throw_openssl(oidc_errc::invalid_key, "ES256 signature does not fit 64 bytes");
    return out;
}

/// R || S to DER, or empty when `raw` cannot be an ES256 signature.
std::string jose_to_der(std::string_view raw) {
    if (raw.size() != 2 * es256_part_size) return {};
    ecdsa_sig_ptr sig(ECDSA_SIG_new());
    bn_ptr r(BN_bin2bn(bytes_of(raw), es256_part_size, nullptr));
    bn_ptr s(BN_bin2bn(bytes_of(raw) + es256_part_size, es256_part_size, nullptr));
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
    (void)r.release(); // now owned by `sig`
    (void)s.release();
    unsigned char* der = nullptr;
    const int size = i2d_ECDSA_SIG(sig.get(), &der);
    if (size <= 0) return {};
    std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(size));
    OPENSSL_free(der);
    return out;
}

} // namespace

std::optional<jws_algorithm> jws_algorithm_from_name(std::string_view name) noexcept {
    if (name == "RS256") return jws_algorithm::rs256;
    if (name == "PS256") return jws_algorithm::ps256;
    if (name == "ES256") return jws_algorithm::es256;
    if (name == "EdDSA") return jws_algorithm::eddsa;
    return std::nullopt;
}

std::string_view jws_algorithm_name(jws_algorithm alg) noexcept {
    switch (alg) {
    case jws_algorithm::rs256:
        return "RS256";
    case jws_algorithm::ps256:
        return "PS256";
    case jws_algorithm::es256:
        return "ES256";
    case jws_algorithm::eddsa:
        return "EdDSA";
    }
    return "";
}

key_family required_family(jws_algorithm alg) noexcept {
    switch (alg) {
    case jws_algorithm::rs256:
    case jws_algorithm::ps256:
        return key_family::rsa;
    case jws_algorithm::es256:
        return key_family::ec_p256;
    case jws_algorithm::eddsa:
        return key_family::ed25519;
    }
    return key_family::rsa;
}

std::optional<key_family> family_of(const EVP_PKEY* key) noexcept {
    if (key == nullptr) return std::nullopt;
    if (EVP_PKEY_is_a(key, "RSA")) return key_family::rsa;
    if (EVP_PKEY_is_a(key, "ED25519")) return key_family::ed25519;
    if (EVP_PKEY_is_a(key, "EC")) {
        std::array<char, 64> group{};
        std::size_t size = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &size) == 1 &&
            (std::strcmp(group.data(), "prime256v1") == 0 || std::strcmp(group.data(), "P-256") == 0))
            return key_family::ec_p256;
        ERR_clear_error();
    }
    return std::nullopt;
}

std::string jws_sign(EVP_PKEY* key, jws_algorithm alg, std::string_view signing_input) {
    const std::string what = std::string(jws_algorithm_name(alg)) + " signing";
    auto context = start(key, alg, true);
    if (!context) throw_openssl(oidc_errc::invalid_key, what + ": the key does not fit the algorithm");
    std::size_t size = 0;
    if (EVP_DigestSign(context.get(), nullptr, &size, bytes_of(signing_input), signing_input.size()) != 1)
        throw_openssl(oidc_errc::invalid_key, what + " failed");
    std::string signature(size, '\0');
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       bytes_of(signing_input), signing_input.size()) != 1)
        throw_openssl(oidc_errc::invalid_key, what + " failed");
    signature.resize(size);
    return alg == jws_algorithm::es256 ? der_to_jose(signature) : signature;
}

namespace {

/// `signature` as OpenSSL takes it (DER for ES256) in `der`; false when it cannot be one.
bool to_openssl_form(jws_algorithm alg, std::string_view& signature, std::string& der) {
    if (alg != jws_algorithm::es256) return true;
    der = jose_to_der(signature);
    if (der.empty()) {
        ERR_clear_error();
        return false;
    }
    signature = der;
    return true;
}

bool finish_verify(EVP_MD_CTX* context, std::string_view signing_input, std::string_view signature) {
    const bool valid = context != nullptr && EVP_DigestVerify(context, bytes_of(signature), signature.size(),
                                                              bytes_of(signing_input), signing_input.size()) == 1;
    ERR_clear_error(); // a failed verification leaves entries behind
    return valid;
}

} // namespace

bool jws_verify(EVP_PKEY* key, jws_algorithm alg, std::string_view signing_input, std::string_view signature) {
    std::string der;
    if (!to_openssl_form(alg, signature, der)) return false;
    auto context = start(key, alg, false);
    return finish_verify(context.get(), signing_input, signature);
}

jws_verifier::jws_verifier(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}

jws_verifier::~jws_verifier() {
    for (auto* context : ready_) EVP_MD_CTX_free(context);
}

bool jws_verifier::verify(jws_algorithm alg, std::string_view signing_input, std::string_view signature) const {
    std::string der;
    if (!to_openssl_form(alg, signature, der)) return false;
    const auto index = static_cast<std::size_t>(alg);
    md_ctx_ptr context;
    {
        std::lock_guard lock(mutex_);
        if (!tried_.at(index)) {
            tried_[index] = true;
            ready_[index] = start(key_.get(), alg, false).release(); // null: the key does not fit
            ERR_clear_error();
        }
        if (ready_[index] != nullptr) {
            context.reset(EVP_MD_CTX_new());
            if (context && EVP_MD_CTX_copy_ex(context.get(), ready_[index]) != 1) context.reset();
            ERR_clear_error();
        }
    }
    // No copy (it failed, or the key does not fit): set up afresh, which also answers "no fit".
    if (!context) context = start(key_.get(), alg, false);
    return finish_verify(context.get(), signing_input, signature);
}

} // namespace multisession::oidc
