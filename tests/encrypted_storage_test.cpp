// The encrypted decorator: what is stored underneath, what it refuses to open, key rotation, and
// its compare-and-set over ciphertexts that never repeat. The generic storage contract runs over
// it in storage_contract_test.cpp; this file covers what is particular to encryption.
#include <multisession/storage/encrypted.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/prefixed.hpp>

#include "support/manual_clock.hpp"

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <set>
#include <thread>
#include <utility>

using namespace multisession;
using namespace std::chrono_literals;
using multisession::test::manual_clock;

namespace {

const std::string secret = "refresh-token-SECRET-42";

encryption_key make_key(std::string id, char fill) { return {std::move(id), std::string(32, fill)}; }

encryption_options ring_of(std::vector<encryption_key> keys, std::string current) {
    return {std::move(keys), std::move(current)};
}

std::shared_ptr<storage> encrypted(std::shared_ptr<storage> inner, std::vector<encryption_key> keys,
                                   std::string current) {
    return make_encrypted_storage(std::move(inner), ring_of(std::move(keys), std::move(current)));
}

/// The key id of a raw envelope, read here by hand from the documented layout rather than by the
/// implementation's own parser, so a layout change cannot go unnoticed.
std::string envelope_key_id(std::string_view raw) {
    REQUIRE(raw.size() > 5);
    REQUIRE(raw.substr(0, 4) == "MSE1");
    const auto size = static_cast<unsigned char>(raw[4]);
    REQUIRE(raw.size() >= 5u + size);
    return std::string(raw.substr(5, size));
}

struct caught {
    std::error_code code;
    std::string what;
};

caught error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const error& e) {
        return {e.code(), e.what()};
    }
    FAIL("no multisession::error was thrown");
    return {};
}

std::string all_bytes() {
    std::string value;
    for (int i = 0; i < 256; ++i) value += static_cast<char>(i);
    return value + std::string("\0\0end", 5);
}

/// A store over memory that runs `before_cas` once, just before the next compare_and_set reaches
/// memory: a concurrent writer slipping in between a read and the swap, on demand.
class interfering_storage final : public storage {
public:
    explicit interfering_storage(std::shared_ptr<storage> inner) : inner_(std::move(inner)) {}
    std::function<void()> before_cas;
    int cas_calls = 0;

private:
    std::optional<std::string> do_get(std::string_view key, time_point) override { return inner_->get(key); }
    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        inner_->set(key, value, expires_at);
    }
    bool do_remove(std::string_view key, time_point) override { return inner_->remove(key); }
    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point) override {
        ++cas_calls;
        if (before_cas) std::exchange(before_cas, nullptr)();
        return inner_->compare_and_set(key, expected, desired, expires_at);
    }
    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point) override {
        inner_->for_each(prefix, [&](std::string_view key, std::string_view value) {
            return visit(key, with_values ? value : std::string_view());
        });
    }
    std::size_t do_remove_prefix(std::string_view prefix, time_point) override { return inner_->remove_prefix(prefix); }
    std::size_t do_purge_expired(time_point) override { return inner_->purge_expired(); }

    std::shared_ptr<storage> inner_;
};

} // namespace

TEST_CASE("values round-trip, including empty and binary ones") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");

    CHECK_FALSE(store->get("missing").has_value());
    store->set("token", secret);
    CHECK(store->get("token") == secret);
    store->set("empty", "");
    REQUIRE(store->get("empty").has_value());
    CHECK(store->get("empty")->empty());
    store->set("binary", all_bytes());
    CHECK(store->get("binary") == all_bytes());
    const std::string large(1 << 20, 'x');
    store->set("large", large);
    CHECK(store->get("large") == large);

    CHECK(store->remove("token"));
    CHECK_FALSE(store->remove("token"));
    CHECK_FALSE(store->get("token").has_value());
    CHECK_FALSE(inner->get("token").has_value());
}

