// The file backend's own promises: names that cannot escape the directory, file modes, corrupt
// files reported rather than trusted, temporary files ignored, data that outlives the store object.
// The behaviour every backend shares is in storage_contract_test.cpp.
#include <doctest/doctest.h>

#include <multisession/storage/file.hpp>

#include "storage/file_name.hpp"
#include "support/manual_clock.hpp"
#include "support/temp_dir.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>

using namespace std::chrono_literals;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace multisession::test {
namespace {

struct fixture {
    temp_dir root;
    manual_clock clock;
    fs::path dir = root / "store";
    std::vector<std::string> reports;
    std::mutex reports_mutex;

    std::shared_ptr<storage> open(bool durable = true) {
        file_storage_options options;
        options.clock = clock.function();
        options.durable = durable;
        options.on_error = [this](const error& e) {
            std::lock_guard lock(reports_mutex);
            reports.emplace_back(std::string(e.code() == storage_errc::corrupt_record ? "corrupt: " : "other: ") +
                                 e.what());
        };
        return make_file_storage(dir, options);
    }
};

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

/// Every path under `base` (relative), with a letter for its type, skipping `except`'s subtree.
std::set<std::string> tree(const fs::path& base, const fs::path& except) {
    std::set<std::string> out;
    for (auto it = fs::recursive_directory_iterator(base); it != fs::recursive_directory_iterator(); ++it) {
        if (it->path() == except) {
            it.disable_recursion_pending();
            continue;
        }
        const auto type = it->symlink_status().type();
        out.insert((type == fs::file_type::directory ? "d "
                    : type == fs::file_type::regular ? "f "
                                                     : "? ") +
                   fs::relative(it->path(), base).string());
    }
    return out;
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << bytes;
}

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

storage_errc code_of_get(storage& store, const std::string& key, std::string* message = nullptr) {
    try {
        store.get(key);
    } catch (const error& e) {
        if (message != nullptr) *message = e.what();
        return static_cast<storage_errc>(e.code().value());
    }
    return storage_errc{};
}

} // namespace

TEST_CASE("file storage: names are one-to-one and never leave the directory") {
    const std::vector<std::string> keys = {"a",
                                           "k",
                                           "h",
                                           "kabc",
                                           "%41",
                                           "A",
                                           "a.b",
                                           "x/y",
                                           std::string(66, 'f'),
                                           std::string(200, 'z'),
                                           std::string(201, 'z'),
                                           std::string(67, '.'),
                                           std::string(66, '.') + "a",
                                           "\0"s,
                                           "\xff"s};
    std::set<std::string> names;
    for (const auto& key : keys) {
        const std::string name = detail::file_name_for(key);
        CAPTURE(name);
        CHECK(name.size() <= 201);
        CHECK(name.find('/') == std::string::npos);
        CHECK(name.find('\0') == std::string::npos);
        CHECK(name[0] != '.');
        names.insert(name);
        if (name[0] == 'k') {
            CHECK(detail::key_from_encoded_name(name) == key);
        } else {
            CHECK(detail::is_hashed_name(name));
        }
    }
    CHECK(names.size() == keys.size());
    CHECK(detail::file_name_for(std::string(200, 'z'))[0] == 'k');
    CHECK(detail::file_name_for(std::string(201, 'z'))[0] == 'h');
    // Only the canonical spelling decodes, so no second file can claim a key.
    CHECK_FALSE(detail::key_from_encoded_name("k%41")); // 'A' is never escaped
    CHECK_FALSE(detail::key_from_encoded_name("k%2e")); // escapes are upper case
    CHECK_FALSE(detail::key_from_encoded_name("k%2"));  // cut short
    CHECK_FALSE(detail::key_from_encoded_name("k"));    // empty key
    CHECK_FALSE(detail::key_from_encoded_name("ka.b")); // '.' must be escaped
    CHECK_FALSE(detail::key_from_encoded_name("k" + std::string(201, 'z')));
    CHECK(detail::key_from_encoded_name("k%2E%00") == ".\0"s);
}

TEST_CASE("file storage: hostile keys round-trip and stay inside the directory") {
    fixture f;
    f.dir = f.root / "a" / "b" / "store";
    auto store = f.open();
    const auto outside_before = tree(f.root.path(), f.dir);

    const std::vector<std::string> keys = {"../../etc/passwd",
                                           "/",
                                           "/etc/passwd",
                                           ".",
                                           "..",
                                           ".lock",
                                           ".tmp-abc",
                                           "with\0nul\0bytes"s,
                                           "\0"s,
                                           std::string(4096, 'x'),
                                           std::string(4096, '/'),
                                           "\xff\xfe\x80",
                                           "100%",
                                           "%2F",
                                           "k",
                                           "h",
                                           "a\nb",
                                           "C:\\windows"};
    for (std::size_t i = 0; i < keys.size(); ++i)
        store->set(keys[i], "value-" + std::to_string(i));

    for (std::size_t i = 0; i < keys.size(); ++i) {
        CAPTURE(i);
        CHECK(store->get(keys[i]) == "value-" + std::to_string(i));
    }
    CHECK(sorted(store->keys()) == sorted(keys));
    CHECK(tree(f.root.path(), f.dir) == outside_before);

    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(f.dir)) {
        const std::string name = entry.path().filename().string();
        CAPTURE(name);
        CHECK(entry.symlink_status().type() == fs::file_type::regular);
        CHECK((name[0] != '.' || name == ".lock"));
        if (name[0] != '.') ++files;
    }
    CHECK(files == keys.size());
    CHECK(f.reports.empty());

    for (const auto& key : keys)
        CHECK(store->remove(key));
    CHECK(store->keys().empty());
    CHECK(tree(f.root.path(), f.dir) == outside_before);
}

