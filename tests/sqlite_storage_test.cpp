// What is particular to the SQLite backend: its file (mode, WAL, schema, identity), key ranges with
// 0xFF bytes, persistence of expiry, and SQLITE_BUSY. The generic behaviour of every backend is in
// the shared contract suite.
#include <multisession/storage/sqlite.hpp>

#include "storage/sqlite_key_range.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using multisession::error;
using multisession::storage_errc;
using multisession::test::manual_clock;
using multisession::test::temp_dir;

namespace {

/// A plain SQLite connection on the same file, to look at it from outside the store.
class raw_db {
public:
    explicit raw_db(const std::filesystem::path& file) {
        if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
            sqlite3_close_v2(db_);
            throw std::runtime_error("cannot open " + file.string());
        }
    }
    ~raw_db() { sqlite3_close_v2(db_); }
    raw_db(const raw_db&) = delete;
    raw_db& operator=(const raw_db&) = delete;

    void exec(const std::string& sql) {
        char* message = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
            std::string text = message ? message : "?";
            sqlite3_free(message);
            throw std::runtime_error(sql + ": " + text);
        }
    }

    /// Every row of `sql`, each column rendered as text and joined with '|'.
    std::vector<std::string> rows(const std::string& sql) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
            throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
        std::vector<std::string> out;
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            std::string row;
            for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
                if (i) row += '|';
                const auto* text = sqlite3_column_text(stmt, i);
                if (text) row += reinterpret_cast<const char*>(text);
            }
            out.push_back(row);
        }
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
        return out;
    }

    std::string one(const std::string& sql) {
        auto all = rows(sql);
        return all.empty() ? std::string("<no row>") : all.front();
    }

private:
    sqlite3* db_ = nullptr;
};

multisession::sqlite_storage_options fast_options(const manual_clock& clock) {
    multisession::sqlite_storage_options options;
    options.clock = clock.function();
    options.synchronous = multisession::sqlite_synchronous::normal;
    return options;
}

template <class F>
error caught(F&& f) {
    try {
        f();
    } catch (const error& e) {
        return e;
    }
    FAIL("expected multisession::error");
    return error(storage_errc::backend_error, "unreachable");
}

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

} // namespace

TEST_CASE("sqlite: quick sanity of the basic operations") {
    temp_dir dir;
    manual_clock clock;
    auto store = multisession::make_sqlite_storage(dir / "s.db", fast_options(clock));

    const std::string binary_key("k\0\xff", 3);
    store->set(binary_key, std::string("v\0w", 3));
    store->set("empty", "");
    CHECK(store->get(binary_key) == std::string("v\0w", 3));
    CHECK(store->get("empty") == std::string());
    CHECK_FALSE(store->get("missing"));

    CHECK(store->compare_and_set("empty", std::string_view(""), std::string_view("x")));
    CHECK_FALSE(store->compare_and_set("empty", std::string_view(""), std::string_view("y")));
    CHECK(store->compare_and_set("new", std::nullopt, std::string_view("1")));
    CHECK_FALSE(store->compare_and_set("new", std::nullopt, std::string_view("2")));
    CHECK(store->compare_and_set("new", std::string_view("1"), std::nullopt));
    CHECK_FALSE(store->get("new"));

    store->set("ttl", "t", clock.now() + 10ms);
    CHECK(store->get("ttl") == "t");
    clock.advance(10ms);
    CHECK_FALSE(store->get("ttl")); // expiry at exactly now is expired
    CHECK(store->compare_and_set("ttl", std::nullopt, std::string_view("again")));
    CHECK(store->get("ttl") == "again");

    store->set("gone", "g", clock.now() + 1ms);
    clock.advance(5ms);
    CHECK_FALSE(store->remove("gone")); // an expired row is deleted but not counted
    CHECK(store->remove("empty"));
    CHECK_FALSE(store->remove("empty"));
    store->set("later", "l", clock.now() + 1h); // a live row with an expiry counts as removed
    CHECK(store->remove("later"));

    CHECK(sorted(store->keys()) == sorted({binary_key, "ttl"}));
}

