// storage_bench: throughput of the storage backends, single-threaded, on one file system, with a
// raw SQLite baseline run in the same process under the same pragmas; then the Redis backend, from
// one and from several threads, against a redis-server of its own, next to a raw hiredis client
// and redis-benchmark run against the same server.
//
//   storage_bench [--n N] [--n-durable N] [--large N]... [--dir PATH] [--only LIST]
//                 [--threads T] [--n-redis N] [--redis-aof yes|no]
//
//   --n N          operations per phase for the non-durable backends (default 200000)
//   --n-durable N  operations per phase for the durable ones: file durable, sqlite full (default 20000)
//   --large N      a size for the enumeration/removal runs; repeatable; replaces the defaults
//                  (100000 and 1000000). The file backend runs only sizes up to 100000.
//   --dir PATH     where the stores are created (default $TMPDIR or /tmp); removed afterwards
//   --only LIST    the backends to run, comma-separated among memory, file, sqlite, redis (default all)
//   --threads T    client threads of the multi-threaded Redis rows, and redis-benchmark's -c (default 4)
//   --n-redis N    operations per phase for Redis, over all threads (default 50000)
//   --redis-aof X  yes: the Redis operations again on a server with appendonly yes, appendfsync
//                  everysec (default no)
//
// Keys are "bench:%08d" (14 bytes), values 100 bytes. set writes keys in order; get and
// compare_and_set visit them in a scattered order. The raw SQLite baseline (a prepared UPSERT and
// a prepared SELECT, each statement its own autocommit transaction, WAL and the store's pragmas)
// runs on its own file in the same directory, in chunks alternating with the store's. For the large runs, memory and
// file are loaded through the store's set; sqlite is loaded through one raw SQLite transaction on the store's own file
// (the point is enumerating and removing, and a million autocommit inserts would dominate).
//
// Redis: a redis-server started here (tests/support/redis_server.hpp) on 127.0.0.1, a free port,
// no persistence, its own temporary directory, and stopped by its PID at the end;
// $MULTISESSION_REDIS_SERVER and $MULTISESSION_REDIS_BENCHMARK name the programs, else they are
// taken from PATH. The store is make_redis_storage with its defaults (a pool of 8 connections, or
// --threads if more). With T threads, each thread takes its own slice of the keys. "raw hiredis" is
// one blocking hiredis connection per thread sending plain SET and GET on keys of its own
// ("hired:%08d"), in chunks alternating with the store's: the floor for a client that waits for
// each reply. The server's own time per command comes from INFO commandstats, the client's CPU
// from getrusage. redis-benchmark runs with -d 100 (the bench's value size) and -r 100000 (random
// keys). The large runs are loaded with MSET, 1000 keys per command, through one raw connection;
// the raw rows walk the keys with SCAN ... COUNT 1000 (and UNLINK each page) on one connection.
#include "../tests/support/redis_server.hpp"
#include "../tests/support/temp_dir.hpp"

#include <multisession/storage/file.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/redis.hpp>
#include <multisession/storage/sqlite.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <sys/wait.h>

namespace {

using multisession::storage;
using clock_type = std::chrono::steady_clock;

struct settings {
    std::size_t n = 200'000;
    std::size_t n_durable = 20'000;
    std::vector<std::size_t> large = {100'000, 1'000'000};
    std::filesystem::path dir;
    std::set<std::string> only = {"memory", "file", "sqlite", "redis"};
    std::size_t threads = 4;
    std::size_t n_redis = 50'000;
    bool redis_aof = false;
    std::size_t sqlite_page_size = multisession::sqlite_storage_options{}.page_size;

    [[nodiscard]] bool runs(const std::string& family) const { return only.count(family) != 0; }
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(
        stderr,
        "storage_bench: %s\nusage: storage_bench [--n N] [--n-durable N] [--large N]... [--dir PATH]\n"
        "                     [--only memory,file,sqlite,redis] [--threads T] [--n-redis N] [--redis-aof yes|no]\n"
        "                     [--sqlite-page-size BYTES]\n",
        message);
    std::exit(2);
}

void help() {
    std::printf(
        "usage: storage_bench [--n N] [--n-durable N] [--large N]... [--dir PATH]\n"
        "                     [--only memory,file,sqlite,redis] [--threads T] [--n-redis N] [--redis-aof yes|no]\n"
        "                     [--sqlite-page-size BYTES]\n"
        "  --n N          operations per phase, non-durable backends (default 200000)\n"
        "  --n-durable N  operations per phase, file durable and sqlite full (default 20000)\n"
        "  --large N      a size for the enumeration/removal runs; repeatable (default 100000 and 1000000)\n"
        "  --dir PATH     where the stores are created (default $TMPDIR or /tmp)\n"
        "  --only LIST    backends to run, comma-separated (default memory,file,sqlite,redis)\n"
        "  --threads T    client threads of the multi-threaded Redis rows, redis-benchmark -c (default 4)\n"
        "  --n-redis N    operations per phase for Redis, over all threads (default 50000)\n"
        "  --redis-aof X  yes|no: Redis operations again with appendonly yes, appendfsync everysec (default no)\n"
        "  --sqlite-page-size BYTES  page size of the SQLite files, the store's and raw SQLite's (default: the\n"
        "                 store's, 16384)\n"
        "Redis: a redis-server of its own on 127.0.0.1 ($MULTISESSION_REDIS_SERVER, else from PATH) and\n"
        "redis-benchmark ($MULTISESSION_REDIS_BENCHMARK, else from PATH).\n");
}

settings parse(int argc, char** argv) {
    settings s;
    const char* base = std::getenv("TMPDIR");
    s.dir = base && *base ? base : "/tmp";
    bool large_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            help();
            std::exit(0);
        }
        if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
        const std::string value = argv[++i];
        auto number = [&] {
            char* end = nullptr;
            const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || n == 0) usage(("bad number for " + arg).c_str());
            return static_cast<std::size_t>(n);
        };
        if (arg == "--n") {
            s.n = number();
        } else if (arg == "--n-durable") {
            s.n_durable = number();
        } else if (arg == "--large") {
            if (!large_given) s.large.clear();
            large_given = true;
            s.large.push_back(number());
        } else if (arg == "--dir") {
            s.dir = value;
        } else if (arg == "--only") {
            s.only.clear();
            std::size_t from = 0;
            for (;;) {
                const auto comma = value.find(',', from);
                const std::string family =
                    value.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
                if (family != "memory" && family != "file" && family != "sqlite" && family != "redis")
                    usage(("unknown backend '" + family + "' for --only").c_str());
                s.only.insert(family);
                if (comma == std::string::npos) break;
                from = comma + 1;
            }
        } else if (arg == "--threads") {
            s.threads = number();
        } else if (arg == "--n-redis") {
            s.n_redis = number();
        } else if (arg == "--redis-aof") {
            if (value != "yes" && value != "no") usage("--redis-aof takes yes or no");
            s.redis_aof = value == "yes";
        } else if (arg == "--sqlite-page-size") {
            s.sqlite_page_size = number();
        } else {
            usage(("unknown option " + arg).c_str());
        }
    }
    return s;
}

