// storage_bench: throughput of the storage backends, single-threaded, on one file system, with a
// raw SQLite baseline run in the same process under the same pragmas.
//
//   storage_bench [--n N] [--n-durable N] [--large N]... [--dir PATH]
//
//   --n N          operations per phase for the non-durable backends (default 200000)
//   --n-durable N  operations per phase for the durable ones: file durable, sqlite full (default 20000)
//   --large N      a size for the enumeration/removal runs; repeatable; replaces the defaults
//                  (100000 and 1000000). The file backend runs only sizes up to 100000.
//   --dir PATH     where the stores are created (default $TMPDIR or /tmp); removed afterwards
//
// Keys are "bench:%08d" (14 bytes), values 100 bytes. set writes keys in order; get and
// compare_and_set visit them in a scattered order. The raw SQLite baseline (a prepared UPSERT and
// a prepared SELECT, each statement its own autocommit transaction, WAL and the store's pragmas)
// runs on its own file in the same directory, in chunks alternating with the store's. For the large runs, memory and file are loaded
// through the store's set; sqlite is loaded through one raw SQLite transaction on the store's own
// file (the point is enumerating and removing, and a million autocommit inserts would dominate).
#include "../tests/support/temp_dir.hpp"

#include <multisession/storage/file.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/sqlite.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <thread>
#include <atomic>
#include <string>
#include <vector>

namespace {

using multisession::storage;
using clock_type = std::chrono::steady_clock;

struct settings {
    std::size_t n = 200'000;
    std::size_t n_durable = 20'000;
    std::vector<std::size_t> large = {100'000, 1'000'000};
    std::filesystem::path dir;
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr, "storage_bench: %s\nusage: storage_bench [--n N] [--n-durable N] [--large N]... [--dir PATH]\n",
                 message);
    std::exit(2);
}

settings parse(int argc, char** argv) {
    settings s;
    const char* base = std::getenv("TMPDIR");
    s.dir = base && *base ? base : "/tmp";
    bool large_given = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
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

} // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    std::optional<multisession::test::temp_dir> scratch_holder;
    try {
        scratch_holder.emplace(s.dir, "storage-bench");
    } catch (const std::runtime_error& e) {
        usage(e.what());
    }
    auto& scratch = *scratch_holder;
    std::size_t biggest = std::max(s.n, s.n_durable);
    for (const auto size : s.large) biggest = std::max(biggest, size);
    const auto keys = make_keys(biggest);
    std::vector<std::string> notes;

    std::printf("storage_bench: files under %s; SQLite %s; keys 14 bytes, values %zu bytes; one thread\n\n",
                scratch.path().c_str(), sqlite3_libversion(), value_a.size());

    std::printf("Operations per second (set in key order; get and compare_and_set in scattered order;\n"
                "raw rows: plain SQLite on its own file, same table and pragmas, run in alternating chunks)\n");
    std::printf("%-20s %9s %12s %12s %12s\n", "backend", "N", "set/s", "get/s", "cas/s");
    struct ratio_row {
        const char* name;
        op_figures store, raw;
    };
    std::vector<ratio_row> ratios;
    int serial = 0;
    for (const auto& b : backends()) {
        const std::size_t n = b.durable ? s.n_durable : s.n;
        std::string set_text = "n/a", get_text = "n/a", cas_text = "n/a";
        std::optional<op_figures> raw_result;
        try {
            auto store = b.open(scratch.path() / ("ops-" + std::to_string(++serial)));
            try {
                std::unique_ptr<raw_kv> raw;
                if (b.raw_loadable)
                    raw = std::make_unique<raw_kv>(scratch.path() / ("raw-" + std::to_string(serial) + ".db"), b.full_sync);
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

    std::printf("\nStore vs raw SQLite, throughput ratio store/raw (1.00 = as fast as raw; goal >= 0.50)\n");
    std::printf("%-20s %8s %8s\n", "backend", "set", "get");
    for (const auto& row : ratios) {
        std::printf("%-20s %8.2f %8.2f\n", row.name, row.store.set_per_s / row.raw.set_per_s,
                    row.store.get_per_s / row.raw.get_per_s);
    }

    std::printf("\nsqlite, 3 reader threads (get) + 1 writer thread (set) for 2 s, 10000 keys, by pool size\n");
    std::printf("%-20s %16s %12s %12s\n", "backend", "max_connections", "get/s", "set/s");
    for (const auto mode : {multisession::sqlite_synchronous::full, multisession::sqlite_synchronous::normal}) {
        for (const std::size_t pool : {std::size_t{1}, std::size_t{4}}) {
            const auto figures = run_mixed(scratch.path() / ("mixed-" + std::to_string(++serial) + ".db"), mode, pool,
                                           keys, std::min<std::size_t>(10'000, keys.size()), std::chrono::seconds(2));
            std::printf("%-20s %16zu %12s %12s\n",
                        mode == multisession::sqlite_synchronous::full ? "sqlite full" : "sqlite normal", pool,
                        per_second(figures.get_per_s).c_str(), per_second(figures.set_per_s).c_str());
            std::fflush(stdout);
        }
    }

    std::printf("\nLarge stores: load, enumerate every key (for_each_key), remove them all (remove_prefix), seconds\n");
    std::printf("%-20s %9s %-10s %10s %14s %15s\n", "backend", "keys", "load via", "load s", "for_each_key s",
                "remove_prefix s");
    for (const auto size : s.large) {
        for (const auto& b : backends()) {
            if (size > b.max_large) continue;
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
                        for (std::size_t i = 0; i < size; ++i) store->set(keys[i], value_a);
                    }
                    load_text = secs(seconds_since(start));

                    std::size_t seen = 0;
                    start = clock_type::now();
                    store->for_each_key("bench:", [&](std::string_view) { ++seen; });
                    scan_text = secs(seconds_since(start));
                    if (seen != size) throw std::runtime_error("for_each_key saw " + std::to_string(seen) + " keys");

                    start = clock_type::now();
                    const std::size_t removed = store->remove_prefix("bench:");
                    remove_text = secs(seconds_since(start));
                    if (removed != size) throw std::runtime_error("remove_prefix removed " + std::to_string(removed));
                } catch (const std::exception& e) {
                    notes.push_back(std::string(b.name) + " large: " + e.what());
                }
            } catch (const std::exception& e) {
                notes.push_back(std::string(b.name) + " (construction): " + e.what());
            }
            std::printf("%-20s %9zu %-10s %10s %14s %15s\n", b.name, size, load_via, load_text.c_str(), scan_text.c_str(),
                        remove_text.c_str());
            std::fflush(stdout);
        }
    }

    if (!notes.empty()) {
        std::printf("\nn/a:\n");
        for (const auto& note : notes) std::printf("  %s\n", note.c_str());
    }
    return 0;
}