TEST_CASE("sqlite: the file is in WAL mode, carries our schema and its expiry index") {
    temp_dir dir;
    manual_clock clock;
    auto store = multisession::make_sqlite_storage(dir / "s.db", fast_options(clock));
    store->set("a", "1");

    raw_db raw(dir / "s.db");
    CHECK(raw.one("PRAGMA journal_mode") == "wal");
    CHECK(raw.one("PRAGMA user_version") == "1");
    CHECK(raw.one("PRAGMA application_id") == std::to_string(0x4d534b56));

    const auto table = raw.one("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'multisession_kv'");
    CHECK(table.find("WITHOUT ROWID") != std::string::npos);
    const auto index = raw.one("SELECT tbl_name || ':' || sql FROM sqlite_master WHERE type = 'index' "
                               "AND name = 'multisession_kv_expiry'");
    CHECK(index.rfind("multisession_kv:", 0) == 0);
    CHECK(index.find("(expires_at)") != std::string::npos);
    CHECK(index.find("WHERE expires_at IS NOT NULL") != std::string::npos);

    // The purge statement's shape must be able to use the partial index (not scan the table).
    std::string plan;
    for (const auto& row : raw.rows("EXPLAIN QUERY PLAN DELETE FROM multisession_kv WHERE expires_at <= 5")) plan += row;
    CHECK(plan.find("multisession_kv_expiry") != std::string::npos);
}

TEST_CASE("sqlite: the database and its WAL are created with mode 0600 whatever the umask") {
    temp_dir dir;
    manual_clock clock;
    const mode_t old_umask = ::umask(0);
    std::shared_ptr<multisession::storage> store;
    try {
        store = multisession::make_sqlite_storage(dir / "private.db", fast_options(clock));
        store->set("a", "1");
    } catch (...) {
        ::umask(old_umask);
        throw;
    }
    ::umask(old_umask);

    struct stat info {};
    REQUIRE(::stat((dir / "private.db").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    REQUIRE(::stat((dir / "private.db-wal").c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
}

TEST_CASE("sqlite: a file that is not a SQLite database is refused with its name") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "garbage.db";
    {
        std::ofstream out(file, std::ios::binary);
        for (int i = 0; i < 512; ++i) out << "this is not a database, just some text. ";
    }
    const error e = caught([&] { multisession::make_sqlite_storage(file, fast_options(clock)); });
    CHECK(e.code() == storage_errc::corrupt_record);
    CHECK(std::string(e.what()).find(file.string()) != std::string::npos);
}

TEST_CASE("sqlite: a database with another schema is refused and left untouched") {
    // Decision: the store never shares a file with other tables. The file holds credentials and its
    // application_id/user_version header fields would be claimed by two owners.
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "other.db";
    {
        raw_db raw(file);
        raw.exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'x')");
    }
    const error e = caught([&] { multisession::make_sqlite_storage(file, fast_options(clock)); });
    CHECK(e.code() == storage_errc::corrupt_record);
    const std::string what = e.what();
    CHECK(what.find(file.string()) != std::string::npos);
    CHECK(what.find("not a multisession store") != std::string::npos);

    raw_db raw(file);
    CHECK(raw.one("SELECT count(*) FROM sqlite_master WHERE name LIKE 'multisession%'") == "0");
    CHECK(raw.one("SELECT name FROM customers") == "x");
}

TEST_CASE("sqlite: a schema version newer than ours is refused") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "s.db";
    multisession::make_sqlite_storage(file, fast_options(clock))->set("a", "1");
    raw_db(file).exec("PRAGMA user_version = 7");
    const error e = caught([&] { multisession::make_sqlite_storage(file, fast_options(clock)); });
    CHECK(e.code() == storage_errc::backend_error);
    CHECK(std::string(e.what()).find("schema version 7") != std::string::npos);
}

TEST_CASE("sqlite: an empty existing file is adopted; bad options are refused") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "empty.db";
    std::ofstream(file).close();
    auto store = multisession::make_sqlite_storage(file, fast_options(clock));
    store->set("a", "1");
    CHECK(store->get("a") == "1");

    auto options = fast_options(clock);
    options.max_connections = 0;
    CHECK(caught([&] { multisession::make_sqlite_storage(dir / "x.db", options); }).code() ==
          storage_errc::invalid_configuration);
    CHECK(caught([&] { multisession::make_sqlite_storage(dir / "no-such-dir" / "x.db", fast_options(clock)); })
              .code() == storage_errc::io_error);
}

