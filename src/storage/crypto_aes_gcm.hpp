// AES-256-GCM through OpenSSL 3's EVP interface: the one primitive the encrypted decorator needs,
// kept apart from the envelope format so that each can be read on its own.
#pragma once

#include <multisession/error.hpp>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

namespace multisession::detail {

inline constexpr std::size_t aes_256_key_size = 32;
inline constexpr std::size_t gcm_nonce_size = 12; // 96 bits: GCM's native size, no GHASH of the IV
inline constexpr std::size_t gcm_tag_size = 16;   // full-length tag; truncated tags weaken forgery bounds

/// Overwrites memory in a way the optimiser may not remove (a plain memset before free may be).
inline void cleanse(void* data, std::size_t size) noexcept {
    if (size != 0) OPENSSL_cleanse(data, size);
}
inline void cleanse(std::string& bytes) noexcept { cleanse(bytes.data(), bytes.size()); }

/// Wipes a string when the scope ends, however it ends: for plaintext the decorator only borrows.
class cleanse_on_exit {
public:
    explicit cleanse_on_exit(std::string& bytes) noexcept : bytes_(bytes) {}
    ~cleanse_on_exit() { cleanse(bytes_); }
    cleanse_on_exit(const cleanse_on_exit&) = delete;
    cleanse_on_exit& operator=(const cleanse_on_exit&) = delete;

private:
    std::string& bytes_;
};

/// Failures of the crypto library itself (allocation, a missing provider, the random generator):
/// nothing stored is at fault, so they are not the entry's corrupt_record / decryption_failed.
[[noreturn]] inline void throw_crypto_failure(const char* what) {
    // OpenSSL's error queue is per thread; leaving our entries in it would confuse the next
    // OpenSSL user on this thread (a TLS read checking ERR_get_error, for instance).
    ERR_clear_error();
    throw error(storage_errc::backend_error, std::string("encrypted storage: ") + what);
}

/// Fills `size` bytes from OpenSSL's CSPRNG (seeded by the operating system).
inline void random_bytes(void* out, std::size_t size) {
    if (RAND_bytes(static_cast<unsigned char*>(out), static_cast<int>(size)) != 1)
        throw_crypto_failure("the random generator failed");
}

namespace aes_gcm_impl {

struct context_deleter {
    // EVP_CIPHER_CTX_free also wipes the expanded key schedule held by the provider.
    void operator()(EVP_CIPHER_CTX* context) const noexcept { EVP_CIPHER_CTX_free(context); }
};
using context_ptr = std::unique_ptr<EVP_CIPHER_CTX, context_deleter>;

inline const unsigned char* bytes_of(std::string_view text) noexcept {
    return reinterpret_cast<const unsigned char*>(text.data());
}

/// A context keyed and ready for data: `encrypt` picks the direction.
inline context_ptr start(bool encrypt, const unsigned char* key, const unsigned char* nonce) {
    context_ptr context(EVP_CIPHER_CTX_new());
    if (!context) throw_crypto_failure("cannot allocate a cipher context");
    const auto init = encrypt ? EVP_EncryptInit_ex : EVP_DecryptInit_ex;
    // Cipher first, then the IV length, then key and nonce: the IV length must be known before
    // the nonce is installed.
    if (init(context.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
        EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(gcm_nonce_size), nullptr) != 1 ||
        init(context.get(), nullptr, nullptr, key, nonce) != 1)
        throw_crypto_failure("cannot initialise AES-256-GCM");
    return context;
}

/// Feeds `in` through the cipher (or, with `out` null, as associated data). EVP takes int lengths,
/// so large values go in slices; GCM is a stream mode, so each slice comes out at its own size.
inline void update(EVP_CIPHER_CTX* context, bool encrypt, std::string_view in, unsigned char* out) {
    constexpr std::size_t slice = std::size_t{1} << 30;
    const auto step = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
    for (std::size_t done = 0; done < in.size();) {
        const std::size_t size = std::min(slice, in.size() - done);
        int written = 0;
        if (step(context, out ? out + done : nullptr, &written, bytes_of(in) + done, static_cast<int>(size)) != 1 ||
            static_cast<std::size_t>(written) != size)
            throw_crypto_failure("AES-256-GCM update failed");
        done += size;
    }
}

} // namespace aes_gcm_impl

/// Encrypts the concatenation of `plaintext` under `key` (32 bytes) and `nonce` (12 bytes),
/// authenticating the concatenation of `associated_data` too. Writes exactly as many ciphertext
/// bytes as there are plaintext bytes to `ciphertext`, and 16 bytes to `tag`. The caller must
/// never use a nonce twice with one key. Throws multisession::error (backend_error) if OpenSSL fails.
inline void aes_256_gcm_seal(const unsigned char* key, const unsigned char* nonce,
                             std::initializer_list<std::string_view> associated_data,
                             std::initializer_list<std::string_view> plaintext, unsigned char* ciphertext,
                             unsigned char* tag) {
    auto context = aes_gcm_impl::start(true, key, nonce);
    for (const auto part : associated_data) aes_gcm_impl::update(context.get(), true, part, nullptr);
    std::size_t offset = 0;
    for (const auto part : plaintext) {
        aes_gcm_impl::update(context.get(), true, part, ciphertext + offset);
        offset += part.size();
    }
    int written = 0;
    if (EVP_EncryptFinal_ex(context.get(), ciphertext + offset, &written) != 1 || written != 0 ||
        EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(gcm_tag_size), tag) != 1)
        throw_crypto_failure("AES-256-GCM finalisation failed");
}

/// Decrypts `ciphertext` into `plaintext` (resized to the same length) and checks `tag` over it and
/// `associated_data`. Returns false when authentication fails — wrong key, wrong associated data or
/// tampered bytes — and `plaintext` is then wiped and emptied, so unauthenticated bytes never
/// escape. Throws multisession::error (backend_error) if OpenSSL itself fails.
inline bool aes_256_gcm_open(const unsigned char* key, const unsigned char* nonce,
                             std::initializer_list<std::string_view> associated_data, std::string_view ciphertext,
                             const unsigned char* tag, std::string& plaintext) {
    plaintext.assign(ciphertext.size(), '\0');
    bool authentic = false;
    struct wipe_unless_authentic {
        std::string& text;
        const bool& keep;
        ~wipe_unless_authentic() {
            if (!keep) {
                cleanse(text);
                text.clear();
            }
        }
    } guard{plaintext, authentic};

    auto context = aes_gcm_impl::start(false, key, nonce);
    for (const auto part : associated_data) aes_gcm_impl::update(context.get(), false, part, nullptr);
    aes_gcm_impl::update(context.get(), false, ciphertext, reinterpret_cast<unsigned char*>(plaintext.data()));
    // SET_TAG takes a non-const pointer although it only reads.
    std::array<unsigned char, gcm_tag_size> expected_tag{};
    std::copy(tag, tag + gcm_tag_size, expected_tag.begin());
    if (EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(gcm_tag_size),
                            expected_tag.data()) != 1)
        throw_crypto_failure("AES-256-GCM cannot take the tag");
    int written = 0;
    // For GCM the final step only compares tags: failure here means "not authentic".
    authentic = EVP_DecryptFinal_ex(context.get(), reinterpret_cast<unsigned char*>(plaintext.data()) +
                                                        plaintext.size(), &written) == 1 &&
                written == 0;
    if (!authentic) ERR_clear_error();
    return authentic;
}

} // namespace multisession::detail