TEST_CASE("file storage: the directory is 0700 and entries are 0600") {
    fixture f;
    f.dir = f.root / "parent" / "store";
    auto store = f.open();
    store->set("key", "value");
    store->set(std::string(1000, 'k'), "value");
    CHECK(mode_of(f.dir) == 0700);
    std::size_t checked = 0;
    for (const auto& entry : fs::directory_iterator(f.dir)) {
        CAPTURE(entry.path());
        CHECK(mode_of(entry.path()) == 0600);
        ++checked;
    }
    CHECK(checked == 3); // two entries and the lock file
}

TEST_CASE("file storage: corrupt files are errors on get and skipped when listing") {
    fixture f;
    auto store = f.open();
    const std::string secret = "SECRET-VALUE-123";
    const std::string long_key = "long:" + std::string(300, 'q');
    for (const std::string key : {"truncated", "flipped", "garbage", "swapped", "intact-1", "intact-2"})
        store->set(key, secret);
    store->set(long_key, secret);

    const auto file_of = [&](const std::string& key) { return f.dir / detail::file_name_for(key); };
    fs::resize_file(file_of("truncated"), fs::file_size(file_of("truncated")) - 3);
    {
        std::string bytes = read_file(file_of("flipped"));
        const auto at = bytes.find(secret);
        REQUIRE(at != std::string::npos);
        bytes[at + 3] ^= 0x01;
        write_file(file_of("flipped"), bytes);
    }
    write_file(file_of("garbage"), "this is not a record at all, just some text");
    fs::copy_file(file_of("intact-1"), file_of("swapped"), fs::copy_options::overwrite_existing);
    {
        std::string bytes = read_file(file_of(long_key));
        bytes[bytes.size() - 1] ^= 0x40;
        write_file(file_of(long_key), bytes);
    }

    for (const std::string key : {"truncated", "flipped", "garbage", "swapped", long_key.c_str()}) {
        CAPTURE(key);
        std::string message;
        CHECK(code_of_get(*store, key, &message) == storage_errc::corrupt_record);
        CHECK(message.find(key.substr(0, 20)) != std::string::npos);
        CHECK(message.find("SECRET") == std::string::npos);
    }
    CHECK(store->get("intact-1") == secret);

    CHECK(sorted(store->keys()) == std::vector<std::string>{"intact-1", "intact-2"});
    REQUIRE(f.reports.size() == 5);
    for (const auto& report : f.reports) {
        CAPTURE(report);
        CHECK(report.rfind("corrupt: ", 0) == 0);
        CHECK(report.find("SECRET") == std::string::npos);
    }
    const auto reported = [&](const std::string& what) {
        return std::count_if(f.reports.begin(), f.reports.end(),
                             [&](const std::string& r) { return r.find(what) != std::string::npos; });
    };
    CHECK(reported("'truncated'") == 1);
    CHECK(reported("'flipped'") == 1);
    CHECK(reported("'garbage'") == 1);
    CHECK(reported("'swapped'") == 1);
    CHECK(reported(detail::file_name_for(long_key)) == 1); // a hashed name only tells its file name

    f.reports.clear();
    std::size_t visited = 0;
    store->for_each("", [&](std::string_view, std::string_view value) {
        CHECK(value == secret);
        ++visited;
    });
    CHECK(visited == 2);
    CHECK(f.reports.size() == 5);

    // compare_and_set cannot compare against a corrupt entry; set and remove are the way out.
    CHECK_THROWS_AS(store->compare_and_set("flipped", std::nullopt, "new"), error);
    store->set("flipped", "repaired");
    CHECK(store->get("flipped") == "repaired");
    CHECK(store->remove("truncated"));
    CHECK(store->get("truncated") == std::nullopt);
    // Everything is in scope of an empty prefix, corrupt files included, even under a hashed name.
    CHECK(store->remove_prefix("") == 6);
    CHECK(f.reports.size() == 5);
    CHECK(std::distance(fs::directory_iterator(f.dir), fs::directory_iterator()) == 1); // .lock
}