TEST_CASE("sqlite: a new file gets the configured page size; an existing file keeps its own") {
    temp_dir dir;
    manual_clock clock;
    // The default, in a new file.
    multisession::make_sqlite_storage(dir / "default.db", fast_options(clock))->set("a", "1");
    CHECK(raw_db(dir / "default.db").one("PRAGMA page_size") ==
          std::to_string(multisession::sqlite_storage_options{}.page_size));

    auto options = fast_options(clock);
    options.page_size = 4096;
    {
        auto store = multisession::make_sqlite_storage(dir / "small.db", options);
        store->set("a", std::string(10000, 'x')); // spans pages
    }
    CHECK(raw_db(dir / "small.db").one("PRAGMA page_size") == "4096");

    // Reopened with another page size: the file is not rewritten, its data is all there.
    options.page_size = 32768;
    {
        auto store = multisession::make_sqlite_storage(dir / "small.db", options);
        CHECK(store->get("a") == std::string(10000, 'x'));
        store->set("b", "2");
    }
    CHECK(raw_db(dir / "small.db").one("PRAGMA page_size") == "4096");

    for (const std::size_t bad : {std::size_t{0}, std::size_t{256}, std::size_t{3000}, std::size_t{131072}}) {
        options.page_size = bad;
        const auto e = caught([&] { multisession::make_sqlite_storage(dir / "bad.db", options); });
        CHECK(e.code() == storage_errc::invalid_configuration);
        CHECK(std::string(e.what()).find("page_size") != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(dir / "bad.db"));
}

TEST_CASE("sqlite: prefix upper bounds") {
    using multisession::detail::prefix_upper_bound;
    CHECK_FALSE(prefix_upper_bound(""));
    CHECK_FALSE(prefix_upper_bound("\xff"));
    CHECK_FALSE(prefix_upper_bound("\xff\xff"));
    CHECK(prefix_upper_bound("a") == "b");
    CHECK(prefix_upper_bound("a\xff") == "b");
    CHECK(prefix_upper_bound("a\xff\xff") == "b");
    CHECK(prefix_upper_bound("ab\xff") == "ac");
    CHECK(prefix_upper_bound(std::string("a\0", 2)) == std::string("a\x01", 2));
    CHECK(prefix_upper_bound("\xfe") == "\xff");
    CHECK(prefix_upper_bound("a\xfe\xff") == "a\xff");
}

TEST_CASE("sqlite: prefixes with 0xFF bytes enumerate and remove exactly their keys") {
    using namespace std::string_literals;
    // Keys around every boundary a wrong upper bound would cross: 0xFF runs, a following 0x00,
    // the next byte value, and keys shorter and longer than the prefixes.
    const std::vector<std::string> all = {
        "a"s, "a\x01"s, "a\xfe"s, "a\xfe\xff"s, "a\xff"s, "a\xff\0"s, "a\xff\x01"s, "a\xff\xfe"s, "a\xff\xff"s,
        "a\xff\xff\0"s, "a\xff\xff\xff"s, "a\xff\xff\xff\xff"s, "b"s, "b\0"s, "\xfe"s, "\xfe\xff"s, "\xff"s,
        "\xff\0"s, "\xff\xff"s, "\xff\xff\xff"s, "\0"s, "\0\xff"s,
    };
    const std::vector<std::string> prefixes = {
        ""s, "\xff"s, "a\xff"s, "a\xff\xff"s, "a"s, "a\xfe"s, "\xfe"s, "\xff\xff"s, "a\xff\xff\xff\xff"s, "\0"s, "b"s,
        "c"s,
    };
    auto starts_with = [](const std::string& key, const std::string& prefix) { return key.rfind(prefix, 0) == 0; };

    temp_dir dir;
    manual_clock clock;
    auto store = multisession::make_sqlite_storage(dir / "s.db", fast_options(clock));
    for (const auto& key : all) store->set(key, "v:" + key);

    for (const auto& prefix : prefixes) {
        CAPTURE(prefix);
        std::vector<std::string> expected;
        for (const auto& key : all)
            if (starts_with(key, prefix)) expected.push_back(key);
        std::sort(expected.begin(), expected.end()); // std::string compares bytes as unsigned char
        CHECK(store->keys(prefix) == expected);      // sqlite enumerates in byte order
        std::vector<std::string> values;
        store->for_each(prefix, [&](std::string_view key, std::string_view value) {
            CHECK(value == "v:" + std::string(key));
            values.emplace_back(key);
        });
        CHECK(values == expected);
    }

    for (const auto& prefix : prefixes) {
        if (prefix.empty()) continue;
        CAPTURE(prefix);
        for (const auto& key : all) store->set(key, "v:" + key);
        std::size_t expected = 0;
        for (const auto& key : all) expected += starts_with(key, prefix) ? 1 : 0;
        CHECK(store->remove_prefix(prefix) == expected);
        for (const auto& key : all) CHECK(store->get(key).has_value() == !starts_with(key, prefix));
    }
    for (const auto& key : all) store->set(key, "v:" + key);
    CHECK(store->remove_prefix("") == all.size());
    CHECK(store->keys().empty());
}

TEST_CASE("sqlite: remove_prefix and purge_expired count live and expired rows apart") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "s.db";
    auto store = multisession::make_sqlite_storage(file, fast_options(clock));
    for (int i = 0; i < 10; ++i) store->set("p:" + std::to_string(i), "v", clock.now() + std::chrono::milliseconds(i + 1));
    store->set("p:forever", "v");
    store->set("q:1", "v", clock.now() + 1ms);
    store->set("q:2", "v");
    clock.advance(5ms); // p:0..p:4 and q:1 have expired

    CHECK(store->remove_prefix("p:") == 6); // p:5..p:9 and p:forever
    raw_db raw(file);
    CHECK(raw.one("SELECT count(*) FROM multisession_kv WHERE key >= CAST('p:' AS BLOB) AND key < CAST('p;' AS BLOB)") ==
          "0"); // the expired ones went too
    CHECK(raw.one("SELECT count(*) FROM multisession_kv") == "2");

    CHECK(store->purge_expired() == 1); // q:1
    CHECK(store->purge_expired() == 0);
    CHECK(store->keys() == std::vector<std::string>{"q:2"});

    store->set("r", "v", clock.now() + 1ms);
    store->set("s", "v");
    clock.advance(1ms);
    CHECK(store->remove_prefix("") == 2); // q:2 and s, not the expired r
    CHECK(raw.one("SELECT count(*) FROM multisession_kv") == "0");
}