std::string key_of(std::size_t i) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "bench:%08zu", i);
    return buffer;
}

std::vector<std::string> make_keys(std::size_t n) {
    std::vector<std::string> keys;
    keys.reserve(n);
    for (std::size_t i = 0; i < n; ++i) keys.push_back(key_of(i));
    return keys;
}

/// A visiting order that jumps around the key space (i * stride mod n, stride coprime with n),
/// so lookups are not served by the page the previous one just read.
std::vector<std::size_t> scattered(std::size_t n) {
    std::size_t stride = 7919;
    while (std::gcd(stride, n) != 1) stride += 2;
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = (i * stride) % n;
    return order;
}

const std::string value_a(100, 'a');
const std::string value_b(100, 'b');

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// ---- raw SQLite baseline -------------------------------------------------------------------------

/// The page size of every SQLite file of this run (--sqlite-page-size): the store's and raw SQLite's.
std::size_t sqlite_page_size = multisession::sqlite_storage_options{}.page_size;

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

class raw_sqlite {
public:
    raw_sqlite(const std::filesystem::path& file, bool full) {
        check(sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              nullptr),
              db_, "open");
        exec(("PRAGMA page_size=" + std::to_string(sqlite_page_size)).c_str());
        exec("PRAGMA journal_mode=WAL");
        exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
        // The store's other per-connection pragmas, so the comparison measures the store's own cost.
        exec("PRAGMA cache_size=-8192; PRAGMA secure_delete=ON; PRAGMA journal_size_limit=16777216");
        sqlite3_busy_timeout(db_, 5000);
    }
    ~raw_sqlite() { sqlite3_close_v2(db_); }
    raw_sqlite(const raw_sqlite&) = delete;
    raw_sqlite& operator=(const raw_sqlite&) = delete;

    void exec(const char* sql) { check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), db_, sql); }

    sqlite3_stmt* prepare(const char* sql) {
        sqlite3_stmt* stmt = nullptr;
        check(sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr), db_, sql);
        return stmt;
    }

    sqlite3* db_ = nullptr;
};

constexpr const char* upsert_sql = "INSERT INTO multisession_kv(key, value, expires_at) VALUES (?1, ?2, ?3) "
                                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

/// Loads keys[0..n) in one transaction, straight into a table of the store's shape.
void raw_load(raw_sqlite& raw, const std::vector<std::string>& keys, std::size_t n) {
    raw.exec("BEGIN");
    sqlite3_stmt* insert = raw.prepare(upsert_sql);
    for (std::size_t i = 0; i < n; ++i) {
        sqlite3_bind_blob(insert, 1, keys[i].data(), static_cast<int>(keys[i].size()), SQLITE_STATIC);
        sqlite3_bind_blob(insert, 2, value_a.data(), static_cast<int>(value_a.size()), SQLITE_STATIC);
        sqlite3_bind_null(insert, 3);
        check(sqlite3_step(insert), raw.db_, "insert");
        sqlite3_reset(insert);
    }
    sqlite3_finalize(insert);
    raw.exec("COMMIT");
}

/// Raw SQLite doing what the store's set and get do: one prepared UPSERT or SELECT per key, each
/// its own autocommit transaction, the value copied out as the store does.
class raw_kv {
public:
    raw_kv(const std::filesystem::path& file, bool full) : raw_(file, full) {
        raw_.exec("CREATE TABLE multisession_kv(key BLOB NOT NULL PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER) "
                  "WITHOUT ROWID;"
                  "CREATE INDEX multisession_kv_expiry ON multisession_kv(expires_at) WHERE expires_at IS NOT NULL;");
        insert_ = raw_.prepare(upsert_sql);
        select_ = raw_.prepare("SELECT value FROM multisession_kv WHERE key = ?1");
    }
    ~raw_kv() {
        sqlite3_finalize(insert_);
        sqlite3_finalize(select_);
    }
    raw_kv(const raw_kv&) = delete;
    raw_kv& operator=(const raw_kv&) = delete;

