// The zeroing string for secrets (src/core/secret.hpp): memory it gives back holds no secret.
// This program replaces the global operator delete to look at every block before it is freed.
#include "core/secret.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view marker = "S3CR3T-T0K3N";
std::atomic<bool> watching{false};
std::atomic<int> freed_with_marker{0};

void inspect(const void* p, std::size_t n) {
    if (!watching || p == nullptr) return;
    const std::string_view block(static_cast<const char*>(p), n);
    if (block.find(marker) != std::string_view::npos) ++freed_with_marker;
}

/// Counts the blocks freed with the marker in them while `body` runs.
template <class F>
int freed_with_marker_during(F&& body) {
    freed_with_marker = 0;
    watching = true;
    body();
    watching = false;
    return freed_with_marker.load();
}

} // namespace

void* operator new(std::size_t n) {
    if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t n) noexcept {
    inspect(p, n);
    std::free(p);
}

using multisession::detail::secret_string;

TEST_CASE("the detector sees a secret in a freed ordinary string") {
    CHECK(freed_with_marker_during([] {
              std::string plain(std::string(100, 'x') + std::string(marker));
              plain += std::string(200, 'y'); // grows: the old buffer is freed with the marker in it
          }) > 0);
}

TEST_CASE("a secret string overwrites its heap buffers when it grows and when it dies") {
    // Built from views of static text, so no ordinary heap string ever holds the marker.
    static const std::string padding(300, 'x');
    static const std::string_view long_secret = padding;
    CHECK(freed_with_marker_during([] {
              secret_string s(long_secret.substr(0, 100));
              s += marker;
              s += long_secret; // grows: the old buffer is freed
              s.reserve(4096);  // and again
              secret_string copy = s;
              secret_string moved = std::move(copy);
              moved = secret_string(marker);
              moved += long_secret;
              secret_string assigned;
              assigned = s;
              assigned = std::move(moved);
          }) == 0);
}

TEST_CASE("a secret string overwrites its inline buffer when it dies") {
    alignas(secret_string) unsigned char storage[sizeof(secret_string)];
    auto* s = new (storage) secret_string("SHORT-K3Y"); // fits the inline buffer
    REQUIRE(s->view() == "SHORT-K3Y");
    s->~secret_string();
    const std::string_view bytes(reinterpret_cast<const char*>(storage), sizeof storage);
    // Emptying a string only writes its first byte: look for the rest.
    CHECK(bytes.find("ORT-K3Y") == std::string_view::npos);
}

TEST_CASE("a moved-from secret string keeps no copy") {
    alignas(secret_string) unsigned char storage[sizeof(secret_string)];
    auto* from = new (storage) secret_string("SHORT-K3Y");
    secret_string to(std::move(*from));
    CHECK(to == "SHORT-K3Y");
    const std::string_view bytes(reinterpret_cast<const char*>(storage), sizeof storage);
    // Emptying a string only writes its first byte: look for the rest.
    CHECK(bytes.find("ORT-K3Y") == std::string_view::npos);
    from->~secret_string();
}

TEST_CASE("secret strings compare and convert like strings") {
    const secret_string a("abc");
    CHECK(a == std::string("abc"));
    CHECK(a == std::string_view("abc"));
    CHECK(a == "abc");
    CHECK_FALSE(a == "abd");
    CHECK(a.str() == "abc");
    const std::string_view v = a;
    CHECK(v == "abc");
    CHECK(std::optional<secret_string>("x") == std::optional<secret_string>("x"));
}