TEST_CASE("the inner store holds an envelope, never the plaintext, and every seal is fresh") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");

    store->set("token", secret);
    const auto first = inner->get("token");
    REQUIRE(first.has_value());
    CHECK(first->find(secret) == std::string::npos);
    CHECK(first->find("SECRET") == std::string::npos);
    CHECK(envelope_key_id(*first) == "k1");
    // magic, id length, id, nonce, plaintext + 1 flags byte, tag
    CHECK(first->size() == 4 + 1 + 2 + 12 + secret.size() + 1 + 16);

    store->set("token", secret);
    const auto second = inner->get("token");
    REQUIRE(second.has_value());
    CHECK(*first != *second);
    // The nonces themselves differ, not just the ciphertexts.
    CHECK(first->substr(7, 12) != second->substr(7, 12));
    CHECK(store->get("token") == secret);
}

TEST_CASE("tampering with any part of the envelope is refused, naming the key and not the value") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    store->set("session:alice", secret);
    const std::string original = *inner->get("session:alice");
    const std::size_t nonce_at = 4 + 1 + 2;
    const std::size_t ciphertext_at = nonce_at + 12;
    const std::size_t tag_at = original.size() - 16;

    struct probe {
        const char* part;
        std::size_t at;
        storage_errc expected;
    };
    const probe probes[] = {
        {"magic", 0, storage_errc::corrupt_record},
        {"id length", 4, storage_errc::unknown_key_id}, // 2 -> 3: the id swallows a nonce byte
        {"key id", 5, storage_errc::unknown_key_id},
        {"nonce first byte", nonce_at, storage_errc::decryption_failed},
        {"nonce last byte", ciphertext_at - 1, storage_errc::decryption_failed},
        {"ciphertext first byte", ciphertext_at, storage_errc::decryption_failed},
        {"ciphertext last byte", tag_at - 1, storage_errc::decryption_failed},
        {"tag first byte", tag_at, storage_errc::decryption_failed},
        {"tag last byte", original.size() - 1, storage_errc::decryption_failed},
    };
    for (const auto& p : probes) {
        CAPTURE(p.part);
        std::string tampered = original;
        tampered[p.at] = static_cast<char>(tampered[p.at] ^ 0x01);
        inner->set("session:alice", tampered);
        const auto e = error_of([&] { (void)store->get("session:alice"); });
        CHECK(e.code == p.expected);
        CHECK(e.what.find("'session:alice'") != std::string::npos);
        CHECK(e.what.find(secret) == std::string::npos);
    }

    // Truncated, padded and garbage values are not envelopes.
    for (const std::string& bad : {std::string(), std::string("MSE1"), original.substr(0, 20),
                                  original.substr(0, 4 + 1 + 2 + 12 + 16), std::string("plain text value"),
                                  std::string("MSE1\0", 5) + std::string(40, 'x')}) {
        CAPTURE(bad.size());
        inner->set("session:alice", bad);
        CHECK(error_of([&] { (void)store->get("session:alice"); }).code == storage_errc::corrupt_record);
    }
    // A value whose length byte points past the end.
    inner->set("session:alice", std::string("MSE1\xff", 5) + std::string(100, 'k'));
    CHECK(error_of([&] { (void)store->get("session:alice"); }).code == storage_errc::corrupt_record);

    inner->set("session:alice", original);
    CHECK(store->get("session:alice") == secret);
}

TEST_CASE("a value moved under another key does not open") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    store->set("alice", "alice's token");
    store->set("bob", "bob's token");
    const std::string alice = *inner->get("alice");
    const std::string bob = *inner->get("bob");
    inner->set("alice", bob);
    inner->set("bob", alice);

    const auto e = error_of([&] { (void)store->get("alice"); });
    CHECK(e.code == storage_errc::decryption_failed);
    CHECK(e.what.find("'alice'") != std::string::npos);
    CHECK(e.what.find("token") == std::string::npos);
    CHECK(error_of([&] { (void)store->get("bob"); }).code == storage_errc::decryption_failed);
}