    void set(const std::string& key, const std::string& value) {
        sqlite3_bind_blob(insert_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
        sqlite3_bind_blob(insert_, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
        sqlite3_bind_null(insert_, 3);
        const int rc = sqlite3_step(insert_);
        sqlite3_reset(insert_);
        check(rc, raw_.db_, "raw insert");
    }

    std::optional<std::string> get(const std::string& key) {
        sqlite3_bind_blob(select_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
        std::optional<std::string> value;
        if (sqlite3_step(select_) == SQLITE_ROW) {
            value.emplace(static_cast<const char*>(sqlite3_column_blob(select_, 0)),
                          static_cast<std::size_t>(sqlite3_column_bytes(select_, 0)));
        }
        sqlite3_reset(select_);
        return value;
    }

private:
    raw_sqlite raw_;
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* select_ = nullptr;
};

// ---- the stores ------------------------------------------------------------------------------------

struct backend {
    const char* name;
    bool durable;
    std::size_t max_large; // largest size for the enumeration runs; 0: none
    bool raw_loadable;     // sqlite: large runs are loaded with one raw transaction
    bool full_sync;
    std::function<std::shared_ptr<storage>(const std::filesystem::path&)> open;
};

std::vector<backend> backends() {
    using namespace multisession;
    auto sqlite = [](sqlite_synchronous mode) {
        return [mode](const std::filesystem::path& where) {
            sqlite_storage_options options;
            options.synchronous = mode;
            options.page_size = sqlite_page_size;
            return make_sqlite_storage(where.string() + ".db", options);
        };
    };
    auto file = [](bool durable) {
        return [durable](const std::filesystem::path& where) {
            file_storage_options options;
            options.durable = durable;
            return make_file_storage(where, options);
        };
    };
    return {
        {"memory", false, SIZE_MAX, false, false, [](const std::filesystem::path&) { return make_memory_storage(); }},
        {"file durable", true, 0, false, false, file(true)},
        {"file non-durable", false, 100'000, false, false, file(false)},
        {"sqlite full", true, SIZE_MAX, true, true, sqlite(sqlite_synchronous::full)},
        {"sqlite normal", false, SIZE_MAX, true, false, sqlite(sqlite_synchronous::normal)},
    };
}

struct op_figures {
    double set_per_s = 0;
    double get_per_s = 0;
    double cas_per_s = 0;
};

/// set, then get, then compare_and_set over keys[0..n). With a raw baseline, the set and get
/// phases are cut into chunks run alternately by the store and the raw connection (on their own
/// files), so that both see the same machine: other load and fsync latency drift over minutes.
std::pair<op_figures, op_figures> run_ops(storage& store, raw_kv* raw, const std::vector<std::string>& keys,
                                          std::size_t n) {
    constexpr std::size_t chunks = 10;
    op_figures mine, theirs;
    double store_s = 0, raw_s = 0;
    auto timed = [](double& total, auto&& work) {
        const auto start = clock_type::now();
        work();
        total += seconds_since(start);
    };
    auto alternate = [&](auto&& store_chunk, auto&& raw_chunk) {
        store_s = raw_s = 0;
        for (std::size_t c = 0; c < chunks; ++c) {
            const std::size_t from = n * c / chunks, to = n * (c + 1) / chunks;
            // Swap who goes first each chunk, so neither always runs on the other's warm caches.
            if (raw && c % 2 == 0) timed(raw_s, [&] { raw_chunk(from, to); });
            timed(store_s, [&] { store_chunk(from, to); });
            if (raw && c % 2 == 1) timed(raw_s, [&] { raw_chunk(from, to); });
        }
    };

    alternate([&](std::size_t from, std::size_t to) { for (auto i = from; i < to; ++i) store.set(keys[i], value_a); },
              [&](std::size_t from, std::size_t to) { for (auto i = from; i < to; ++i) raw->set(keys[i], value_a); });
    mine.set_per_s = static_cast<double>(n) / store_s;
    theirs.set_per_s = raw ? static_cast<double>(n) / raw_s : 0;

    const auto order = scattered(n);
    std::size_t found = 0, raw_found = 0;
    alternate(
        [&](std::size_t from, std::size_t to) {
            for (auto i = from; i < to; ++i) found += store.get(keys[order[i]]).has_value() ? 1 : 0;
        },
        [&](std::size_t from, std::size_t to) {
            for (auto i = from; i < to; ++i) raw_found += raw->get(keys[order[i]]).has_value() ? 1 : 0;
        });
    mine.get_per_s = static_cast<double>(n) / store_s;
    theirs.get_per_s = raw ? static_cast<double>(n) / raw_s : 0;
    if (found != n || (raw && raw_found != n)) throw std::runtime_error("get lost keys");

    std::size_t swapped = 0;
    const auto start = clock_type::now();
    for (const std::size_t i : order) swapped += store.compare_and_set(keys[i], value_a, value_b) ? 1 : 0;
    mine.cas_per_s = static_cast<double>(n) / seconds_since(start);
    if (swapped != n) throw std::runtime_error("compare_and_set failed to swap");
    return {mine, theirs};
}

std::string per_second(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.0f", value);
    return buffer;
}

std::string secs(double value) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3f", value);
    return buffer;
}

struct mixed_figures {
    double get_per_s = 0;
    double set_per_s = 0;
};

/// Three reader threads and one writer thread on one store for `duration`: what the connection
/// pool buys (readers on their own WAL snapshots, not queued behind a writer's commit and sync).
mixed_figures run_mixed(const std::filesystem::path& file, multisession::sqlite_synchronous mode,
                        std::size_t max_connections, const std::vector<std::string>& keys, std::size_t n,
                        std::chrono::milliseconds duration) {
    multisession::sqlite_storage_options options;
    options.synchronous = mode;
    options.max_connections = max_connections;
    options.page_size = sqlite_page_size;
    auto store = multisession::make_sqlite_storage(file, options);
    for (std::size_t i = 0; i < n; ++i) store->set(keys[i], value_a);

    std::atomic<bool> stop{false};
    std::atomic<std::size_t> gets{0}, sets{0};
    std::vector<std::thread> threads;
    for (int r = 0; r < 3; ++r) {
        threads.emplace_back([&, r] {
            std::size_t done = 0;
            for (std::size_t i = static_cast<std::size_t>(r) * 7919; !stop.load(std::memory_order_relaxed); i += 7919) {
                if (!store->get(keys[i % n])) throw std::runtime_error("mixed: lost a key");
                ++done;
            }
            gets += done;
        });
    }
    threads.emplace_back([&] {
        std::size_t done = 0;
        for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
            store->set(keys[i % n], (i & 1) ? value_a : value_b);
            ++done;
        }
        sets += done;
    });
    const auto start = clock_type::now();
    std::this_thread::sleep_for(duration);
    stop = true;
    for (auto& thread : threads) thread.join();
    const double elapsed = seconds_since(start);
    return {static_cast<double>(gets) / elapsed, static_cast<double>(sets) / elapsed};
}

/// The first three fields of /proc/loadavg: how busy the machine was (1, 5 and 15 minutes).
std::string load_average() {
    std::FILE* file = std::fopen("/proc/loadavg", "r");
    if (file == nullptr) return "?";
    double one = 0, five = 0, fifteen = 0;
    const int got = std::fscanf(file, "%lf %lf %lf", &one, &five, &fifteen);
    std::fclose(file);
    if (got != 3) return "?";
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.2f %.2f %.2f", one, five, fifteen);
    return buffer;
}

/// "sqlite full" -> "sqlite": the word --only selects by.
std::string family_of(const char* name) {
    const std::string text = name;
    return text.substr(0, text.find(' '));
}

// ---- Redis ---------------------------------------------------------------------------------------

struct latency {
    double p50_us = 0;
    double p99_us = 0;
};

/// One phase: throughput over all threads, and the spread of the time each operation took.
struct phase {
    double per_s = 0;
    latency lat;
    double cpu_us = 0; // CPU time of this process (user + system, every thread) per operation; 0: unknown
};

/// CPU time used so far by this process, all threads, user + system, in seconds.
double process_cpu_seconds() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) {
        return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// A phase measured in pieces: the time and the per-operation times of every piece.
struct phase_total {
    double seconds = 0;
    double cpu_seconds = 0;
    std::size_t ops = 0;
    std::vector<float> times_us;

    [[nodiscard]] phase result() {
        auto at = [&](double q) {
            const auto k = static_cast<std::size_t>(q * static_cast<double>(times_us.size() - 1));
            std::nth_element(times_us.begin(), times_us.begin() + static_cast<std::ptrdiff_t>(k), times_us.end());
            return static_cast<double>(times_us[k]);
        };
        return {static_cast<double>(ops) / seconds, {at(0.50), at(0.99)}, cpu_seconds * 1e6 / static_cast<double>(ops)};
    }
};

/// Runs op(thread, i) for every i in [from, to) on `threads` threads, each over its own contiguous
/// slice, all released at once; op returns false for a wrong result. Every operation is timed
/// alone; the wall time from the release to the last thread's end is added to `total`.
template <class Op>
void run_piece(std::size_t threads, std::size_t from, std::size_t to, Op&& op, phase_total& total) {
    const std::size_t n = to - from;
    std::vector<std::vector<float>> times(threads);
    std::vector<std::thread> workers;
    std::atomic<std::size_t> wrong{0};
    std::atomic<bool> failed{false};
    std::string failure;
    std::mutex failure_mutex;
    std::latch ready(static_cast<std::ptrdiff_t>(threads) + 1);
    std::latch go(1);
    for (std::size_t t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            const std::size_t first = from + n * t / threads, last = from + n * (t + 1) / threads;
            auto& mine = times[t];
            mine.reserve(last - first);
            ready.count_down();
            go.wait();
            try {
                for (std::size_t i = first; i < last; ++i) {
                    const auto start = clock_type::now();
                    const bool right = op(t, i);
                    mine.push_back(static_cast<float>(
                        std::chrono::duration<double, std::micro>(clock_type::now() - start).count()));
                    if (!right) ++wrong;
                }
            } catch (const std::exception& e) {
                std::lock_guard lock(failure_mutex);
                if (!failed.exchange(true)) failure = e.what();
            }
        });
    }
    ready.arrive_and_wait();
    const double cpu_before = process_cpu_seconds();
    const auto start = clock_type::now();
    go.count_down();
    for (auto& worker : workers)
        worker.join();
    total.seconds += seconds_since(start);
    total.cpu_seconds += process_cpu_seconds() - cpu_before;
    if (failed) throw std::runtime_error(failure);
    if (wrong != 0) throw std::runtime_error(std::to_string(wrong.load()) + " operations gave a wrong result");
    total.ops += n;
    for (const auto& part : times)
        total.times_us.insert(total.times_us.end(), part.begin(), part.end());
}

