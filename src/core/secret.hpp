// A string type for secrets (refresh and access tokens, client secrets, private keys): memory it
// gives back is overwritten first. Used for the secrets the library holds on to (session records,
// token sets, client credentials), so a freed buffer or a core dump holds fewer copies of them.
// Copies made to cross an API boundary (a JSON document, an HTTP body) are ordinary strings and
// are not covered; those live for one request.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace multisession::detail {

/// std::allocator that overwrites each block (OPENSSL_cleanse, which the optimiser keeps) before
/// freeing it: a string's old buffer when it grows, its buffer when it dies.
template <class T>
struct zeroing_allocator {
    using value_type = T;

    zeroing_allocator() noexcept = default;
    template <class U>
    zeroing_allocator(const zeroing_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) { return std::allocator<T>{}.allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept {
        OPENSSL_cleanse(p, n * sizeof(T));
        std::allocator<T>{}.deallocate(p, n);
    }

    friend bool operator==(const zeroing_allocator&, const zeroing_allocator&) noexcept { return true; }
};

using secret_string_base = std::basic_string<char, std::char_traits<char>, zeroing_allocator<char>>;

/// A std::basic_string whose heap buffers are overwritten when released, and whose inline buffer
/// (short strings live inside the object) is overwritten when it is destroyed. Converts to and
/// from std::string_view; compares with anything string-like.
class secret_string : public secret_string_base {
public:
    secret_string() noexcept = default;
    secret_string(std::string_view text) : secret_string_base(text.data(), text.size()) {}
    secret_string(const std::string& text) : secret_string_base(text.data(), text.size()) {}
    secret_string(const char* text) : secret_string_base(text) {}
    secret_string(const secret_string&) = default;
    secret_string(secret_string&& other) noexcept : secret_string_base(std::move(other)) { other.wipe(); }
    secret_string& operator=(const secret_string&) = default;
    secret_string& operator=(secret_string&& other) noexcept {
        secret_string_base::operator=(std::move(other));
        other.wipe();
        return *this;
    }
    ~secret_string() { wipe(); }

    /// An ordinary copy, for an API that takes std::string. The copy is not covered; the library
    /// spells it .str() where it makes one, and the implicit form serves tests and call sites that
    /// already hold ordinary strings.
    [[nodiscard]] std::string str() const { return std::string(data(), size()); }
    operator std::string() const { return str(); }
    [[nodiscard]] std::string_view view() const noexcept { return {data(), size()}; }

    friend bool operator==(const secret_string& a, const secret_string& b) noexcept { return a.view() == b.view(); }
    friend bool operator==(const secret_string& a, std::string_view b) noexcept { return a.view() == b; }
    friend bool operator==(const secret_string& a, const std::string& b) noexcept { return a.view() == b; }
    friend bool operator==(const secret_string& a, const char* b) noexcept { return a.view() == b; }

private:
    /// Overwrites the whole buffer (unused capacity included), then empties the string.
    void wipe() noexcept {
        OPENSSL_cleanse(data(), capacity());
        clear();
    }
};

} // namespace multisession::detail