TEST_CASE("another key under the same id does not open, an unknown id is reported as such") {
    auto inner = make_memory_storage();
    auto writer = encrypted(inner, {make_key("k1", 'a')}, "k1");
    writer->set("token", secret);

    auto impostor = encrypted(inner, {make_key("k1", 'b')}, "k1");
    const auto wrong = error_of([&] { (void)impostor->get("token"); });
    CHECK(wrong.code == storage_errc::decryption_failed);
    CHECK(wrong.what.find(secret) == std::string::npos);

    auto stranger = encrypted(inner, {make_key("other", 'a')}, "other");
    const auto unknown = error_of([&] { (void)stranger->get("token"); });
    CHECK(unknown.code == storage_errc::unknown_key_id);
    CHECK(unknown.what.find("'token'") != std::string::npos);
    CHECK(unknown.what.find("'k1'") != std::string::npos);
}

TEST_CASE("the key id is authenticated: relabelling an envelope does not open it") {
    // Two ids for the same material, so only the authentication of the id itself can catch it.
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a'), make_key("k2", 'a')}, "k1");
    store->set("token", secret);
    std::string relabelled = *inner->get("token");
    REQUIRE(envelope_key_id(relabelled) == "k1");
    relabelled[6] = '2';
    inner->set("token", relabelled);
    CHECK(error_of([&] { (void)store->get("token"); }).code == storage_errc::decryption_failed);
}

TEST_CASE("rotation: old values still open, new ones use the current key, reencrypt rewrites the rest") {
    manual_clock clock;
    auto inner = make_memory_storage({clock.function()});
    auto old_store = encrypted(inner, {make_key("k1", '1')}, "k1");
    old_store->set("s:a", "value a");
    old_store->set("s:b", "");
    old_store->set("s:expiring", "value e", clock.now() + 1h);
    old_store->set("other:x", "value x");

    auto rotated = encrypted(inner, {make_key("k1", '1'), make_key("k2", '2')}, "k2");
    CHECK(rotated->now() == clock.now()); // the view keeps the inner store's clock
    CHECK(rotated->get("s:a") == "value a");
    rotated->set("s:new", "value n");
    CHECK(envelope_key_id(*inner->get("s:new")) == "k2");
    CHECK(envelope_key_id(*inner->get("s:a")) == "k1");

    CHECK(reencrypt(*rotated, "s:") == 3);
    for (const auto* key : {"s:a", "s:b", "s:expiring", "s:new"}) {
        CAPTURE(key);
        CHECK(envelope_key_id(*inner->get(key)) == "k2");
    }
    CHECK(envelope_key_id(*inner->get("other:x")) == "k1"); // outside the prefix
    CHECK(reencrypt(*rotated, "s:") == 0);
    CHECK(reencrypt(*rotated) == 1);
    CHECK(reencrypt(*rotated) == 0);

    auto retired = encrypted(inner, {make_key("k2", '2')}, "k2");
    CHECK(retired->get("s:a") == "value a");
    CHECK(retired->get("s:b") == "");
    CHECK(retired->get("s:expiring") == "value e");
    CHECK(retired->get("s:new") == "value n");
    CHECK(retired->get("other:x") == "value x");

    // The rewrite kept the expiry: the entry still disappears when it was meant to, and the others stay.
    clock.advance(2h);
    CHECK_FALSE(retired->get("s:expiring").has_value());
    CHECK(retired->get("s:a") == "value a");
}

TEST_CASE("reencrypt leaves alone what a concurrent writer changed, and reports unreadable entries") {
    auto memory = make_memory_storage();
    auto inner = std::make_shared<interfering_storage>(memory);
    auto old_store = encrypted(inner, {make_key("k1", '1')}, "k1");
    old_store->set("raced", "old");
    old_store->set("bad", "x");
    memory->set("bad", "not an envelope");

    auto rotated = encrypted(inner, {make_key("k1", '1'), make_key("k2", '2')}, "k2");
    std::vector<std::error_code> reported;
    rotated->set_error_handler([&](const error& e) { reported.push_back(e.code()); });
    // Another writer (with the old key, so the result is still stale) replaces the value between
    // reencrypt's read and its swap.
    inner->before_cas = [&] { old_store->set("raced", "newer"); };

    CHECK(reencrypt(*rotated) == 0);
    CHECK(rotated->get("raced") == "newer");
    CHECK(envelope_key_id(*memory->get("raced")) == "k1");
    REQUIRE(reported.size() == 1);
    CHECK(reported[0] == storage_errc::corrupt_record);
    CHECK(memory->get("bad") == "not an envelope");

    CHECK(reencrypt(*rotated) == 1);
    CHECK(envelope_key_id(*memory->get("raced")) == "k2");
}