struct redis_row {
    std::string client;
    std::size_t threads = 0;
    std::size_t n = 0;
    std::optional<phase> set, get, cas;
};

/// What the server itself spent on each command since the last CONFIG RESETSTAT (INFO
/// commandstats: calls and microseconds, by lower-case command name). Commands run by a script
/// are counted under their own names as well as in the script's EVALSHA.
struct command_time {
    long long calls = 0;
    double usec = 0;

    [[nodiscard]] double per_call() const { return calls > 0 ? usec / static_cast<double>(calls) : 0; }
};

std::map<std::string, command_time> command_stats(multisession::test::redis_client& client) {
    std::map<std::string, command_time> out;
    const auto info = client.text({"INFO", "commandstats"});
    if (!info) return out;
    std::size_t from = 0;
    while (from < info->size()) {
        auto end = info->find("\r\n", from);
        if (end == std::string::npos) end = info->size();
        const std::string line = info->substr(from, end - from);
        from = end + 2;
        // cmdstat_get:calls=2,usec=15,usec_per_call=7.50,rejected_calls=0,failed_calls=0
        char name[64] = {};
        long long calls = 0, usec = 0;
        if (std::sscanf(line.c_str(), "cmdstat_%63[^:]:calls=%lld,usec=%lld", name, &calls, &usec) == 3)
            out[name] = {calls, static_cast<double>(usec)};
    }
    return out;
}

void reset_stats(multisession::test::redis_client& client) { client.command({"CONFIG", "RESETSTAT"}); }

/// Server microseconds per call in each phase of redis_ops: SET (store and raw alike), the store's
/// get script, plain GET, the store's compare_and_set script.
struct server_costs {
    double set_us = 0, get_script_us = 0, plain_get_us = 0, cas_script_us = 0;
};