TEST_CASE("sqlite: reopening keeps data and expiry") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "s.db";
    {
        auto store = multisession::make_sqlite_storage(file, fast_options(clock));
        store->set("forever", "1");
        store->set("soon", "2", clock.now() + 1000ms);
        store->set("gone", "3", clock.now() + 1ms);
        for (int i = 0; i < 2000; ++i) store->set("bulk:" + std::to_string(i), std::string(100, 'x'));
    }
    clock.advance(500ms);
    {
        auto store = multisession::make_sqlite_storage(file, fast_options(clock));
        CHECK(store->get("forever") == "1");
        CHECK(store->get("soon") == "2");
        CHECK_FALSE(store->get("gone"));
        CHECK(store->keys("bulk:").size() == 2000);
        clock.advance(500ms);
        CHECK_FALSE(store->get("soon"));
        CHECK(store->get("forever") == "1");
    }
    raw_db raw(file);
    CHECK(raw.one("SELECT expires_at FROM multisession_kv WHERE key = CAST('soon' AS BLOB)") ==
          std::to_string(1767225600000 + 1000));
    CHECK(raw.one("SELECT typeof(key) || typeof(value) FROM multisession_kv WHERE key = CAST('forever' AS BLOB)") ==
          "blobblob");
}

TEST_CASE("sqlite: a writer held by another connection gives busy after the timeout, readers go on") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "s.db";
    auto options = fast_options(clock);
    options.busy_timeout = 100ms;
    auto store = multisession::make_sqlite_storage(file, options);
    store->set("k1", "before");

    raw_db raw(file);
    raw.exec("BEGIN IMMEDIATE");

    const auto start = std::chrono::steady_clock::now();
    const error e = caught([&] { store->compare_and_set("k1", std::string_view("before"), std::string_view("secret-value")); });
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(e.code() == storage_errc::busy);
    CHECK(waited >= 90ms);
    CHECK(waited < 2s);
    const std::string what = e.what();
    CHECK(what.find("'k1'") != std::string::npos);
    CHECK(what.find("secret-value") == std::string::npos);

    CHECK(caught([&] { store->set("k2", "v"); }).code() == storage_errc::busy);
    CHECK(caught([&] { store->remove_prefix("k"); }).code() == storage_errc::busy);
    // WAL: a reader is not blocked by the writer.
    CHECK(store->get("k1") == "before");
    CHECK(store->keys() == std::vector<std::string>{"k1"});

    // Opening an existing store only reads, so a writer elsewhere does not hold it up either.
    auto second = multisession::make_sqlite_storage(file, options);
    CHECK(second->get("k1") == "before");

    raw.exec("ROLLBACK");
    CHECK(store->compare_and_set("k1", std::string_view("before"), std::string_view("after")));
    CHECK(store->get("k1") == "after");
}

