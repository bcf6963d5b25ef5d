// Concurrency and crash safety of every backend: compare_and_set stays atomic under threads and
// under processes sharing one store, and a writer killed with SIGKILL mid-write leaves every
// entry old or new, never torn.
#include "support/child_process.hpp"
#include "support/crash_values.hpp"
#include "support/storage_fixtures.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <thread>

using namespace multisession;
using namespace multisession::test;
using namespace std::chrono_literals;

namespace {

/// Adds 1 to the counter under `key` by a get + compare_and_set retry loop.
void increment(storage& store, const std::string& key) {
    for (;;) {
        const auto current = store.get(key);
        const long value = current ? std::stol(*current) : 0;
        if (store.compare_and_set(key, current, std::to_string(value + 1))) return;
    }
}

} // namespace

TEST_CASE_TEMPLATE("8 threads x 1000 compare_and_set increments end at exactly 8000", F,
                   MULTISESSION_ALL_STORAGE_FIXTURES) {
    F fixture;
    auto shared = fixture.open();
    constexpr int threads = 8;
    constexpr int rounds = 1000;

    // Half of the threads share one handle; the others open their own, as separate components of
    // one server would: atomicity must hold across handles too.
    std::vector<std::shared_ptr<storage>> handles;
    for (int t = 0; t < threads; ++t) handles.push_back(t % 2 == 0 ? shared : fixture.open());

    std::atomic<bool> failed{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            try {
                for (int i = 0; i < rounds; ++i) increment(*handles[static_cast<std::size_t>(t)], "counter");
            } catch (const std::exception&) {
                failed = true;
            }
        });
    }
    for (auto& w : workers) w.join();
    CHECK_FALSE(failed.load());
    CHECK(shared->get("counter") == std::to_string(threads * rounds));
}

TEST_CASE_TEMPLATE("4 processes x 1000 compare_and_set increments end at exactly 4000", F, file_fixture,
                   sqlite_fixture, redis_fixture) {
    F fixture;
    constexpr int processes = 4;
    constexpr int rounds = 1000;
    std::vector<std::unique_ptr<child_process>> children;
    for (int p = 0; p < processes; ++p) {
        children.push_back(std::make_unique<child_process>(std::vector<std::string>{
            storage_worker_path(), fixture.uri(), "cas-increment", "counter", std::to_string(rounds)}));
    }
    long retries = 0;
    for (auto& child : children) {
        const std::string line = child->read_line(300'000);
        REQUIRE_MESSAGE(line.rfind("done ", 0) == 0, "worker said: '" << line << "'");
        retries += std::stol(line.substr(5));
        CHECK(child->wait() == 0);
    }
    MESSAGE(F::name << ": " << retries << " compare_and_set retries across processes");
    CHECK(fixture.open()->get("counter") == std::to_string(processes * rounds));
}

namespace {

struct crash_target {
    std::string name;
    std::string uri;
    bool encrypted = false;
};

/// Opens the store after the writer died and checks every entry is a whole value from one of two
/// consecutive rounds, in the order a sequential writer produces them.
void check_after_crash(const crash_target& target, std::uint64_t keys) {
    open_storage_options options;
    if (target.encrypted) options.encryption = test_encryption();
    auto store = open_storage(target.uri, options);

    REQUIRE(store->keys("crash:").size() == keys);
    std::vector<std::uint64_t> rounds;
    for (std::uint64_t i = 0; i < keys; ++i) {
        const auto value = store->get("crash:" + std::to_string(i));
        REQUIRE(value.has_value());
        const auto round = crash_value_round(*value, i);
        REQUIRE_MESSAGE(round.has_value(), target.name << ": key " << i << " holds a torn or foreign value");
        rounds.push_back(*round);
    }
    // The writer goes through the keys in order, round after round: the stored rounds must be
    // r, r, ..., r, r-1, ..., r-1 (a lost acknowledged write would break this shape).
    for (std::size_t i = 1; i < rounds.size(); ++i) {
        CHECK(rounds[i] <= rounds[i - 1]);
        CHECK(rounds[0] - rounds[i] <= 1);
    }
    // And the store is writable again, compare_and_set included.
    const auto before = store->get("crash:1");
    CHECK(store->compare_and_set("crash:1", before, "after-crash"));
    CHECK(store->get("crash:1") == "after-crash");
}

} // namespace

TEST_CASE("a writer killed mid-write leaves every entry old or new, never torn") {
    temp_dir dir;
    // The durable modes: what a deployment runs.
    const std::vector<crash_target> targets = {
        {"file", "file:" + (dir / "files").string(), false},
        {"sqlite", "sqlite:" + (dir / "store.db").string(), false},
        {"encrypted(file)", "file:" + (dir / "sealed").string(), true},
    };
    constexpr std::uint64_t keys = 40;
    std::mt19937 random(12345);

    for (const auto& target : targets) {
        CAPTURE(target.name);
        for (int attempt = 0; attempt < 5; ++attempt) {
            std::vector<std::string> argv = {storage_worker_path(), target.uri};
            if (target.encrypted) argv.emplace_back("--encrypted");
            argv.insert(argv.end(), {"write-loop", std::to_string(keys)});
            child_process writer(argv);
            REQUIRE(writer.read_line() == "ready");
            std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 200));
            writer.kill_hard();
            check_after_crash(target, keys);
        }
    }
}
