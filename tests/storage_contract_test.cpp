// The storage contract (include/multisession/storage.hpp), checked once for every backend and
// decorator stack in support/storage_fixtures.hpp.
#include "support/storage_fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <stdexcept>

using namespace multisession;
using namespace std::chrono_literals;
using multisession::test::manual_clock;

namespace {

std::set<std::string> key_set(storage& store, std::string_view prefix = {}) {
    std::set<std::string> out;
    store.for_each_key(prefix, [&](std::string_view key) {
        const bool fresh = out.emplace(key).second;
        CHECK_MESSAGE(fresh, "key visited twice");
    });
    return out;
}

std::string binary_value() {
    std::string value;
    for (int i = 0; i < 256; ++i) value += static_cast<char>(i);
    return value + std::string("\0\0end", 5);
}

storage_errc code_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const error& e) {
        if (e.code().category() == storage_category()) return static_cast<storage_errc>(e.code().value());
        FAIL("error of another category: " << e.code().category().name());
    }
    FAIL("no error was thrown");
    return {};
}

} // namespace

TEST_CASE_TEMPLATE("absent, empty and binary values", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();

    CHECK_FALSE(store->get("missing").has_value());

    store->set("empty", "");
    REQUIRE(store->get("empty").has_value());
    CHECK(store->get("empty")->empty());

    const std::string bytes = binary_value();
    store->set("binary", bytes);
    CHECK(store->get("binary") == bytes);

    const std::string big(1 << 20, 'v');
    store->set("big", big);
    CHECK(store->get("big") == big);
}

TEST_CASE_TEMPLATE("keys are byte strings with limits", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();

    const std::vector<std::string> keys = {
        std::string("nul\0inside", 10), "\xff\xfe\x80 not utf-8", "../../etc/passwd", "/", "with space",
        std::string(4096, 'k'),
    };
    for (std::size_t i = 0; i < keys.size(); ++i) store->set(keys[i], "value-" + std::to_string(i));
    for (std::size_t i = 0; i < keys.size(); ++i) CHECK(store->get(keys[i]) == "value-" + std::to_string(i));
    CHECK(key_set(*store) == std::set<std::string>(keys.begin(), keys.end()));

    CHECK(code_of([&] { store->set("", "x"); }) == storage_errc::invalid_key);
    CHECK(code_of([&] { (void)store->get(""); }) == storage_errc::invalid_key);
    CHECK(code_of([&] { store->set(std::string(storage::max_key_size + 1, 'k'), "x"); }) ==
          storage_errc::invalid_key);
}

TEST_CASE_TEMPLATE("overwrite and remove", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();

    store->set("k", "one");
    store->set("k", "two");
    CHECK(store->get("k") == "two");
    CHECK(store->remove("k"));
    CHECK_FALSE(store->get("k").has_value());
    CHECK_FALSE(store->remove("k"));
    CHECK(key_set(*store).empty());
}

TEST_CASE_TEMPLATE("prefix enumeration, including prefixes of each other and 0xFF bytes", F,
                   MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();

    const std::set<std::string> all = {"a", "ab", "abc", "abd", "b", "a\xff", "a\xff\xff", "a\xff\x01", "\xff", "\xff\xff"};
    for (const auto& key : all) store->set(key, "v:" + key);

    CHECK(key_set(*store) == all);
    CHECK(key_set(*store, "a") == std::set<std::string>{"a", "ab", "abc", "abd", "a\xff", "a\xff\xff", "a\xff\x01"});
    CHECK(key_set(*store, "ab") == std::set<std::string>{"ab", "abc", "abd"});
    CHECK(key_set(*store, "abc") == std::set<std::string>{"abc"});
    CHECK(key_set(*store, "abcd").empty());
    CHECK(key_set(*store, "a\xff") == std::set<std::string>{"a\xff", "a\xff\xff", "a\xff\x01"});
    CHECK(key_set(*store, "a\xff\xff") == std::set<std::string>{"a\xff\xff"});
    CHECK(key_set(*store, "\xff") == std::set<std::string>{"\xff", "\xff\xff"});
    CHECK(key_set(*store, "c").empty());

    std::map<std::string, std::string> seen;
    store->for_each("ab", [&](std::string_view key, std::string_view value) { seen.emplace(key, value); });
    CHECK(seen == std::map<std::string, std::string>{{"ab", "v:ab"}, {"abc", "v:abc"}, {"abd", "v:abd"}});

    CHECK(store->keys("ab") .size() == 3);
}