TEST_CASE("reencrypt needs an encrypted store") {
    auto memory = make_memory_storage();
    CHECK(error_of([&] { reencrypt(*memory); }).code == storage_errc::invalid_configuration);
    auto view = make_prefixed_storage(encrypted(memory, {make_key("k1", '1')}, "k1"), "t:");
    CHECK(error_of([&] { reencrypt(*view); }).code == storage_errc::invalid_configuration);
}

TEST_CASE("compare_and_set compares plaintexts: the full truth table") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    const std::optional<std::string_view> absent;

    SUBCASE("absent, expecting absent, desired value: swaps") {
        CHECK(store->compare_and_set("k", absent, "v"));
        CHECK(store->get("k") == "v");
        CHECK(envelope_key_id(*inner->get("k")) == "k1");
    }
    SUBCASE("absent, expecting absent, desired nullopt: succeeds, stays absent") {
        CHECK(store->compare_and_set("k", absent, absent));
        CHECK_FALSE(store->get("k").has_value());
    }
    SUBCASE("absent, expecting a value: fails") {
        CHECK_FALSE(store->compare_and_set("k", "v", "w"));
        CHECK_FALSE(store->compare_and_set("k", "v", absent));
        CHECK_FALSE(store->get("k").has_value());
    }
    SUBCASE("present, expecting absent: fails") {
        store->set("k", "v");
        CHECK_FALSE(store->compare_and_set("k", absent, "w"));
        CHECK_FALSE(store->compare_and_set("k", absent, absent));
        CHECK(store->get("k") == "v");
    }
    SUBCASE("present, expecting the same plaintext (a different ciphertext), desired value: swaps") {
        store->set("k", "v");
        CHECK(store->compare_and_set("k", "v", "w"));
        CHECK(store->get("k") == "w");
    }
    SUBCASE("present, expecting the same plaintext, desired nullopt: removes") {
        store->set("k", "v");
        CHECK(store->compare_and_set("k", "v", absent));
        CHECK_FALSE(store->get("k").has_value());
        CHECK_FALSE(inner->get("k").has_value());
    }
    SUBCASE("present, expecting another plaintext: fails either way") {
        store->set("k", "v");
        CHECK_FALSE(store->compare_and_set("k", "x", "w"));
        CHECK_FALSE(store->compare_and_set("k", "x", absent));
        CHECK_FALSE(store->compare_and_set("k", "", "w"));
        CHECK(store->get("k") == "v");
    }
    SUBCASE("empty is a value, not absence") {
        store->set("k", "");
        CHECK_FALSE(store->compare_and_set("k", absent, "w"));
        CHECK(store->compare_and_set("k", "", "w"));
        CHECK(store->get("k") == "w");
    }
    SUBCASE("an undecryptable current value throws instead of comparing") {
        inner->set("k", "garbage");
        CHECK(error_of([&] { store->compare_and_set("k", "v", "w"); }).code == storage_errc::corrupt_record);
        CHECK(inner->get("k") == "garbage");
    }
}

TEST_CASE("compare_and_set passes the expiry through") {
    manual_clock clock;
    auto inner = make_memory_storage({clock.function()});
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    CHECK(store->compare_and_set("lease", std::nullopt, "me", clock.now() + 10s));
    clock.advance(11s);
    CHECK_FALSE(store->get("lease").has_value());
    CHECK(store->compare_and_set("lease", std::nullopt, "you"));
}

