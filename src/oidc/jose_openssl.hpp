// OpenSSL 3 plumbing shared by the JOSE code: owning handles, digests, randomness, and the one
// place that turns an OpenSSL failure into a multisession::error. EVP interfaces only.
#pragma once

#include "core/printable.hpp"

#include <multisession/error.hpp>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace multisession::oidc::detail {

struct pkey_free {
    void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct pkey_ctx_free {
    void operator()(EVP_PKEY_CTX* context) const noexcept { EVP_PKEY_CTX_free(context); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* context) const noexcept { EVP_MD_CTX_free(context); }
};
struct bn_clear_free {
    // Clearing costs nothing measurable and means a BIGNUM that held `d` never lingers.
    void operator()(BIGNUM* number) const noexcept { BN_clear_free(number); }
};
struct param_bld_free {
    void operator()(OSSL_PARAM_BLD* builder) const noexcept { OSSL_PARAM_BLD_free(builder); }
};
struct params_clear_free {
    // OpenSSL 3.0 has no OSSL_PARAM_clear_free: wipe each value (a private scalar among them)
    // before the array goes back to the allocator.
    void operator()(OSSL_PARAM* params) const noexcept {
        if (params == nullptr) return;
        for (OSSL_PARAM* p = params; p->key != nullptr; ++p)
            if (p->data != nullptr && p->data_size != 0) OPENSSL_cleanse(p->data, p->data_size);
        OSSL_PARAM_free(params);
    }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;
using bn_ptr = std::unique_ptr<BIGNUM, bn_clear_free>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, param_bld_free>;
using params_ptr = std::unique_ptr<OSSL_PARAM, params_clear_free>;

/// A key shared between threads: EVP_PKEY is reference counted and read-only once built.
using shared_pkey = std::shared_ptr<EVP_PKEY>;
inline shared_pkey share(pkey_ptr key) { return shared_pkey(key.release(), pkey_free{}); }

inline const unsigned char* bytes_of(std::string_view text) noexcept {
    return reinterpret_cast<const unsigned char*>(text.data());
}

/// Overwrites memory so that the optimiser cannot drop the write.
inline void cleanse(std::string& bytes) noexcept {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

/// Throws `code` with `context`, first emptying this thread's OpenSSL error queue so that stale
/// entries do not confuse the next OpenSSL user on the thread (a TLS read, for instance).
[[noreturn]] inline void throw_openssl(oidc_errc code, const std::string& context) {
    ERR_clear_error();
    throw error(code, context);
}

/// SHA-256 of `data`, 32 raw bytes.
inline std::string sha256(std::string_view data) {
    std::array<unsigned char, 32> digest{};
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 || size != 32)
        throw_openssl(oidc_errc::invalid_key, "SHA-256 is not available");
    return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

/// `size` bytes from OpenSSL's CSPRNG.
inline std::string random_bytes(std::size_t size) {
    std::string out(size, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(size)) != 1)
        throw_openssl(oidc_errc::invalid_key, "the random generator failed");
    return out;
}

/// `name` quoted, printable and bounded: for kids and algorithm names chosen by a provider.
inline std::string quoted_identifier(std::string_view name) {
    return "'" + multisession::detail::printable(name, 64) + "'";
}

} // namespace multisession::oidc::detail