TEST_CASE_TEMPLATE("enumeration streams, stops early and lets the visitor write", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    for (int i = 0; i < 2000; ++i) store->set("item:" + std::to_string(i), std::to_string(i));

    int visited = 0;
    store->for_each_key("item:", [&](std::string_view) { return ++visited < 10; });
    CHECK(visited == 10);

    // Removing every visited key from inside the visitor must neither deadlock nor skip the keys
    // that were present throughout.
    std::set<std::string> removed;
    store->for_each("item:", [&](std::string_view key, std::string_view value) {
        CHECK(std::string(key) == "item:" + std::string(value));
        CHECK(store->remove(key));
        removed.emplace(key);
    });
    CHECK(removed.size() == 2000);
    CHECK(key_set(*store, "item:").empty());
}

TEST_CASE_TEMPLATE("a filtered enumeration visits exactly the live keys whose value is accepted", F,
                   MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    // More than a page of every backend, accepted and refused entries interleaved, so that pages
    // that end on a refused entry resume after it.
    std::set<std::string> wanted;
    for (int i = 0; i < 2000; ++i) {
        const std::string key = "item:" + std::to_string(i);
        const bool keep = i % 3 == 0;
        store->set(key, keep ? "keep " + std::to_string(i) : "drop");
        if (keep) wanted.emplace(key);
    }
    store->set("item:expired", "keep expired", fixture.clock.now() + 1s);
    store->set("other:0", "keep outside the prefix");
    fixture.clock.advance(1s);

    // The filter sees every live entry under the prefix with its (decrypted, unprefixed) value.
    std::size_t judged = 0;
    const value_filter keep = [&judged](std::string_view key, std::string_view value) {
        ++judged;
        CHECK(key.starts_with("item:"));
        if (!value.starts_with("keep ")) return false;
        CHECK(std::string(key.substr(5)) == std::string(value.substr(5)));
        return true;
    };
    std::set<std::string> seen;
    store->for_each_key_where("item:", keep, [&](std::string_view key) {
        CHECK_MESSAGE(seen.emplace(key).second, "key visited twice");
    });
    CHECK(judged == 2000);
    CHECK(seen == wanted);

    // Early stop, and a visitor that writes to the store.
    std::size_t visited = 0;
    store->for_each_key_where("item:", keep, [&](std::string_view) { return ++visited < 5; });
    CHECK(visited == 5);
    std::size_t removed = 0;
    store->for_each_key_where("item:", keep, [&](std::string_view key) {
        CHECK(store->remove(key));
        ++removed;
    });
    CHECK(removed == wanted.size());
    std::size_t left = 0;
    store->for_each_key_where("item:", keep, [&](std::string_view) { ++left; });
    CHECK(left == 0);
    CHECK(key_set(*store, "item:").size() == 2000 - wanted.size());
}

TEST_CASE_TEMPLATE("remove_prefix removes exactly the prefix and counts it", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    for (const char* key : {"s", "s:1", "s:2", "s:2:x", "sx", "t:1", "\xff", "\xff\xff"}) store->set(key, "v");

    CHECK(store->remove_prefix("s:2") == 2);
    CHECK(key_set(*store) == std::set<std::string>{"s", "s:1", "sx", "t:1", "\xff", "\xff\xff"});
    CHECK(store->remove_prefix("s:") == 1);
    CHECK(store->remove_prefix("s:") == 0);
    CHECK(store->remove_prefix("\xff") == 2);
    CHECK(key_set(*store) == std::set<std::string>{"s", "sx", "t:1"});
    CHECK(store->remove_prefix("") == 3);
    CHECK(key_set(*store).empty());
}