TEST_CASE("compare_and_set retries when the ciphertext changed but the plaintext still matches") {
    auto memory = make_memory_storage();
    auto inner = std::make_shared<interfering_storage>(memory);
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    store->set("k", "v");

    SUBCASE("rewritten with the same plaintext: the retry swaps") {
        inner->before_cas = [&] { store->set("k", "v"); };
        CHECK(store->compare_and_set("k", "v", "w"));
        CHECK(inner->cas_calls == 2);
        CHECK(store->get("k") == "w");
    }
    SUBCASE("rewritten with another plaintext: the retry sees the mismatch") {
        inner->before_cas = [&] { store->set("k", "other"); };
        CHECK_FALSE(store->compare_and_set("k", "v", "w"));
        CHECK(inner->cas_calls == 1);
        CHECK(store->get("k") == "other");
    }
    SUBCASE("removed meanwhile: the retry sees absence") {
        inner->before_cas = [&] { store->remove("k"); };
        CHECK_FALSE(store->compare_and_set("k", "v", "w"));
        CHECK_FALSE(store->get("k").has_value());
    }
}

TEST_CASE("compare_and_set through the decorator is a correct counter under contention") {
    auto store = encrypted(make_memory_storage(), {make_key("k1", 'a')}, "k1");
    store->set("counter", "0");
    constexpr int threads = 4;
    constexpr int increments = 150;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&] {
            for (int i = 0; i < increments; ++i) {
                for (;;) {
                    const std::string seen = store->get("counter").value();
                    if (store->compare_and_set("counter", seen, std::to_string(std::stoi(seen) + 1))) break;
                }
            }
        });
    }
    for (auto& w : workers) w.join();
    CHECK(store->get("counter") == std::to_string(threads * increments));
}

TEST_CASE("enumeration skips an entry that does not open and reports it") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    store->set("s:a", "value a");
    store->set("s:b", "value b");
    store->set("s:c", "value c");
    inner->set("s:b", *inner->get("s:a")); // sealed for another key name

    std::vector<std::string> messages;
    std::vector<std::error_code> codes;
    store->set_error_handler([&](const error& e) {
        codes.push_back(e.code());
        messages.emplace_back(e.what());
    });

    std::vector<std::pair<std::string, std::string>> seen;
    store->for_each("s:", [&](std::string_view key, std::string_view value) { seen.emplace_back(key, value); });
    CHECK(seen == std::vector<std::pair<std::string, std::string>>{{"s:a", "value a"}, {"s:c", "value c"}});
    REQUIRE(codes.size() == 1);
    CHECK(codes[0] == storage_errc::decryption_failed);
    CHECK(messages[0].find("'s:b'") != std::string::npos);
    CHECK(messages[0].find("value a") == std::string::npos);

    // Keys alone need no decryption: the damaged entry is listed and nothing is reported.
    CHECK(store->keys("s:") == std::vector<std::string>{"s:a", "s:b", "s:c"});
    CHECK(codes.size() == 1);

    // Stopping early still works through the decorator.
    int visited = 0;
    store->for_each("s:", [&](std::string_view, std::string_view) { return ++visited < 1; });
    CHECK(visited == 1);
}

TEST_CASE("remove_prefix and purge_expired reach the inner store") {
    manual_clock clock;
    auto inner = make_memory_storage({clock.function()});
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    store->set("a:1", "x");
    store->set("a:2", "y", clock.now() + 1s);
    store->set("b:1", "z");
    clock.advance(2s);
    CHECK_FALSE(store->get("a:2").has_value());
    CHECK(store->purge_expired() == 1);
    CHECK(store->remove_prefix("a:") == 1);
    CHECK(inner->keys() == std::vector<std::string>{"b:1"});
}