/// set, get and compare_and_set through the store, and plain SET and GET through one blocking
/// hiredis connection per thread (on keys of their own, "hired:%08d"), on `threads` threads over
/// n keys of an emptied server. The set and get phases are cut into chunks run alternately by the
/// store and the raw clients, as for SQLite. Within a chunk, get and compare_and_set visit the
/// chunk's keys in scattered order.
std::pair<redis_row, redis_row> redis_ops(multisession::test::redis_server& server, multisession::storage& store,
                                          std::size_t threads, const std::vector<std::string>& keys,
                                          const std::vector<std::string>& raw_keys, std::size_t n,
                                          server_costs& costs) {
    constexpr std::size_t chunks = 10;
    server.flush_all();
    multisession::test::redis_client stats(server.port());
    std::vector<std::unique_ptr<multisession::test::redis_client>> clients;
    for (std::size_t t = 0; t < threads; ++t)
        clients.push_back(std::make_unique<multisession::test::redis_client>(server.port()));
    // order[i]: the key visited i-th, a scattered order inside each chunk.
    std::vector<std::size_t> order(n);
    for (std::size_t c = 0; c < chunks; ++c) {
        const std::size_t from = n * c / chunks, to = n * (c + 1) / chunks;
        if (to == from) continue;
        const auto inside = scattered(to - from);
        for (std::size_t i = from; i < to; ++i)
            order[i] = from + inside[i - from];
    }
    auto alternate = [&](auto&& store_op, auto&& raw_op, phase_total& mine, phase_total& theirs) {
        for (std::size_t c = 0; c < chunks; ++c) {
            const std::size_t from = n * c / chunks, to = n * (c + 1) / chunks;
            if (to == from) continue;
            // Swap who goes first each chunk, so neither always runs right after the other.
            if (c % 2 == 0) run_piece(threads, from, to, raw_op, theirs);
            run_piece(threads, from, to, store_op, mine);
            if (c % 2 == 1) run_piece(threads, from, to, raw_op, theirs);
        }
    };
    phase_total store_set, store_get, store_cas, raw_set, raw_get;
    reset_stats(stats);
    alternate(
        [&](std::size_t, std::size_t i) {
            store.set(keys[i], value_a);
            return true;
        },
        [&](std::size_t t, std::size_t i) {
            return clients[t]->command({"SET", raw_keys[i], value_a})->type == REDIS_REPLY_STATUS;
        },
        store_set, raw_set);
    costs.set_us = command_stats(stats)["set"].per_call();
    reset_stats(stats);
    alternate([&](std::size_t, std::size_t i) { return store.get(keys[order[i]]) == value_a; },
              [&](std::size_t t, std::size_t i) {
                  auto reply = clients[t]->command({"GET", raw_keys[order[i]]});
                  return reply->type == REDIS_REPLY_STRING && reply->len == value_a.size();
              },
              store_get, raw_get);
    {
        auto used = command_stats(stats);
        costs.get_script_us = used["evalsha"].per_call();
        costs.plain_get_us = used["get"].per_call();
    }
    reset_stats(stats);
    run_piece(
        threads, 0, n,
        [&](std::size_t, std::size_t i) { return store.compare_and_set(keys[order[i]], value_a, value_b); }, store_cas);
    costs.cas_script_us = command_stats(stats)["evalsha"].per_call();
    return {redis_row{"redis store", threads, n, store_set.result(), store_get.result(), store_cas.result()},
            redis_row{"  raw hiredis (blocking)", threads, n, raw_set.result(), raw_get.result(), std::nullopt}};
}