TEST_CASE_TEMPLATE("remove_prefixes removes every prefix once, counts the live entries and names the matched ones",
                   F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    manual_clock& clock = fixture.clock;
    for (const char* key : {"a:1", "a:2", "a:3", "ab", "b:1", "b:2", "c:1", "\xff", "\xff\xff"}) store->set(key, "v");
    store->set("a:2", "match me");
    store->set("b:2", "match me");
    store->set("c:1", "match me"); // not under any removed prefix
    store->set("a:dead", "match me", clock.now() + 1s);
    clock.advance(2s);

    const value_filter match = [](std::string_view, std::string_view value) { return value == "match me"; };
    // "a:" lies inside "a", and "\xff\xff" inside "\xff": each entry counts once.
    const std::array<std::string_view, 5> prefixes{"a", "b:", "a:", "\xff", "\xff\xff"};
    const auto removal = store->remove_prefixes(prefixes, match);
    CHECK(removal.removed == 8); // a:1 a:2 a:3 ab b:1 b:2 \xff \xff\xff; a:dead had expired
    CHECK(std::set<std::string>(removal.matched.begin(), removal.matched.end()) ==
          std::set<std::string>{"a:2", "b:2"});
    CHECK(removal.matched.size() == 2);
    CHECK(key_set(*store) == std::set<std::string>{"c:1"});

    // Without a filter nothing is named; nothing left to remove counts zero; no prefixes, no work.
    store->set("b:3", "match me");
    const std::array<std::string_view, 2> again{"b:", "a"};
    const auto second = store->remove_prefixes(again);
    CHECK(second.removed == 1);
    CHECK(second.matched.empty());
    CHECK(store->remove_prefixes(again, match).removed == 0);
    CHECK(store->remove_prefixes({}).removed == 0);
    CHECK(key_set(*store) == std::set<std::string>{"c:1"});

    // The empty prefix is everything.
    const std::array<std::string_view, 1> all{""};
    const auto everything = store->remove_prefixes(all, match);
    CHECK(everything.removed == 1);
    CHECK(everything.matched == std::vector<std::string>{"c:1"});
    CHECK(key_set(*store).empty());
}

TEST_CASE_TEMPLATE("remove_prefixes is all or nothing where the backend batches it: a failing filter removes nothing",
                   F, multisession::test::memory_fixture, multisession::test::sqlite_fixture,
                   multisession::test::prefixed_sqlite_fixture, multisession::test::encrypted_memory_fixture,
                   multisession::test::uri_sqlite_stack_fixture) {
    F fixture;
    auto store = fixture.open();
    for (int i = 0; i < 1500; ++i) store->set("r:" + std::to_string(i), std::to_string(i));
    for (int i = 0; i < 10; ++i) store->set("w:" + std::to_string(i), "w");

    // The filter fails on the second prefix, after the first has been looked at in full.
    const value_filter failing = [](std::string_view key, std::string_view) {
        if (key.starts_with("w:")) throw std::runtime_error("filter failed");
        return true;
    };
    const std::array<std::string_view, 2> prefixes{"r:", "w:"};
    CHECK_THROWS_AS(store->remove_prefixes(prefixes, failing), std::runtime_error);
    CHECK(key_set(*store, "r:").size() == 1500);
    CHECK(key_set(*store, "w:").size() == 10);
    CHECK(store->get("r:7") == "7");

    // The store is usable afterwards, and the same batch with a good filter removes it all.
    const auto removal =
        store->remove_prefixes(prefixes, [](std::string_view key, std::string_view) { return key.starts_with("w:"); });
    CHECK(removal.removed == 1510);
    CHECK(removal.matched.size() == 10);
    CHECK(key_set(*store).empty());
}

