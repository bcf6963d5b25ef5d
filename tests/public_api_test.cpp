// Built against the public dependency only (no private include path, no third-party headers):
// a user's view of the library.
#include <multisession/multisession.hpp>

#include <doctest/doctest.h>

TEST_CASE("the public headers alone give a working store") {
    auto store = multisession::make_memory_storage();
    store->set("solidClientAuthenticationUser:1", R"({"issuer":"https://issuer.example"})");
    CHECK(store->get("solidClientAuthenticationUser:1").value_or("") == R"({"issuer":"https://issuer.example"})");
    CHECK(store->keys("solidClientAuthenticationUser:").size() == 1);
    CHECK(store->remove_prefix("solidClientAuthenticationUser:") == 1);
    CHECK_FALSE(store->get("solidClientAuthenticationUser:1").has_value());
}

TEST_CASE("errors are multisession::error with a storage code") {
    auto store = multisession::make_memory_storage();
    try {
        store->set("", "x");
        FAIL("an empty key was accepted");
    } catch (const multisession::error& e) {
        CHECK(e.code() == multisession::storage_errc::invalid_key);
        CHECK(std::string(e.code().category().name()) == "multisession.storage");
    }
}