/// The redis-benchmark program: $MULTISESSION_REDIS_BENCHMARK, else redis-benchmark from PATH,
/// quoted for the shell (popen runs /bin/sh).
std::string redis_benchmark_program() {
    const char* configured = std::getenv("MULTISESSION_REDIS_BENCHMARK");
    const std::string program = configured && *configured ? configured : "redis-benchmark";
    std::string quoted = "'";
    for (const char c : program)
        quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

/// `redis-benchmark -q -t set,get` against the server; its SET and GET throughput and p50.
redis_row redis_benchmark(std::uint16_t port, std::size_t clients, std::size_t pipeline, std::size_t n) {
    std::string label = "redis-benchmark -c " + std::to_string(clients);
    if (pipeline > 1) label += " -P " + std::to_string(pipeline);
    std::string command = redis_benchmark_program() + " -h 127.0.0.1 -p " + std::to_string(port) +
                          " -q -t set,get -n " + std::to_string(n) + " -c " + std::to_string(clients) +
                          (pipeline > 1 ? " -P " + std::to_string(pipeline) : std::string()) + " -d " +
                          std::to_string(value_a.size()) + " -r 100000 2>&1 </dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
    std::string output;
    std::array<char, 4096> buffer{};
    for (std::size_t got; (got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0;)
        output.append(buffer.data(), got);
    const int status = ::pclose(pipe);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw std::runtime_error("`" + command + "` failed (is redis-benchmark installed? Debian package redis-tools)");
    // -q prints progress lines ended by \r, then "SET: 12345.67 requests per second, p50=0.055 msec".
    redis_row row{label, clients, n, {}, {}, {}};
    std::size_t from = 0;
    while (from < output.size()) {
        auto end = output.find_first_of("\r\n", from);
        if (end == std::string::npos) end = output.size();
        const std::string line = output.substr(from, end - from);
        from = end + 1;
        double rps = 0, p50_ms = 0;
        char test[16] = {};
        if (std::sscanf(line.c_str(), "%15[A-Z]: %lf requests per second, p50=%lf msec", test, &rps, &p50_ms) == 3) {
            const phase result{rps, {p50_ms * 1000.0, 0}};
            if (std::strcmp(test, "SET") == 0) row.set = result;
            if (std::strcmp(test, "GET") == 0) row.get = result;
        }
    }
    if (!row.set || !row.get) throw std::runtime_error("no SET and GET figures in the output of `" + command + "`");
    return row;
}

/// Loads keys[0..size) with value_a through one raw connection, `batch` keys per MSET.
void redis_load(multisession::test::redis_client& raw, const std::vector<std::string>& keys, std::size_t size) {
    constexpr std::size_t batch = 1000;
    std::vector<std::string> args;
    for (std::size_t from = 0; from < size; from += batch) {
        args.assign(1, "MSET");
        for (std::size_t i = from; i < std::min(size, from + batch); ++i) {
            args.push_back(keys[i]);
            args.push_back(value_a);
        }
        if (raw.command(args)->type != REDIS_REPLY_STATUS) throw std::runtime_error("MSET failed");
    }
}

/// SCAN over "bench:*" (COUNT 1000, strings only) on one raw connection; with `unlink`, each page
/// is removed with one UNLINK. Returns the keys met (scan) or removed (unlink).
std::size_t redis_raw_walk(multisession::test::redis_client& raw, bool unlink) {
    std::string cursor = "0";
    std::size_t total = 0;
    std::vector<std::string> args;
    do {
        auto reply = raw.command({"SCAN", cursor, "MATCH", "bench:*", "COUNT", "1000", "TYPE", "string"});
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) throw std::runtime_error("SCAN failed");
        cursor.assign(reply->element[0]->str, reply->element[0]->len);
        const redisReply& page = *reply->element[1];
        if (!unlink) {
            total += page.elements;
            continue;
        }
        if (page.elements == 0) continue;
        args.assign(1, "UNLINK");
        for (std::size_t i = 0; i < page.elements; ++i)
            args.emplace_back(page.element[i]->str, page.element[i]->len);
        total += static_cast<std::size_t>(raw.integer(args));
    } while (cursor != "0");
    return total;
}

std::string redis_version(std::uint16_t port) {
    multisession::test::redis_client client(port);
    const auto info = client.text({"INFO", "server"});
    const auto at = info ? info->find("redis_version:") : std::string::npos;
    if (at == std::string::npos) return "?";
    const auto begin = at + std::strlen("redis_version:");
    return info->substr(begin, info->find('\r', begin) - begin);
}

void print_redis_tables(const std::vector<redis_row>& rows) {
    auto cell = [](const std::optional<phase>& p) { return p ? per_second(p->per_s) : std::string("-"); };
    auto us = [](const std::optional<phase>& p, bool p99) {
        if (!p) return std::string("-");
        const double v = p99 ? p->lat.p99_us : p->lat.p50_us;
        if (v <= 0) return std::string("-");
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%.0f", v);
        return std::string(buffer);
    };
    std::printf("%-36s %3s %7s %10s %10s %10s\n", "client", "thr", "N", "set/s", "get/s", "cas/s");
    for (const auto& r : rows)
        std::printf("%-36s %3zu %7zu %10s %10s %10s\n", r.client.c_str(), r.threads, r.n, cell(r.set).c_str(),
                    cell(r.get).c_str(), cell(r.cas).c_str());
    std::printf("\nLatency per operation, microseconds, p50 / p99 (redis-benchmark -q gives p50 only)\n");
    std::printf("%-36s %3s %15s %15s %15s\n", "client", "thr", "set", "get", "cas");
    for (const auto& r : rows) {
        auto pair = [&](const std::optional<phase>& p) { return us(p, false) + " / " + us(p, true); };
        std::printf("%-36s %3zu %15s %15s %15s\n", r.client.c_str(), r.threads, pair(r.set).c_str(),
                    pair(r.get).c_str(), pair(r.cas).c_str());
    }
    std::printf("\nClient CPU per operation, microseconds (this process, all threads, user + system: the library's "
                "own cost\nagainst raw hiredis; the server's is in the next table)\n");
    std::printf("%-36s %3s %8s %8s %8s\n", "client", "thr", "set", "get", "cas");
    auto cpu = [](const std::optional<phase>& p) {
        if (!p || p->cpu_us <= 0) return std::string("-");
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%.1f", p->cpu_us);
        return std::string(buffer);
    };
    for (const auto& r : rows) {
        if (!r.set || r.set->cpu_us <= 0) continue;
        std::printf("%-36s %3zu %8s %8s %8s\n", r.client.c_str(), r.threads, cpu(r.set).c_str(), cpu(r.get).c_str(),
                    cpu(r.cas).c_str());
    }
}

void run_redis_large(const settings& s, const std::vector<std::string>& keys, multisession::test::redis_server& server,
                     multisession::storage* store, std::vector<std::string>& notes);

/// The Redis part of the run: operations (store, raw hiredis, redis-benchmark) and, on the
/// server without persistence, the large keyspaces.
void run_redis(const settings& s, const std::vector<std::string>& keys, std::vector<std::string>& notes) {
    using multisession::test::redis_client;
    using multisession::test::redis_server;
    const std::size_t n = s.n_redis;
    const std::size_t t = s.threads;
    constexpr std::size_t benchmark_n = 100'000;
    std::vector<std::string> raw_keys;
    raw_keys.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
        raw_keys.push_back("hired:" + key_of(i).substr(6));

    struct variant {
        const char* name;
        std::vector<std::string> args;
    };
    std::vector<variant> variants = {{"no persistence", {}}};
    if (s.redis_aof)
        variants.push_back(
            {"appendonly yes, appendfsync everysec", {"--appendonly", "yes", "--appendfsync", "everysec"}});

    for (std::size_t v = 0; v < variants.size(); ++v) {
        std::optional<redis_server> server;
        try {
            server.emplace(variants[v].args);
        } catch (const std::exception& e) {
            notes.push_back(std::string("redis: ") + e.what());
            return;
        }
        multisession::redis_storage_options options;
        options.port = server->port();
        options.pool_size = std::max<std::size_t>(options.pool_size, t);
        std::printf("\nRedis %s on 127.0.0.1:%u (pid %d, %s); store: make_redis_storage, pool_size %zu; %zu client "
                    "threads in the multi-threaded rows; %u cores, load average %s\n",
                    redis_version(server->port()).c_str(), static_cast<unsigned>(server->port()),
                    static_cast<int>(server->pid()), variants[v].name, options.pool_size, t,
                    std::thread::hardware_concurrency(), load_average().c_str());
        std::printf("Operations per second (set in key order; get and compare_and_set in scattered order; each thread "
                    "its own slice of the keys)\n");
        std::fflush(stdout);

        std::vector<redis_row> rows;
        std::vector<std::pair<std::size_t, server_costs>> costs; // by thread count
        auto attempt = [&](const std::string& what, auto&& work) {
            try {
                rows.push_back(work());
            } catch (const std::exception& e) {
                notes.push_back("redis (" + std::string(variants[v].name) + ") " + what + ": " + e.what());
            }
        };
        std::shared_ptr<multisession::storage> store;
        try {
            store = multisession::make_redis_storage(options);
        } catch (const std::exception& e) {
            notes.push_back(std::string("redis (construction): ") + e.what());
        }
        const std::vector<std::size_t> thread_counts =
            t == 1 ? std::vector<std::size_t>{1} : std::vector<std::size_t>{1, t};
        for (const std::size_t threads : thread_counts) {
            if (store) {
                try {
                    server_costs used;
                    auto [mine, theirs] = redis_ops(*server, *store, threads, keys, raw_keys, n, used);
                    rows.push_back(std::move(mine));
                    rows.push_back(std::move(theirs));
                    costs.emplace_back(threads, used);
                } catch (const std::exception& e) {
                    notes.push_back("redis (" + std::string(variants[v].name) + ") store: " + e.what());
                }
            }
            attempt("redis-benchmark", [&] {
                server->flush_all();
                return redis_benchmark(server->port(), threads, 1, benchmark_n);
            });
        }
        if (v == 0) {
            for (const std::size_t clients : thread_counts) {
                attempt("redis-benchmark -P 16", [&] {
                    server->flush_all();
                    return redis_benchmark(server->port(), clients, 16, benchmark_n);
                });
            }
        }
        print_redis_tables(rows);
        std::printf(
            "\nServer time per command, microseconds (INFO commandstats; the store's get and compare_and_set "
            "are EVALSHA of a\nLua script, its set a plain SET; GET also counts the GET inside the get script)\n");
        std::printf("%-36s %3s %8s %14s %8s %14s\n", "phase", "thr", "SET", "get: EVALSHA", "GET", "cas: EVALSHA");
        for (const auto& [threads, c] : costs)
            std::printf("%-36s %3zu %8.2f %14.2f %8.2f %14.2f\n", "store and raw hiredis", threads, c.set_us,
                        c.get_script_us, c.plain_get_us, c.cas_script_us);

        // Ratios: the store against raw hiredis and against redis-benchmark at the same thread count.
        auto find = [&](std::string_view prefix, std::size_t threads) -> const redis_row* {
            for (const auto& r : rows) {
                if (r.threads == threads && std::string_view(r.client).substr(0, prefix.size()) == prefix &&
                    r.client.find("-P") == std::string::npos)
                    return &r;
            }
            return nullptr;
        };
        std::printf(
            "\nStore vs the raw clients, throughput ratio store/raw (set; get: the store's get is a Lua script, "
            "the raw one a plain GET)\n");
        std::printf("%-36s %3s %8s %8s\n", "against", "thr", "set", "get");
        for (const std::size_t threads : thread_counts) {
            const redis_row* mine = find("redis store", threads);
            for (const std::string_view other :
                 {std::string_view("  raw hiredis"), std::string_view("redis-benchmark")}) {
                const redis_row* theirs = find(other, threads);
                if (mine == nullptr || theirs == nullptr || !mine->set || !theirs->set || !mine->get || !theirs->get)
                    continue;
                std::printf("%-36s %3zu %8.2f %8.2f\n", std::string(other.substr(other.find_first_not_of(' '))).c_str(),
                            threads, mine->set->per_s / theirs->set->per_s, mine->get->per_s / theirs->get->per_s);
            }
        }
        std::fflush(stdout);
        if (v == 0) run_redis_large(s, keys, *server, store.get(), notes);
        store.reset();
        server->stop(SIGTERM); // by its PID, and reaped
    }
}

/// Large keyspaces on `server`: loaded raw, then enumerated and removed by the store and raw.
void run_redis_large(const settings& s, const std::vector<std::string>& keys, multisession::test::redis_server& server,
                     multisession::storage* store, std::vector<std::string>& notes) {
    using multisession::test::redis_client;
    std::printf(
        "\nRedis large keyspaces (no persistence): loaded with MSET (1000 keys per command, one raw connection),\n"
        "then every key enumerated and all removed, through the store (for_each_key, remove_prefix) and through\n"
        "one raw connection (SCAN MATCH bench:* COUNT 1000 TYPE string; removal: one UNLINK per page).\n"
        "Seconds, keys per second, and the server's own seconds (INFO commandstats: SCAN + EVALSHA, or SCAN + "
        "UNLINK)\n");
    std::printf("%-26s %8s %7s | %8s %8s %8s | %8s %8s %8s\n", "client", "keys", "load s", "enum s", "keys/s",
                "server s", "remove s", "keys/s", "server s");
    struct step {
        std::string seconds = "n/a", rate = "n/a", server = "n/a";
    };
    for (const auto size : s.large) {
        std::string load_text = "n/a", raw_load_text = "n/a";
        step scan, remove, raw_scan, raw_remove;
        try {
            if (!store) throw std::runtime_error("no store");
            server.flush_all();
            redis_client raw(server.port(), std::chrono::seconds(60));
            redis_client stats(server.port());
            // Runs `work`, which must account for `size` keys, and fills `out`; the server's time is
            // the sum over the top-level commands `names`.
            auto timed = [&](step& out, std::initializer_list<const char*> names, auto&& work) {
                reset_stats(stats);
                const auto start = clock_type::now();
                const std::size_t count = work();
                const double elapsed = seconds_since(start);
                auto used = command_stats(stats);
                double server_us = 0;
                for (const char* name : names)
                    server_us += used[name].usec;
                out.seconds = secs(elapsed);
                out.rate = per_second(static_cast<double>(size) / elapsed);
                out.server = secs(server_us / 1e6);
                return count;
            };
            auto start = clock_type::now();
            redis_load(raw, keys, size);
            load_text = secs(seconds_since(start));

            std::size_t seen = timed(scan, {"scan", "evalsha"}, [&] {
                std::size_t met = 0;
                store->for_each_key("bench:", [&](std::string_view) { ++met; });
                return met;
            });
            if (seen != size) throw std::runtime_error("for_each_key saw " + std::to_string(seen) + " keys");
            const std::size_t removed =
                timed(remove, {"scan", "evalsha"}, [&] { return store->remove_prefix("bench:"); });
            if (removed != size) throw std::runtime_error("remove_prefix removed " + std::to_string(removed));

            start = clock_type::now();
            redis_load(raw, keys, size);
            raw_load_text = secs(seconds_since(start));
            seen = timed(raw_scan, {"scan"}, [&] { return redis_raw_walk(raw, false); });
            if (seen < size) throw std::runtime_error("raw SCAN met " + std::to_string(seen) + " keys");
            const std::size_t unlinked =
                timed(raw_remove, {"scan", "unlink"}, [&] { return redis_raw_walk(raw, true); });
            if (unlinked != size) throw std::runtime_error("raw UNLINK removed " + std::to_string(unlinked));
        } catch (const std::exception& e) {
            notes.push_back("redis large: " + std::string(e.what()));
        }
        auto line = [&](const char* client, const std::string& load, const step& a, const step& b) {
            std::printf("%-26s %8zu %7s | %8s %8s %8s | %8s %8s %8s\n", client, size, load.c_str(), a.seconds.c_str(),
                        a.rate.c_str(), a.server.c_str(), b.seconds.c_str(), b.rate.c_str(), b.server.c_str());
        };
        line("redis store", load_text, scan, remove);
        line("  raw SCAN / SCAN+UNLINK", raw_load_text, raw_scan, raw_remove);
        std::fflush(stdout);
    }
}
} // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    sqlite_page_size = s.sqlite_page_size;
    std::optional<multisession::test::temp_dir> scratch_holder;
    try {
        scratch_holder.emplace(s.dir, "storage-bench");
    } catch (const std::runtime_error& e) {
        usage(e.what());
    }
    auto& scratch = *scratch_holder;
    std::size_t biggest = std::max({s.n, s.n_durable, s.n_redis});
    for (const auto size : s.large)
        biggest = std::max(biggest, size);
    const auto keys = make_keys(biggest);
    std::vector<std::string> notes;

    std::printf("storage_bench: files under %s; SQLite %s; keys 14 bytes, values %zu bytes; one thread unless said; "
                "%u cores, load average %s\n",
                scratch.path().c_str(), sqlite3_libversion(), value_a.size(), std::thread::hardware_concurrency(),
                load_average().c_str());
    const bool local = s.runs("memory") || s.runs("file") || s.runs("sqlite");
    if (local) {
        std::printf("\nOperations per second (set in key order; get and compare_and_set in scattered order;\n"
                    "raw rows: plain SQLite on its own file, same table and pragmas, run in alternating chunks)\n");
        std::printf("%-20s %9s %12s %12s %12s\n", "backend", "N", "set/s", "get/s", "cas/s");
        struct ratio_row {
            const char* name;
            op_figures store, raw;
        };
        std::vector<ratio_row> ratios;
        int serial = 0;
        for (const auto& b : backends()) {
            if (!s.runs(family_of(b.name))) continue;
            const std::size_t n = b.durable ? s.n_durable : s.n;
            std::string set_text = "n/a", get_text = "n/a", cas_text = "n/a";
            std::optional<op_figures> raw_result;
            try {
                auto store = b.open(scratch.path() / ("ops-" + std::to_string(++serial)));
                try {
                    std::unique_ptr<raw_kv> raw;
                    if (b.raw_loadable)
                        raw = std::make_unique<raw_kv>(scratch.path() / ("raw-" + std::to_string(serial) + ".db"),
                                                       b.full_sync);
                    const auto [figures, raw_figures] = run_ops(*store, raw.get(), keys, n);
                    set_text = per_second(figures.set_per_s);
                    get_text = per_second(figures.get_per_s);
                    cas_text = per_second(figures.cas_per_s);
                    if (raw) {
                        raw_result = raw_figures;
                        ratios.push_back({b.name, figures, raw_figures});
                    }
                } catch (const std::exception& e) {
                    notes.push_back(std::string(b.name) + ": " + e.what());
                }
            } catch (const std::exception& e) {
                notes.push_back(std::string(b.name) + " (construction): " + e.what());
            }
            std::printf("%-20s %9zu %12s %12s %12s\n", b.name, n, set_text.c_str(), get_text.c_str(), cas_text.c_str());
            if (raw_result) {
                std::printf("%-20s %9zu %12s %12s %12s\n", ("  raw " + std::string(b.name)).c_str(), n,
                            per_second(raw_result->set_per_s).c_str(), per_second(raw_result->get_per_s).c_str(), "-");
            }
            std::fflush(stdout);
        }

        if (!ratios.empty()) {
            std::printf("\nStore vs raw SQLite, throughput ratio store/raw (1.00 = as fast as raw; goal >= 0.50)\n");
            std::printf("%-20s %8s %8s\n", "backend", "set", "get");
            for (const auto& row : ratios) {
                std::printf("%-20s %8.2f %8.2f\n", row.name, row.store.set_per_s / row.raw.set_per_s,
                            row.store.get_per_s / row.raw.get_per_s);
            }
        }

        if (s.runs("sqlite")) {
            std::printf("\nsqlite, 3 reader threads (get) + 1 writer thread (set) for 2 s, 10000 keys, by pool size\n");
            std::printf("%-20s %16s %12s %12s\n", "backend", "max_connections", "get/s", "set/s");
            for (const auto mode : {multisession::sqlite_synchronous::full, multisession::sqlite_synchronous::normal}) {
                for (const std::size_t pool : {std::size_t{1}, std::size_t{4}}) {
                    const auto figures =
                        run_mixed(scratch.path() / ("mixed-" + std::to_string(++serial) + ".db"), mode, pool, keys,
                                  std::min<std::size_t>(10'000, keys.size()), std::chrono::seconds(2));
                    std::printf("%-20s %16zu %12s %12s\n",
                                mode == multisession::sqlite_synchronous::full ? "sqlite full" : "sqlite normal", pool,
                                per_second(figures.get_per_s).c_str(), per_second(figures.set_per_s).c_str());
                    std::fflush(stdout);
                }
            }
        }

        std::printf(
            "\nLarge stores: load, enumerate every key (for_each_key), remove them all (remove_prefix), seconds\n");
        std::printf("%-20s %9s %-10s %10s %14s %15s\n", "backend", "keys", "load via", "load s", "for_each_key s",
                    "remove_prefix s");
        for (const auto size : s.large) {
            for (const auto& b : backends()) {
                if (size > b.max_large || !s.runs(family_of(b.name))) continue;
                std::string load_text = "n/a", scan_text = "n/a", remove_text = "n/a";
                const char* load_via = b.raw_loadable ? "raw txn" : "set";
                try {
                    const auto where = scratch.path() / ("large-" + std::to_string(++serial));
                    auto store = b.open(where);
                    try {
                        auto start = clock_type::now();
                        if (b.raw_loadable) {
                            raw_sqlite raw(where.string() + ".db", b.full_sync);
                            raw_load(raw, keys, size);
                        } else {
                            for (std::size_t i = 0; i < size; ++i)
                                store->set(keys[i], value_a);
                        }
                        load_text = secs(seconds_since(start));

                        std::size_t seen = 0;
                        start = clock_type::now();
                        store->for_each_key("bench:", [&](std::string_view) { ++seen; });
                        scan_text = secs(seconds_since(start));
                        if (seen != size)
                            throw std::runtime_error("for_each_key saw " + std::to_string(seen) + " keys");

                        start = clock_type::now();
                        const std::size_t removed = store->remove_prefix("bench:");
                        remove_text = secs(seconds_since(start));
                        if (removed != size)
                            throw std::runtime_error("remove_prefix removed " + std::to_string(removed));
                    } catch (const std::exception& e) {
                        notes.push_back(std::string(b.name) + " large: " + e.what());
                    }
                } catch (const std::exception& e) {
                    notes.push_back(std::string(b.name) + " (construction): " + e.what());
                }
                std::printf("%-20s %9zu %-10s %10s %14s %15s\n", b.name, size, load_via, load_text.c_str(),
                            scan_text.c_str(), remove_text.c_str());
                std::fflush(stdout);
            }
        }
    }

    if (s.runs("redis")) run_redis(s, keys, notes);

    if (!notes.empty()) {
        std::printf("\nn/a:\n");
        for (const auto& note : notes) std::printf("  %s\n", note.c_str());
    }
    return 0;
}