TEST_CASE_TEMPLATE("compare_and_set truth table", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    using std::nullopt;

    SUBCASE("absent key") {
        CHECK_FALSE(store->compare_and_set("k", "x", "y"));
        CHECK_FALSE(store->compare_and_set("k", "", "y")); // empty is a value, not absence
        CHECK_FALSE(store->get("k").has_value());
        CHECK(store->compare_and_set("k", nullopt, nullopt)); // absent stays absent
        CHECK_FALSE(store->get("k").has_value());
        CHECK(store->compare_and_set("k", nullopt, "created"));
        CHECK(store->get("k") == "created");
    }
    SUBCASE("present key") {
        store->set("k", "v");
        CHECK_FALSE(store->compare_and_set("k", nullopt, "w"));
        CHECK_FALSE(store->compare_and_set("k", nullopt, nullopt));
        CHECK_FALSE(store->compare_and_set("k", "other", "w"));
        CHECK_FALSE(store->compare_and_set("k", "", "w"));
        CHECK_FALSE(store->compare_and_set("k", std::string_view("v\0", 2), "w"));
        CHECK(store->get("k") == "v");
        CHECK(store->compare_and_set("k", "v", "w"));
        CHECK(store->get("k") == "w");
        CHECK(store->compare_and_set("k", "w", nullopt));
        CHECK_FALSE(store->get("k").has_value());
    }
    SUBCASE("empty value") {
        store->set("k", "");
        CHECK_FALSE(store->compare_and_set("k", nullopt, "w"));
        CHECK(store->compare_and_set("k", "", "w"));
        CHECK(store->get("k") == "w");
    }
    SUBCASE("binary values") {
        const std::string bytes = binary_value();
        store->set("k", bytes);
        CHECK_FALSE(store->compare_and_set("k", bytes.substr(0, bytes.size() - 1), "w"));
        CHECK(store->compare_and_set("k", bytes, "w"));
    }
}

TEST_CASE_TEMPLATE("expired entries are invisible everywhere", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    manual_clock& clock = fixture.clock;

    store->set("short", "1", clock.now() + 10s);
    store->set("long", "2", clock.now() + 1h);
    store->set("forever", "3");
    store->set("renewed", "4", clock.now() + 10s);
    store->set("renewed", "4"); // a set without expiry clears the old one
    CHECK(key_set(*store) == std::set<std::string>{"short", "long", "forever", "renewed"});

    clock.advance(9s);
    CHECK(store->get("short") == "1");

    clock.advance(1s); // expiry exactly now: expired
    CHECK_FALSE(store->get("short").has_value());
    CHECK(key_set(*store) == std::set<std::string>{"long", "forever", "renewed"});
    int with_values = 0;
    store->for_each("", [&](std::string_view key, std::string_view) {
        CHECK(key != "short");
        ++with_values;
    });
    CHECK(with_values == 3);
    CHECK_FALSE(store->remove("short"));

    SUBCASE("compare_and_set treats an expired entry as absent") {
        store->set("lease", "holder-a", clock.now() + 5s);
        CHECK_FALSE(store->compare_and_set("lease", std::nullopt, "holder-b", clock.now() + 5s));
        clock.advance(5s);
        CHECK_FALSE(store->compare_and_set("lease", "holder-a", "holder-c"));
        CHECK(store->compare_and_set("lease", std::nullopt, "holder-b", clock.now() + 5s));
        CHECK(store->get("lease") == "holder-b");
    }
    SUBCASE("remove_prefix does not count expired entries") {
        store->set("p:live", "x");
        store->set("p:dead", "x", clock.now() + 1s);
        clock.advance(2s);
        CHECK(store->remove_prefix("p:") == 1);
        CHECK(key_set(*store, "p:").empty());
    }
    SUBCASE("purge_expired deletes what expired and nothing else") {
        // remove() may or may not have deleted the expired "short" physically: start clean.
        const std::size_t earlier = store->purge_expired();
        CHECK(earlier <= 1);
        store->set("p:dead", "x", clock.now() + 1s);
        store->set("p:dead2", "x", clock.now() + 2s);
        clock.advance(2s);
        CHECK(store->purge_expired() == 2);
        CHECK(store->purge_expired() == 0);
        CHECK(key_set(*store) == std::set<std::string>{"long", "forever", "renewed"});
    }
    SUBCASE("an expiry already past hides the entry at once") {
        store->set("stillborn", "x", clock.now() - 1s);
        CHECK_FALSE(store->get("stillborn").has_value());
    }
}