TEST_CASE("remove_prefixes matches on opened values, removes an entry that does not open and reports it after") {
    auto inner = make_memory_storage();
    auto store = encrypted(inner, {make_key("k1", 'a')}, "k1");
    store->set("s:a", "wanted");
    store->set("s:b", "wanted");
    store->set("s:c", "other");
    store->set("t:1", "wanted");
    store->set("u:1", "kept");
    inner->set("s:b", *inner->get("s:a")); // sealed for another key name

    std::vector<std::error_code> codes;
    std::vector<std::string> messages;
    store->set_error_handler([&](const error& e) {
        codes.push_back(e.code());
        messages.emplace_back(e.what());
        // The handler runs after the batch: the store is free to use again.
        CHECK(store->get("u:1") == "kept");
    });
    const std::array<std::string_view, 2> prefixes{"s:", "t:"};
    const auto removal =
        store->remove_prefixes(prefixes, [](std::string_view, std::string_view value) { return value == "wanted"; });
    CHECK(removal.removed == 4);
    CHECK(removal.matched == std::vector<std::string>{"s:a", "t:1"});
    REQUIRE(codes.size() == 1);
    CHECK(codes[0] == storage_errc::decryption_failed);
    CHECK(messages[0].find("'s:b'") != std::string::npos);
    CHECK(messages[0].find("wanted") == std::string::npos);
    CHECK(inner->keys() == std::vector<std::string>{"u:1"});
}

TEST_CASE("the decorator composes with the prefixed one in either order") {
    auto memory = make_memory_storage();
    auto tenant = make_prefixed_storage(encrypted(memory, {make_key("k1", 'a')}, "k1"), "t:");
    tenant->set("x", secret);
    CHECK(tenant->get("x") == secret);
    CHECK(memory->get("t:x")->find(secret) == std::string::npos);

    auto sealed_tenant = encrypted(make_prefixed_storage(memory, "u:"), {make_key("k1", 'a')}, "k1");
    sealed_tenant->set("x", secret);
    CHECK(sealed_tenant->get("x") == secret);
    CHECK(memory->get("u:x")->find(secret) == std::string::npos);
}

TEST_CASE("a bad key ring is refused without echoing key material") {
    auto inner = make_memory_storage();
    const std::string material(32, 'K');
    const auto code_of = [&](std::shared_ptr<storage> in, encryption_options options) {
        const auto e = error_of([&] { (void)make_encrypted_storage(std::move(in), std::move(options)); });
        CHECK(e.what.find("KKKKKKKK") == std::string::npos);
        return e.code;
    };
    const auto invalid = make_error_code(storage_errc::invalid_configuration);

    CHECK(code_of(nullptr, ring_of({{"k", material}}, "k")) == invalid);
    CHECK(code_of(inner, ring_of({}, "k")) == invalid);
    CHECK(code_of(inner, ring_of({{"k", material.substr(0, 31)}}, "k")) == invalid);
    CHECK(code_of(inner, ring_of({{"k", material + "K"}}, "k")) == invalid);
    CHECK(code_of(inner, ring_of({{"k", ""}}, "k")) == invalid);
    CHECK(code_of(inner, ring_of({{"", material}}, "")) == invalid);
    CHECK(code_of(inner, ring_of({{std::string(256, 'i'), material}}, std::string(256, 'i'))) == invalid);
    CHECK(code_of(inner, ring_of({{"k", material}, {"k", material}}, "k")) == invalid);
    CHECK(code_of(inner, ring_of({{"k", material}}, "missing")) == invalid);
    CHECK(code_of(inner, ring_of({{"k", material}}, "")) == invalid);

    // The limits themselves are accepted.
    const std::string longest_id(255, 'i');
    auto store = make_encrypted_storage(inner, ring_of({{longest_id, material}, {"k", material}}, longest_id));
    store->set("x", "y");
    CHECK(envelope_key_id(*inner->get("x")) == longest_id);
    CHECK(store->get("x") == "y");
}

TEST_CASE("generate_encryption_key gives 32 fresh random bytes that work as a key") {
    const std::string a = generate_encryption_key();
    const std::string b = generate_encryption_key();
    CHECK(a.size() == 32);
    CHECK(b.size() == 32);
    CHECK(a != b);
    CHECK(a != std::string(32, '\0'));
    auto store = encrypted(make_memory_storage(), {{"generated", a}}, "generated");
    store->set("x", secret);
    CHECK(store->get("x") == secret);
}