TEST_CASE("sqlite: the visitor may write to the store, even with a single connection") {
    temp_dir dir;
    manual_clock clock;
    auto options = fast_options(clock);
    options.max_connections = 1; // a connection held across the visitor would deadlock here
    auto store = multisession::make_sqlite_storage(dir / "s.db", options);
    for (int i = 0; i < 1500; ++i) store->set("k:" + std::to_string(10000 + i), "v"); // three pages

    std::size_t visited = 0;
    store->for_each_key("k:", [&](std::string_view key) {
        ++visited;
        CHECK(store->remove(key));
        store->set("other:" + std::string(key), "copied");
    });
    CHECK(visited == 1500);
    CHECK(store->keys("k:").empty());
    CHECK(store->keys("other:").size() == 1500);

    std::size_t seen = 0;
    store->for_each_key("other:", [&](std::string_view) { return ++seen < 700; }); // stops across pages
    CHECK(seen == 700);
}

TEST_CASE("sqlite: threads share the pool") {
    temp_dir dir;
    manual_clock clock;
    auto options = fast_options(clock);
    options.max_connections = 3;
    auto store = multisession::make_sqlite_storage(dir / "s.db", options);
    store->set("counter", "0");
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                store->set("t" + std::to_string(t) + ":" + std::to_string(i), "v");
                for (;;) {
                    const auto current = store->get("counter").value();
                    const auto next = std::to_string(std::stoi(current) + 1);
                    if (store->compare_and_set("counter", std::string_view(current), std::string_view(next))) break;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(store->get("counter") == "1200");
    CHECK(store->keys("t").size() == 1200);
}

TEST_CASE("sqlite: several stores creating the same new file at once agree on one schema") {
    // Each store has its own connections, as separate processes would: the WAL switch and the
    // schema creation must happen once, the others waiting and then finding it in place.
    for (int round = 0; round < 5; ++round) {
        temp_dir dir;
        manual_clock clock;
        const auto file = dir / "race.db";
        std::vector<std::shared_ptr<multisession::storage>> stores(6);
        std::vector<std::string> failures(stores.size());
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < stores.size(); ++i) {
            threads.emplace_back([&, i] {
                try {
                    stores[i] = multisession::make_sqlite_storage(file, fast_options(clock));
                    stores[i]->set("from:" + std::to_string(i), "v");
                } catch (const std::exception& e) {
                    failures[i] = e.what();
                }
            });
        }
        for (auto& thread : threads) thread.join();
        for (const auto& failure : failures) REQUIRE(failure == "");
        CHECK(stores.front()->keys("from:").size() == stores.size());
        raw_db raw(file);
        CHECK(raw.one("SELECT count(*) FROM sqlite_master") == "2");
    }
}

TEST_CASE("sqlite: a writer queued behind another writer of this process also gives up after the timeout") {
    temp_dir dir;
    manual_clock clock;
    const auto file = dir / "s.db";
    auto options = fast_options(clock);
    options.busy_timeout = 300ms;
    auto store = multisession::make_sqlite_storage(file, options);
    raw_db raw(file);
    raw.exec("BEGIN IMMEDIATE"); // another "process" holds the write lock

    // The first writer waits on SQLite's lock; the second waits behind the first in this process.
    std::optional<error> first;
    std::thread blocked([&] {
        try {
            store->set("a", "1");
        } catch (const error& e) {
            first = e;
        }
    });
    std::this_thread::sleep_for(50ms);
    const auto start = std::chrono::steady_clock::now();
    const error second = caught([&] { store->set("b", "2"); });
    const auto waited = std::chrono::steady_clock::now() - start;
    blocked.join();
    raw.exec("ROLLBACK");

    REQUIRE(first);
    CHECK(first->code() == storage_errc::busy);
    CHECK(second.code() == storage_errc::busy);
    CHECK(std::string(second.what()).find("'b'") != std::string::npos);
    CHECK(waited >= 200ms);
    CHECK(waited < 3s);
    store->set("c", "3"); // the gate is free again
    CHECK(store->get("c") == "3");
}