TEST_CASE_TEMPLATE("a reopened store keeps values and expiries", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    {
        auto store = fixture.open();
        store->set("kept", binary_value());
        store->set("expiring", "x", fixture.clock.now() + 30s);
        store->set("gone", "x");
        store->remove("gone");
    }
    auto store = fixture.open();
    CHECK(store->get("kept") == binary_value());
    CHECK(store->get("expiring") == "x");
    CHECK_FALSE(store->get("gone").has_value());
    fixture.clock.advance(30s);
    CHECK_FALSE(store->get("expiring").has_value());
}

TEST_CASE_TEMPLATE("100k keys", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    constexpr int n = 100'000;
    for (int i = 0; i < n; ++i) store->set((i % 2 ? "odd:" : "even:") + std::to_string(i), std::to_string(i));

    std::size_t count = 0;
    std::size_t odd = 0;
    store->for_each_key("", [&](std::string_view key) {
        ++count;
        if (key.substr(0, 4) == "odd:") ++odd;
    });
    CHECK(count == n);
    CHECK(odd == n / 2);
    CHECK(store->get("odd:99999") == "99999");
    CHECK(store->get("even:0") == "0");
    CHECK(store->remove_prefix("odd:") == n / 2);
    CHECK(store->remove_prefix("") == n / 2);
    CHECK(key_set(*store).empty());
}

TEST_CASE("a prefixed view never sees or touches its neighbours") {
    auto base = make_memory_storage();
    base->set("tenant", "n");
    base->set("tenant-a", "n");
    base->set("tenant-a:x", "mine");
    base->set("tenant-ab:y", "n");
    base->set("tenant-b:x", "theirs");
    auto tenant = make_prefixed_storage(base, "tenant-a:");

    CHECK(tenant->get("x") == "mine");
    CHECK(tenant->keys() == std::vector<std::string>{"x"});
    tenant->set("z", "new");
    CHECK(base->get("tenant-a:z") == "new");
    CHECK(tenant->remove_prefix("") == 2);
    CHECK(base->keys() == std::vector<std::string>{"tenant", "tenant-a", "tenant-ab:y", "tenant-b:x"});

    base->set("tenant-a:s:1", "match me");
    base->set("tenant-a:s:2", "other");
    base->set("tenant-b:s:1", "match me");
    const std::array<std::string_view, 1> sessions{"s:"};
    const auto removal = tenant->remove_prefixes(
        sessions, [](std::string_view key, std::string_view value) { return key == "s:1" && value == "match me"; });
    CHECK(removal.removed == 2);
    CHECK(removal.matched == std::vector<std::string>{"s:1"});
    CHECK(base->keys() == std::vector<std::string>{"tenant", "tenant-a", "tenant-ab:y", "tenant-b:s:1", "tenant-b:x"});

    CHECK(code_of([&] { make_prefixed_storage(base, ""); }) == storage_errc::invalid_configuration);
    CHECK(code_of([&] { make_prefixed_storage(nullptr, "p:"); }) == storage_errc::invalid_configuration);
}

TEST_CASE_TEMPLATE("now() is the clock that decides expiry", F, MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    CHECK(store->now() == fixture.clock.now());
    fixture.clock.advance(90s);
    CHECK(store->now() == fixture.clock.now());
}

TEST_CASE_TEMPLATE("keys present throughout are visited exactly once while others are rewritten", F,
                   MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto store = fixture.open();
    constexpr int n = 2000;
    for (int i = 0; i < n; ++i) store->set("item:" + std::to_string(i), "first");

    std::multiset<std::string> seen;
    int step = 0;
    store->for_each_key("item:", [&](std::string_view key) {
        seen.emplace(key);
        // Rewrite a key far from this one: replaced entries must keep their single visit.
        store->set("item:" + std::to_string((step++ * 7919 + 1000) % n), "rewritten");
    });
    CHECK(seen.size() == n);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == n);
}