TEST_CASE("file storage: leftover temporary files are ignored and purged once stale") {
    fixture f;
    auto store = f.open();
    store->set("real", "value");
    write_file(f.dir / ".tmp-xyz", "half a record from a writer that crashed");
    write_file(f.dir / ".tmp-fresh", "a writer still at work");
    // A complete record under a temporary name is still not an entry until renamed into place.
    fs::copy_file(f.dir / detail::file_name_for("real"), f.dir / ".tmp-complete");
    fs::last_write_time(f.dir / ".tmp-xyz", fs::file_time_type::clock::now() - 1h);

    CHECK(store->keys() == std::vector<std::string>{"real"});
    std::size_t visited = 0;
    store->for_each("", [&](std::string_view key, std::string_view value) {
        CHECK(key == "real");
        CHECK(value == "value");
        ++visited;
    });
    CHECK(visited == 1);
    CHECK(f.reports.empty());

    CHECK(store->purge_expired() == 0);
    CHECK_FALSE(fs::exists(f.dir / ".tmp-xyz"));
    CHECK(fs::exists(f.dir / ".tmp-fresh"));
    CHECK(store->remove_prefix("") == 1);
    CHECK(fs::exists(f.dir / ".tmp-fresh"));
}

TEST_CASE("file storage: a reopened store sees the same data and expiries") {
    fixture f;
    const auto t0 = f.clock.now();
    {
        auto store = f.open();
        store->set("forever", "a");
        store->set("ten-seconds", "b", t0 + 10s);
        store->set("five-seconds", "c", t0 + 5s);
        store->set("sub-millisecond", "d", t0 + 500us);
        store->set(std::string(500, 'h'), "e", t0 + 10s);
    }
    auto store = f.open();
    CHECK(store->get("forever") == "a");
    CHECK(store->get("ten-seconds") == "b");
    CHECK(store->get("five-seconds") == "c");
    CHECK(store->get("sub-millisecond") == "d"); // the expiry keeps its full resolution
    CHECK(store->get(std::string(500, 'h')) == "e");
    CHECK(store->keys().size() == 5);

    f.clock.advance(1ms);
    CHECK(store->get("sub-millisecond") == std::nullopt);
    f.clock.advance(4999ms); // exactly t0 + 5s: expired, since expiry <= now hides an entry
    CHECK(store->get("five-seconds") == std::nullopt);
    CHECK_FALSE(store->remove("five-seconds"));
    CHECK(store->get("ten-seconds") == "b");
    CHECK(sorted(store->keys()) == sorted({"forever", "ten-seconds", std::string(500, 'h')}));

    f.clock.advance(5s);
    CHECK(store->keys() == std::vector<std::string>{"forever"});
    CHECK(store->purge_expired() == 3); // "five-seconds" already went with remove()
    std::size_t files = 0;
    for (const auto& entry : fs::directory_iterator(f.dir))
        files += entry.path().filename().string()[0] != '.';
    CHECK(files == 1);
}

TEST_CASE("file storage: set, get, compare_and_set, listing and removal") {
    fixture f;
    auto store = f.open(false);
    CHECK(store->get("missing") == std::nullopt);
    store->set("user:1:a", "1");
    store->set("user:1:b", "");
    store->set("user:2:a", "3");
    store->set("user:1:" + std::string(300, 'x'), "4"); // hashed name
    CHECK(store->get("user:1:b") == "");

    CHECK_FALSE(store->compare_and_set("user:1:a", "wrong", "x"));
    CHECK(store->compare_and_set("user:1:a", "1", "2"));
    CHECK(store->get("user:1:a") == "2");
    CHECK_FALSE(store->compare_and_set("new", "x", "y"));
    CHECK(store->compare_and_set("new", std::nullopt, "y", f.clock.now() + 1s));
    CHECK_FALSE(store->compare_and_set("new", std::nullopt, "z"));
    f.clock.advance(1s);
    CHECK(store->compare_and_set("new", std::nullopt, "z")); // the expired entry counts as absent
    CHECK(store->compare_and_set("new", "z", std::nullopt));
    CHECK(store->get("new") == std::nullopt);

    std::map<std::string, std::string> seen;
    store->for_each("user:1:", [&](std::string_view key, std::string_view value) {
        seen.emplace(key, value);
        store->set("visited:" + std::string(key.substr(0, 20)), "1"); // no lock is held while visiting
    });
    CHECK(seen == std::map<std::string, std::string>{
                      {"user:1:a", "2"}, {"user:1:b", ""}, {"user:1:" + std::string(300, 'x'), "4"}});
    std::size_t count = 0;
    store->for_each_key("user:", [&](std::string_view) { return ++count < 2; });
    CHECK(count == 2);

    store->set("user:1:old", "gone", f.clock.now() + 1ms);
    f.clock.advance(1ms);
    CHECK(store->remove_prefix("user:1:") == 3);
    CHECK(sorted(store->keys("user:")) == std::vector<std::string>{"user:2:a"});
    CHECK(store->remove("user:2:a"));
    CHECK_FALSE(store->remove("user:2:a"));
    CHECK(store->keys("user:").empty());
}

TEST_CASE("file storage: stores on one directory exclude each other in compare_and_set") {
    fixture f;
    auto first = f.open(false);
    first->set("counter", "0");
    constexpr int threads = 4;
    constexpr int increments = 150;
    std::vector<std::thread> workers;
    workers.reserve(threads);
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            // Every other thread has a store of its own (its own lock file description), the rest
            // share one: both the in-process and the cross-description locking are exercised.
            auto store = t % 2 == 0 ? f.open(false) : first;
            try {
                for (int i = 0; i < increments; ++i) {
                    for (;;) {
                        const auto current = store->get("counter");
                        const std::string next = std::to_string(std::stoi(*current) + 1);
                        if (store->compare_and_set("counter", *current, next)) break;
                    }
                }
            } catch (...) {
                ++failures;
            }
        });
    }
    for (auto& w : workers)
        w.join();
    CHECK(failures.load() == 0);
    CHECK(first->get("counter") == std::to_string(threads * increments));
}

TEST_CASE("file storage: a path that is not a directory is an io_error") {
    temp_dir root;
    write_file(root / "plain-file", "x");
    try {
        make_file_storage(root / "plain-file");
        FAIL("expected an error");
    } catch (const error& e) {
        CHECK(e.code() == storage_errc::io_error);
        CHECK(std::string(e.what()).find("plain-file") != std::string::npos);
    }
}

} // namespace multisession::test
