// instant_bench: what rehydration costs the client alone, the provider taken out of the picture.
//
//   instant_bench [--n N]... [--store memory|sqlite|both] [--concurrency C] [--threads T]
//                 [--alg ES256|RS256] [--growth] [--growth-max N] [--sqlite-rehydrate-max N]
//                 [--memory-n N] [--samples S] [--store-dir DIR] [--sqlite-page-size BYTES]
//
//   --n N                   sessions per run; repeatable (default 2000 and 10000)
//   --store S               memory, sqlite (synchronous=normal) or both (default both)
//   --concurrency C         sessions refreshed at once by rehydrate() (default 64)
//   --threads T             the session manager's I/O threads (default 1)
//   --storage-threads S     the session manager's store threads (default 0: store work, the key
//                           restore and the ID-token check run on the I/O thread)
//   --alg A                 the ID tokens' signature algorithm (default ES256)
//   --growth                list, clear and rehydrate at 10 000, 100 000 and 1 000 000 sessions
//   --growth-max N          the largest growth size (default 1000000)
//   --sqlite-rehydrate-max N  the largest growth size rehydrated with SQLite (default 100000;
//                           larger SQLite sizes are listed and cleared only)
//   --memory-n N            bytes per stored session measured with N sessions in a memory store
//                           (default 1000000; 0 skips it)
//   --samples S             iterations of each step timed alone (default 2000)
//   --store-dir DIR         where SQLite files go (default $TMPDIR or /tmp); removed afterwards
//   --sqlite-page-size B    page size of the SQLite files (default: the store's own default)
//
// The token endpoint is the embedded test issuer in its presigned_refresh mode: every refresh
// token it mints comes with its whole answer (successor refresh token, access token, ID token)
// signed at mint time, and POST /token answers with those bytes without checking the client or
// the DPoP proof. What is left on the server thread is Beast reading the request, a map lookup
// and the write; its CPU per request is reported ("issuer us"), and the client's CPU is the
// process's minus that thread's (read from /proc/self/task/<tid>/schedstat).
//
// Each run: one P-256 DPoP key pair per session (generated once, on two threads, shared by the
// runs), a fresh issuer, N sessions stored as a login leaves them (the record, with its key pair,
// refresh token and WebID, and the WebID entry multisession:webid:<sha256hex>:<id>), a fresh
// session_manager over a counting decorator of the store, then
//   1. list (get_session_id_from_storage_all), 2. rehydrate (concurrency C), 3. clear
//   (clear_session_from_storage_all).
// Every session must come back logged in with its WebID, the issuer must have answered exactly N
// token requests (one discovery, no reuse); anything else fails the run (exit status 1).
//
// The breakdown times each step of a rehydration alone, per session, in CPU time of the threads
// doing it (the calling thread; for the round trip also the client's I/O thread), with the
// library's internal pieces. Their sum is set against the client CPU per session measured in the
// runs; the difference is the orchestration (single-flight table, session state, events, callbacks
// and thread hand-offs) plus whatever the steps cost more under load.
//
// Profiling: INSTANT_BENCH_PERF_CTL=<fifo> with perf record -D -1 --control fifo:<fifo> limits the
// profile to the rehydrations (see perf_control).
//
// Growth: records seeded directly (memory: set; SQLite: one raw transaction, as storage_bench's
// large part), no counting decorator; list, clear, and (up to the limits above) rehydrate.
#include "bench_process.hpp"

#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/open.hpp>

#include "oidc/dpop.hpp"
#include "oidc/jwt.hpp"
#include "oidc/provider_client.hpp"
#include "oidc/wire_token.hpp"
#include "session/record_store.hpp"
#include "session/session_record.hpp"

#include "../tests/support/temp_dir.hpp"
#include "../tests/support/test_http_server.hpp"
#include "../tests/support/test_issuer.hpp"
#include "../tests/support/transport_thread.hpp"

#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ms = multisession;
namespace oidc = multisession::oidc;
namespace http = multisession::http;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using clock_type = std::chrono::steady_clock;
using multisession::bench::process_cpu_seconds;
using multisession::bench::seconds_since;
using multisession::bench::thread_cpu_seconds;
using multisession::bench::thread_ids;
using multisession::bench::current_rss_bytes;
using multisession::bench::heap_in_use_bytes;
using multisession::bench::mib;
using multisession::bench::peak_rss_mib;
using multisession::bench::release_free_memory;

namespace {

const std::string client_id = "bench-app";
const std::string client_secret = "bench-secret";

struct settings {
    std::vector<std::size_t> ns;
    bool memory = true, sqlite = true;
    std::size_t concurrency = 64;
    std::size_t threads = 1;
    std::size_t storage_threads = 0;
    std::string alg = "ES256";
    bool growth = false;
    std::size_t growth_max = 1'000'000;
    std::size_t sqlite_rehydrate_max = 100'000;
    std::size_t memory_n = 1'000'000;
    std::size_t samples = 2000;
    std::filesystem::path dir;
    std::size_t sqlite_page_size = 0; // 0: the store's default
};

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr,
                 "instant_bench: %s\nusage: instant_bench [--n N]... [--store memory|sqlite|both] [--concurrency C] "
                 "[--threads T] [--storage-threads S] [--alg ES256|RS256] [--growth] [--growth-max N] [--sqlite-rehydrate-max N] "
                 "[--memory-n N] [--samples S] [--store-dir DIR] [--sqlite-page-size BYTES]\n",
                 message.c_str());
    std::exit(2);
}

settings parse(int argc, char** argv) {
    settings s;
    const char* base = std::getenv("TMPDIR");
    s.dir = base && *base ? base : "/tmp";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--growth") {
            s.growth = true;
            continue;
        }
        if (i + 1 >= argc) usage("missing value after " + arg);
        const std::string value = argv[++i];
        auto number = [&](bool zero_ok) {
            char* end = nullptr;
            const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || (n == 0 && !zero_ok)) usage("bad number for " + arg);
            return static_cast<std::size_t>(n);
        };
        if (arg == "--n") {
            s.ns.push_back(number(false));
        } else if (arg == "--store") {
            if (value != "memory" && value != "sqlite" && value != "both") usage("--store memory|sqlite|both");
            s.memory = value != "sqlite";
            s.sqlite = value != "memory";
        } else if (arg == "--concurrency") {
            s.concurrency = number(false);
        } else if (arg == "--threads") {
            s.threads = number(false);
        } else if (arg == "--storage-threads") {
            s.storage_threads = number(true);
        } else if (arg == "--alg") {
            if (value != "ES256" && value != "RS256") usage("--alg ES256|RS256");
            s.alg = value;
        } else if (arg == "--growth-max") {
            s.growth_max = number(false);
        } else if (arg == "--sqlite-rehydrate-max") {
            s.sqlite_rehydrate_max = number(true);
        } else if (arg == "--memory-n") {
            s.memory_n = number(true);
        } else if (arg == "--samples") {
            s.samples = number(false);
        } else if (arg == "--store-dir") {
            s.dir = value;
        } else if (arg == "--sqlite-page-size") {
            s.sqlite_page_size = number(false);
        } else {
            usage("unknown option " + arg);
        }
    }
    if (s.ns.empty()) s.ns = {2000, 10000};
    return s;
}

// ---- clocks and memory ----------------------------------------------------------------------------

double clock_seconds(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double this_thread_cpu_seconds() { return clock_seconds(CLOCK_THREAD_CPUTIME_ID); }

/// An issuer in presigned mode, and its server thread (the one thread that appears while it starts).
struct instant_issuer {
    std::unique_ptr<test::test_issuer> issuer;
    std::optional<long> tid;

    explicit instant_issuer(const std::string& alg) {
        const auto before = thread_ids();
        test::test_issuer_options options;
        options.signing_algorithm = alg;
        options.presigned_refresh = true;
        issuer = std::make_unique<test::test_issuer>(options);
        std::vector<long> started;
        for (const long id : thread_ids())
            if (!before.count(id)) started.push_back(id);
        if (started.size() == 1) tid = started.front();
        issuer->add_client({client_id, client_secret, std::nullopt});
    }
    [[nodiscard]] std::optional<double> cpu() const { return tid ? thread_cpu_seconds(*tid) : std::nullopt; }
};

/// With INSTANT_BENCH_PERF_CTL naming perf's control FIFO (perf record -D -1 --control
/// fifo:PATH), the profile covers the rehydrations only: enabled before, disabled after.
void perf_control(const char* command) {
    const char* path = std::getenv("INSTANT_BENCH_PERF_CTL");
    if (!path || !*path) return;
    std::ofstream ctl(path);
    ctl << command << '\n';
    ctl.flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(50)); // let perf act on it
}

// ---- a store that counts what is asked of it -------------------------------------------------------

struct op_counts {
    std::atomic<std::uint64_t> get{0}, set{0}, remove{0}, cas{0}, scan{0}, remove_prefix{0};
    void reset() {
        for (auto* c : {&get, &set, &remove, &cas, &scan, &remove_prefix})
            c->store(0);
    }
};

/// Forwards every operation to `inner` and counts it. The inner store reads its own clock.
class counting_storage final : public ms::storage {
public:
    explicit counting_storage(std::shared_ptr<ms::storage> inner) : inner_(std::move(inner)) {}
    op_counts counts;

protected:
    std::optional<std::string> do_get(std::string_view key, ms::time_point) override {
        ++counts.get;
        return inner_->get(key);
    }
    void do_set(std::string_view key, std::string_view value, std::optional<ms::time_point> expires_at,
                ms::time_point) override {
        ++counts.set;
        inner_->set(key, value, expires_at);
    }
    bool do_remove(std::string_view key, ms::time_point) override {
        ++counts.remove;
        return inner_->remove(key);
    }
    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<ms::time_point> expires_at,
                            ms::time_point) override {
        ++counts.cas;
        return inner_->compare_and_set(key, expected, desired, expires_at);
    }
    void do_scan(std::string_view prefix, bool with_values, const ms::entry_visitor& visit, ms::time_point) override {
        ++counts.scan;
        if (with_values)
            inner_->for_each(prefix, [&](std::string_view k, std::string_view v) { return visit(k, v); });
        else
            inner_->for_each_key(prefix, [&](std::string_view k) { return visit(k, {}); });
    }
    void do_scan_where(std::string_view prefix, const ms::value_filter& keep, const ms::entry_visitor& visit,
                       ms::time_point) override {
        ++counts.scan;
        inner_->for_each_key_where(prefix, keep, [&](std::string_view k) { return visit(k, {}); });
    }
    std::size_t do_remove_prefix(std::string_view prefix, ms::time_point) override {
        ++counts.remove_prefix;
        return inner_->remove_prefix(prefix);
    }
    prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const ms::value_filter* match,
                                      ms::time_point) override {
        ++counts.remove_prefix;
        return inner_->remove_prefixes(prefixes, match ? *match : ms::value_filter{});
    }
    std::size_t do_purge_expired(ms::time_point) override { return inner_->purge_expired(); }

private:
    std::shared_ptr<ms::storage> inner_;
};

// ---- sessions as a login leaves them ----------------------------------------------------------------

struct stored_key {
    std::string public_jwk, private_jwk, thumbprint;
};

/// Grows `keys` to `n` fresh P-256 key pairs, on two threads.
void ensure_keys(std::vector<stored_key>& keys, std::size_t n) {
    if (keys.size() >= n) return;
    const auto start = clock_type::now();
    const std::size_t from = keys.size();
    keys.resize(n);
    auto fill = [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
            const auto key = oidc::dpop_key::generate();
            keys[i] = {key.public_jwk_json(), key.private_jwk_json(), key.thumbprint()};
        }
    };
    const std::size_t mid = from + (n - from) / 2;
    std::thread other(fill, mid, n);
    fill(from, mid);
    other.join();
    std::printf("setup: %zu P-256 key pairs generated in %.2f s (two threads)\n", n - from, seconds_since(start));
    std::fflush(stdout);
}

std::string session_id(std::size_t i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "bench-%07zu", i);
    return buf;
}

std::string webid_of(std::size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "https://pod.example/user-%07zu/profile/card#me", i);
    return buf;
}

/// The record a login writes (login.cpp: record fields), with `refresh_token`.
std::string record_text(const std::string& issuer, const stored_key& key, const std::string& webid,
                        const std::string& refresh_token, std::int64_t now_ms) {
    sd::session_record r;
    r.issuer = issuer;
    r.client_id = client_id;
    r.client_secret = client_secret;
    r.client_type = "static";
    r.dpop = true;
    r.public_key = key.public_jwk;
    r.private_key = key.private_jwk;
    r.webid = webid;
    r.is_logged_in = true;
    r.refresh_token = refresh_token;
    r.created_at = now_ms;
    r.updated_at = now_ms;
    r.access_token_expires_at = now_ms + 300'000;
    return sd::serialize_session_record(r);
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void check(int rc, sqlite3* db, const char* what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

/// Where sessions are seeded: a store's set, or one raw SQLite transaction on its file.
class seeder {
public:
    seeder(ms::storage* store, const std::optional<std::filesystem::path>& sqlite_file) : store_(store) {
        if (!sqlite_file) return;
        check(sqlite3_open_v2(sqlite_file->c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr), db_,
              "open");
        sqlite3_busy_timeout(db_, 5000);
        check(sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr), db_, "begin");
        check(sqlite3_prepare_v2(db_,
                                 "INSERT INTO multisession_kv(key, value, expires_at) VALUES (?1, ?2, NULL) "
                                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = NULL",
                                 -1, &insert_, nullptr),
              db_, "prepare");
    }
    ~seeder() {
        if (insert_) sqlite3_finalize(insert_);
        if (db_) sqlite3_close_v2(db_);
    }
    seeder(const seeder&) = delete;
    seeder& operator=(const seeder&) = delete;

    void put(const std::string& key, const std::string& value) {
        if (!db_) return store_->set(key, value);
        sqlite3_bind_blob(insert_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
        sqlite3_bind_blob(insert_, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
        check(sqlite3_step(insert_), db_, "insert");
        sqlite3_reset(insert_);
    }
    void commit() {
        if (db_) check(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr), db_, "commit");
    }

private:
    ms::storage* store_;
    sqlite3* db_ = nullptr;
    sqlite3_stmt* insert_ = nullptr;
};

/// Stores n sessions (record + WebID entry); with an issuer, each refresh token minted (and its
/// answer prepared) there, else a random-looking placeholder (for list and clear only).
void seed_sessions(seeder& out, test::test_issuer* issuer, const std::string& issuer_url,
                   const std::vector<stored_key>& keys, std::size_t n) {
    const auto at = now_ms();
    for (std::size_t i = 0; i < n; ++i) {
        const auto id = session_id(i);
        const auto webid = webid_of(i);
        const auto& key = keys[i % keys.size()];
        const auto token = issuer ? issuer->mint_refresh_token(client_id, webid, key.thumbprint)
                                  : std::string("placeholder-refresh-token-") + id + std::string(10, 'x');
        out.put(sd::record_key(id), record_text(issuer_url, key, webid, token, at));
        out.put(sd::webid_entry_key(webid, id), webid);
    }
    out.commit();
}

enum class store_kind { memory, sqlite };

/// The query of every SQLite store's URI (--sqlite-page-size adds to it).
std::string sqlite_query = "?synchronous=normal";
const char* name_of(store_kind k) { return k == store_kind::memory ? "memory" : "sqlite normal"; }

/// A fresh store of `kind` (SQLite: a new file under `dir`, synchronous=normal).
std::shared_ptr<ms::storage> open_store(store_kind kind, const std::filesystem::path& dir, int serial,
                                        std::optional<std::filesystem::path>& file) {
    if (kind == store_kind::memory) {
        file.reset();
        return ms::make_memory_storage();
    }
    file = dir / ("instant-" + std::to_string(serial) + ".db");
    return ms::open_storage("sqlite:" + file->string() + sqlite_query);
}

// ---- one rehydration run --------------------------------------------------------------------------

struct run_figures {
    double setup_s = 0, list_s = 0, rehydrate_s = 0, clear_s = 0;
    double process_cpu_s = 0;
    std::optional<double> issuer_cpu_s;
    double rss_before_mib = 0, rss_held_mib = 0, peak_rss_mib = 0;
    std::optional<double> heap_held_mib;             // growth with the N sessions held
    double gets = 0, sets = 0, cas = 0, removes = 0; // per session, during the rehydration
    test::issuer_stats issuer{};
    std::vector<std::string> problems;
};

run_figures run_one(store_kind kind, std::size_t n, const settings& s, const std::vector<stored_key>& keys,
                    const std::filesystem::path& dir, int serial, bool count_ops) {
    run_figures fig;
    auto fail = [&](std::string what) { fig.problems.push_back(std::move(what)); };
    instant_issuer server(s.alg);
    std::optional<std::filesystem::path> file;
    auto bare = open_store(kind, dir, serial, file);
    const auto setup_start = clock_type::now();
    {
        seeder out(bare.get(), file);
        seed_sessions(out, server.issuer.get(), server.issuer->issuer(), keys, n);
    }
    fig.setup_s = seconds_since(setup_start);

    std::shared_ptr<counting_storage> counted;
    ms::session_manager_options options;
    if (count_ops) {
        counted = std::make_shared<counting_storage>(bare);
        options.store = counted;
    } else {
        options.store = bare;
    }
    options.threads = s.threads;
    options.storage_threads = s.storage_threads;
    options.allow_insecure_loopback = true;
    ms::session_manager manager(options);

    auto t = clock_type::now();
    auto ids = manager.get_session_id_from_storage_all();
    fig.list_s = seconds_since(t);
    if (ids.size() != n) fail("listed " + std::to_string(ids.size()) + " ids, stored " + std::to_string(n));

    release_free_memory();
    fig.rss_before_mib = current_rss_bytes() / mib;
    const auto heap_before = heap_in_use_bytes();
    if (counted) counted->counts.reset();
    ms::batch_options batch;
    batch.concurrency = s.concurrency;
    const auto issuer_cpu0 = server.cpu();
    const double cpu0 = process_cpu_seconds();
    perf_control("enable");
    t = clock_type::now();
    auto results = manager.rehydrate(ids, batch);
    fig.rehydrate_s = seconds_since(t);
    fig.process_cpu_s = process_cpu_seconds() - cpu0;
    perf_control("disable");
    const auto issuer_cpu1 = server.cpu();
    if (issuer_cpu0 && issuer_cpu1) fig.issuer_cpu_s = *issuer_cpu1 - *issuer_cpu0;
    fig.rss_held_mib = current_rss_bytes() / mib;
    fig.peak_rss_mib = peak_rss_mib();
    if (const auto heap = heap_in_use_bytes(); heap && heap_before) fig.heap_held_mib = (*heap - *heap_before) / mib;
    if (counted) {
        const double dn = static_cast<double>(n);
        fig.gets = static_cast<double>(counted->counts.get.load()) / dn;
        fig.sets = static_cast<double>(counted->counts.set.load()) / dn;
        fig.cas = static_cast<double>(counted->counts.cas.load()) / dn;
        fig.removes = static_cast<double>(counted->counts.remove.load()) / dn;
    }

    std::size_t failures = 0;
    std::string first_failure;
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        std::string why;
        if (r.error)
            why = r.error.category().name() + std::string(": ") + r.error.message();
        else if (!r.value)
            why = "no session";
        else if (!r.value->is_logged_in())
            why = "not logged in";
        else if (r.value->webid() != webid_of(std::stoul(r.session_id.substr(6))))
            why = "wrong WebID";
        if (!why.empty() && failures++ == 0) first_failure = r.session_id + ": " + why;
    }
    if (failures) fail(std::to_string(failures) + " sessions not logged in again, first: " + first_failure);
    if (results.size() != n) fail("rehydrate returned " + std::to_string(results.size()) + " results");
    results = {};
    ids = {};

    fig.issuer = server.issuer->stats();
    if (fig.issuer.token_requests != n)
        fail("issuer saw " + std::to_string(fig.issuer.token_requests) + " token requests");
    if (fig.issuer.discovery_requests != 1)
        fail("issuer saw " + std::to_string(fig.issuer.discovery_requests) + " discovery requests");
    if (fig.issuer.refresh_reuses != 0) fail("issuer saw reuses of a rotated refresh token");

    t = clock_type::now();
    const auto cleared = manager.clear_session_from_storage_all();
    fig.clear_s = seconds_since(t);
    if (cleared.session_ids.size() != n)
        fail("clear found " + std::to_string(cleared.session_ids.size()) + " sessions");
    return fig;
}

// ---- the breakdown: each step alone ---------------------------------------------------------------

/// CPU microseconds per call of `op` on this thread, over `samples` calls (after a warm-up on the
/// same iterations when `warm_up`: only for steps that can repeat); `op` gets the iteration number.
template <class F>
double cpu_us_per_call(std::size_t samples, F&& op, bool warm_up = true) {
    if (warm_up)
        for (std::size_t i = 0; i < std::min<std::size_t>(samples, 50); ++i)
            op(i);
    const double c0 = this_thread_cpu_seconds();
    for (std::size_t i = 0; i < samples; ++i)
        op(i);
    return (this_thread_cpu_seconds() - c0) * 1e6 / static_cast<double>(samples);
}

struct step {
    std::string name;
    double us;
    bool in_sum;
    step(std::string n, double u, bool sum = true) : name(std::move(n)), us(u), in_sum(sum) {}
};

/// The steps of one rehydration, alone, against a store of `kind`. Prints and returns their sum.
double breakdown(store_kind kind, const settings& s, const std::vector<stored_key>& keys,
                 const std::filesystem::path& dir, int serial, std::vector<step>& steps) {
    const std::size_t samples = std::min(s.samples, keys.size());
    instant_issuer server(s.alg);
    const auto issuer_url = server.issuer->issuer();

    // A store holding `samples` sessions, as in the runs.
    std::optional<std::filesystem::path> file;
    auto store = open_store(kind, dir, serial, file);
    std::vector<std::string> tokens;
    {
        seeder out(store.get(), file);
        const auto at = now_ms();
        for (std::size_t i = 0; i < samples; ++i) {
            const auto webid = webid_of(i);
            tokens.push_back(server.issuer->mint_refresh_token(client_id, webid, keys[i].thumbprint));
            out.put(sd::record_key(session_id(i)), record_text(issuer_url, keys[i], webid, tokens.back(), at));
            out.put(sd::webid_entry_key(webid, session_id(i)), webid);
        }
        out.commit();
    }

    // 1. storage get of a record; 2. its parse; 3. the key pair restored from its JWKs.
    std::vector<std::string> texts(samples);
    steps.push_back({"storage get of a record", cpu_us_per_call(samples, [&](std::size_t i) {
                         texts[i] = store->get(sd::record_key(session_id(i))).value();
                     })});
    std::vector<sd::session_record> records(samples);
    steps.push_back(
        {"record parse (" + std::to_string(texts[0].size()) + " bytes)", cpu_us_per_call(samples, [&](std::size_t i) {
             records[i] = sd::parse_session_record(session_id(i), texts[i]);
         })});
    std::vector<std::optional<oidc::dpop_key>> restored(samples);
    steps.push_back({"DPoP key restore from the record's JWKs", cpu_us_per_call(samples, [&](std::size_t i) {
                         restored[i] = oidc::dpop_key::from_jwk(*records[i].public_key, *records[i].private_key);
                     })});

    // The issuer's metadata and one real prepared answer, through the wire.
    test::transport_thread io([] {
        http::client_options o;
        o.allow_insecure_loopback = true;
        o.max_connections_per_origin = 1;
        return o;
    }());
    auto provider = oidc::provider_client::create(io.transport(), {.allow_insecure_loopback = true});
    const auto metadata = provider->discover(issuer_url);
    const oidc::client_info client{client_id, client_secret, oidc::client_type::static_client};
    const auto auth = oidc::choose_client_auth(*metadata, client);
    const auto now = std::chrono::system_clock::now();
    std::vector<std::string> proofs(samples);
    steps.push_back({"DPoP proof", cpu_us_per_call(samples, [&](std::size_t i) {
                         proofs[i] = oidc::make_dpop_proof(*restored[i], "POST", metadata->token_endpoint, now);
                     })});
    const auto [ec, first_answer] = io.send(
        oidc::refresh_token_request(*metadata, client, auth, tokens[0], std::nullopt,
                                    oidc::make_dpop_proof(*restored[0], "POST", metadata->token_endpoint, now)));
    if (ec || first_answer.status != 200) throw std::runtime_error("the instant endpoint did not answer a refresh");
    const http::response answer = first_answer;
    {
        // The answered token is retired: presenting it again is a reuse, refused.
        const auto again = io.send(
            oidc::refresh_token_request(*metadata, client, auth, tokens[0], std::nullopt,
                                        oidc::make_dpop_proof(*restored[0], "POST", metadata->token_endpoint, now)));
        if (again.first || again.second.status != 400 || server.issuer->stats().refresh_reuses != 1)
            throw std::runtime_error("the presigned issuer accepted a retired refresh token");
    }

    // 4. one token request round trip on a kept-alive connection, to a server that answers the
    // same bytes at once (the proof made beforehand): request built, sent, response read.
    {
        test::test_http_server instant([&](const http::request&) {
            auto out = test::reply::json(answer.body);
            out.headers.push_back({"Cache-Control", "no-store"});
            return out;
        });
        auto md = *metadata;
        md.token_endpoint = instant.url("/token");
        clockid_t io_clock{};
        pthread_getcpuclockid(io.thread().native_handle(), &io_clock);
        auto round_trip = [&](std::size_t i) {
            auto req = oidc::refresh_token_request(md, client, auth, tokens[i], std::nullopt, proofs[i]);
            auto [e, res] = io.send(std::move(req));
            if (e || res.status != 200) throw std::runtime_error("instant server failed");
        };
        for (std::size_t i = 0; i < std::min<std::size_t>(samples, 50); ++i) // warm-up, within the samples
            round_trip(i);
        const double c0 = this_thread_cpu_seconds() + clock_seconds(io_clock);
        const auto w0 = clock_type::now();
        for (std::size_t i = 0; i < samples; ++i)
            round_trip(i);
        const double cpu =
            (this_thread_cpu_seconds() + clock_seconds(io_clock) - c0) * 1e6 / static_cast<double>(samples);
        const double wall = seconds_since(w0) * 1e6 / static_cast<double>(samples);
        steps.push_back({"token request round trip (kept alive; caller + I/O thread)", cpu});
        char label[128];
        std::snprintf(label, sizeof label, "  (wall time of that round trip, sequential: %.1f us)", wall);
        steps.push_back({label, wall, false});
    }

    // 5. the token response parse, 6. the ID token verified (ES256 and RS256 alike, whichever the
    // run uses counts in the sum), with the WebID read from its claims.
    http::response response{200, answer.headers, answer.body};
    std::optional<oidc::token_response> parsed;
    steps.push_back(
        {"token response parse (" + std::to_string(answer.body.size()) + " bytes)",
         cpu_us_per_call(samples, [&](std::size_t i) { parsed = oidc::parse_token_response(response, tokens[i]); })});
    for (const std::string alg : {"ES256", "RS256"}) {
        test::test_issuer signer([&] {
            test::test_issuer_options o;
            o.signing_algorithm = alg;
            return o;
        }());
        const auto jwks = provider->fetch_jwks(signer.issuer());
        const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        const nlohmann::json claims = {{"aud", client_id},     {"azp", client_id}, {"sub", webid_of(0)},
                                       {"webid", webid_of(0)}, {"iat", iat},       {"exp", iat + 3600}};
        const auto token = signer.sign_token(claims.dump());
        oidc::jwt_expectations expected;
        expected.issuer = signer.issuer();
        expected.audience = client_id;
        const double us = cpu_us_per_call(samples, [&](std::size_t) {
            auto verified = oidc::verify_jwt(token, *jwks, expected);
            if (oidc::webid_from_claims(verified).empty()) std::abort();
        });
        steps.push_back({"ID-token verification " + alg, us, alg == s.alg});
    }

    // 7. the writes a rehydration makes: lease taken, record rewritten (serialized, compare-and-
    // set against the text read), lease released; and the WebID entry's check (a get).
    {
        const auto lease_expiry = [&] { return store->now() + std::chrono::seconds(75); };
        steps.push_back(
            {"store: lease take (compare-and-set)",
             cpu_us_per_call(
                 samples,
                 [&](std::size_t i) {
                     if (!store->compare_and_set(sd::lease_key(session_id(i)), std::nullopt, "owner", lease_expiry()))
                         throw std::runtime_error("lease taken");
                 },
                 false)});
        std::vector<std::string> next(samples);
        steps.push_back({"store: record write (serialize + compare-and-set)",
                         cpu_us_per_call(
                             samples,
                             [&](std::size_t i) {
                                 auto r = records[i];
                                 r.refresh_token = std::string(43, 'n');
                                 r.updated_at = now_ms();
                                 next[i] = sd::serialize_session_record(r);
                                 if (!store->compare_and_set(sd::record_key(session_id(i)), texts[i], next[i]))
                                     throw std::runtime_error("record changed");
                             },
                             false)});
        steps.push_back({"store: lease release (compare-and-set)",
                         cpu_us_per_call(
                             samples,
                             [&](std::size_t i) {
                                 (void)store->compare_and_set(sd::lease_key(session_id(i)), "owner", std::nullopt);
                             },
                             false)});
        steps.push_back({"store: WebID entry check (get)", cpu_us_per_call(samples, [&](std::size_t i) {
                             if (!store->get(sd::webid_entry_key(webid_of(i), session_id(i))))
                                 throw std::runtime_error("no WebID entry");
                         })});
    }
    double sum = 0;
    for (const auto& st : steps)
        if (st.in_sum) sum += st.us;
    return sum;
}

// ---- bytes per stored session --------------------------------------------------------------------

void memory_per_session(std::size_t n, const std::vector<stored_key>& keys) {
    release_free_memory();
    const double rss0 = current_rss_bytes();
    const auto heap0 = heap_in_use_bytes();
    const auto start = clock_type::now();
    std::size_t value_bytes = 0, key_bytes = 0;
    {
        auto store = ms::make_memory_storage();
        const auto at = now_ms();
        const std::string issuer = "https://login.example";
        for (std::size_t i = 0; i < n; ++i) {
            const auto id = session_id(i);
            const auto webid = webid_of(i);
            // A refresh token of the length providers give (43 characters: 256 bits, base64url).
            char token[64];
            std::snprintf(token, sizeof token, "%043zu", i * 7919);
            const auto text = record_text(issuer, keys[i % keys.size()], webid, token, at);
            const auto rk = sd::record_key(id), wk = sd::webid_entry_key(webid, id);
            store->set(rk, text);
            store->set(wk, webid);
            value_bytes += text.size() + webid.size();
            key_bytes += rk.size() + wk.size();
        }
        const double load_s = seconds_since(start);
        const double rss1 = current_rss_bytes();
        const auto heap1 = heap_in_use_bytes();
        const double dn = static_cast<double>(n);
        std::printf("\nBytes per stored session, memory store, %zu sessions (a record and its WebID entry each;\n"
                    "keys %.0f + values %.0f bytes of payload per session); loaded in %.2f s\n",
                    n, static_cast<double>(key_bytes) / dn, static_cast<double>(value_bytes) / dn, load_s);
        std::printf("  RSS growth  %8.1f MiB  %7.0f bytes/session\n", (rss1 - rss0) / mib, (rss1 - rss0) / dn);
        if (heap0 && heap1)
            std::printf("  heap growth %8.1f MiB  %7.0f bytes/session\n", (*heap1 - *heap0) / mib,
                        (*heap1 - *heap0) / dn);
        std::printf("  peak RSS of the process (ru_maxrss) so far: %.1f MiB\n", peak_rss_mib());
        std::fflush(stdout);
    }
    release_free_memory();
}

// ---- growth ---------------------------------------------------------------------------------------

void growth(const settings& s, std::vector<stored_key>& keys, const std::filesystem::path& dir, int& serial) {
    std::vector<std::size_t> sizes;
    for (const std::size_t n : {10'000, 100'000, 1'000'000})
        if (n <= s.growth_max) sizes.push_back(n);
    std::printf("\nGrowth: list (get_session_id_from_storage_all), clear (clear_session_from_storage_all) and\n"
                "rehydrate (concurrency %zu, %zu I/O thread(s), instant endpoint); seconds and microseconds per\n"
                "session; no counting decorator. '-': not run (see --sqlite-rehydrate-max).\n",
                s.concurrency, s.threads);
    std::printf("%-14s %8s %9s %8s %9s %8s %9s %8s %10s %8s %8s\n", "store", "N", "seed s", "list s", "list us",
                "clear s", "clear us", "rehyd s", "sessions/s", "rehyd us", "client us");
    std::fflush(stdout);
    for (const auto kind : {store_kind::memory, store_kind::sqlite}) {
        if ((kind == store_kind::memory && !s.memory) || (kind == store_kind::sqlite && !s.sqlite)) continue;
        for (const auto n : sizes) {
            const bool rehydrate = kind == store_kind::memory || n <= s.sqlite_rehydrate_max;
            const double dn = static_cast<double>(n);
            try {
                if (rehydrate) {
                    ensure_keys(keys, n);
                    const auto fig = run_one(kind, n, s, keys, dir, ++serial, false);
                    const double client = fig.issuer_cpu_s ? fig.process_cpu_s - *fig.issuer_cpu_s : fig.process_cpu_s;
                    std::printf("%-14s %8zu %9.2f %8.3f %9.3f %8.3f %9.3f %8.2f %10.0f %8.1f %8.1f%s\n", name_of(kind),
                                n, fig.setup_s, fig.list_s, fig.list_s * 1e6 / dn, fig.clear_s, fig.clear_s * 1e6 / dn,
                                fig.rehydrate_s, dn / fig.rehydrate_s, fig.rehydrate_s * 1e6 / dn, client * 1e6 / dn,
                                fig.problems.empty() ? "" : "  FAILED");
                    for (const auto& p : fig.problems)
                        std::printf("    %s\n", p.c_str());
                } else {
                    std::optional<std::filesystem::path> file;
                    auto store = open_store(kind, dir, ++serial, file);
                    const auto t0 = clock_type::now();
                    {
                        seeder out(store.get(), file);
                        seed_sessions(out, nullptr, "https://login.example", keys, n);
                    }
                    const double seed_s = seconds_since(t0);
                    auto t = clock_type::now();
                    const auto ids = ms::get_session_id_from_storage_all(store);
                    const double list_s = seconds_since(t);
                    t = clock_type::now();
                    const auto cleared = ms::clear_session_from_storage_all(store);
                    const double clear_s = seconds_since(t);
                    const bool ok = ids.size() == n && cleared.session_ids.size() == n;
                    std::printf("%-14s %8zu %9.2f %8.3f %9.3f %8.3f %9.3f %8s %10s %8s %8s%s\n", name_of(kind), n,
                                seed_s, list_s, list_s * 1e6 / dn, clear_s, clear_s * 1e6 / dn, "-", "-", "-", "-",
                                ok ? "" : "  FAILED");
                }
            } catch (const std::exception& e) {
                std::printf("%-14s %8zu  aborted: %s\n", name_of(kind), n, e.what());
            }
            std::fflush(stdout);
            if (kind == store_kind::sqlite) {
                std::filesystem::remove_all(dir);
                std::filesystem::create_directories(dir);
            }
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    if (s.sqlite_page_size != 0) sqlite_query += "&page_size=" + std::to_string(s.sqlite_page_size);
    std::optional<test::temp_dir> scratch_holder;
    try {
        scratch_holder.emplace(s.dir, "instant-bench");
    } catch (const std::runtime_error& e) {
        usage(e.what());
    }
    const auto dir = scratch_holder->path() / "stores";
    std::filesystem::create_directories(dir);
    std::printf("instant_bench: DPoP (ES256 proofs), ID tokens %s; the embedded test issuer in presigned mode on\n"
                "127.0.0.1 (plain HTTP, one thread, answers prepared at mint time, no checks) runs in this process;\n"
                "%u hardware threads; RSS at start %.1f MiB\n\n",
                s.alg.c_str(), std::thread::hardware_concurrency(), current_rss_bytes() / mib);
    std::fflush(stdout);

    std::vector<stored_key> keys;
    ensure_keys(keys, std::max(*std::max_element(s.ns.begin(), s.ns.end()), s.samples));
    int serial = 0;

    std::vector<store_kind> kinds;
    if (s.memory) kinds.push_back(store_kind::memory);
    if (s.sqlite) kinds.push_back(store_kind::sqlite);

    bool ok = true;
    struct row {
        store_kind kind;
        std::size_t n;
        run_figures fig;
    };
    std::vector<row> rows;
    for (const auto n : s.ns) {
        for (const auto kind : kinds) {
            try {
                rows.push_back({kind, n, run_one(kind, n, s, keys, dir, ++serial, true)});
                std::printf("setup: %s, %zu sessions minted and stored in %.2f s\n", name_of(kind), n,
                            rows.back().fig.setup_s);
            } catch (const std::exception& e) {
                run_figures fig;
                fig.problems.push_back(std::string("run aborted: ") + e.what());
                rows.push_back({kind, n, std::move(fig)});
            }
            std::fflush(stdout);
        }
    }
    if (!rows.empty()) {
        std::printf(
            "\nRehydration against the instant endpoint (concurrency %zu, %zu I/O thread(s), %zu store thread(s));\n"
            "list and clear in "
            "ms; CPU in microseconds per session: process, issuer thread, client = process - issuer; store\n"
            "operations per session during the rehydration (get, set, compare-and-set, remove); memory in\n"
            "MiB: RSS before, RSS with the sessions held, heap growth with them held, peak RSS so far.\n",
            s.concurrency, s.threads, s.storage_threads);
        std::printf("%-14s %6s %8s %8s %10s %8s %7s %6s %6s %4s %4s %4s %4s %7s %7s %7s %7s\n", "store", "N", "list ms",
                    "rehyd s", "sessions/s", "clear ms", "proc us", "issuer", "client", "get", "set", "cas", "rm",
                    "RSS", "RSS held", "heap+", "peak");
        for (const auto& r : rows) {
            const auto& f = r.fig;
            const double dn = static_cast<double>(r.n);
            char issuer_us[16] = "-", client_us[16] = "-", heap[16] = "-";
            if (f.issuer_cpu_s) {
                std::snprintf(issuer_us, sizeof issuer_us, "%.0f", *f.issuer_cpu_s * 1e6 / dn);
                std::snprintf(client_us, sizeof client_us, "%.0f", (f.process_cpu_s - *f.issuer_cpu_s) * 1e6 / dn);
            }
            if (f.heap_held_mib) std::snprintf(heap, sizeof heap, "%.1f", *f.heap_held_mib);
            std::printf(
                "%-14s %6zu %8.1f %8.2f %10.0f %8.1f %7.0f %6s %6s %4.1f %4.1f %4.1f %4.1f %7.1f %7.1f %7s %7.1f%s\n",
                name_of(r.kind), r.n, f.list_s * 1e3, f.rehydrate_s, f.rehydrate_s > 0 ? dn / f.rehydrate_s : 0.0,
                f.clear_s * 1e3, f.process_cpu_s * 1e6 / dn, issuer_us, client_us, f.gets, f.sets, f.cas, f.removes,
                f.rss_before_mib, f.rss_held_mib, heap, f.peak_rss_mib, f.problems.empty() ? "" : "  FAILED");
            for (const auto& p : f.problems)
                std::printf("    %s\n", p.c_str());
            if (!f.problems.empty()) ok = false;
        }
        std::fflush(stdout);
    }

    // The steps alone, per store, against the client CPU of the largest run of that store.
    for (const auto kind : kinds) {
        std::vector<step> steps;
        try {
            const double sum = breakdown(kind, s, keys, dir, ++serial, steps);
            std::printf("\nOne rehydration's steps alone, %s store, CPU microseconds per session (%zu samples)\n",
                        name_of(kind), std::min(s.samples, keys.size()));
            for (const auto& st : steps)
                std::printf("  %-62s %8.1f%s\n", st.name.c_str(), st.us,
                            st.in_sum || st.name.starts_with("  ") ? "" : "  (not in the sum)");
            std::printf("  %-62s %8.1f\n", "sum of the steps", sum);
            for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
                if (it->kind != kind || !it->fig.issuer_cpu_s || !it->fig.problems.empty()) continue;
                const double client =
                    (it->fig.process_cpu_s - *it->fig.issuer_cpu_s) * 1e6 / static_cast<double>(it->n);
                std::printf("  %-62s %8.1f\n",
                            ("measured client CPU per session (N " + std::to_string(it->n) + ")").c_str(), client);
                std::printf("  %-62s %8.1f\n", "  not covered by the steps (orchestration, load)", client - sum);
                break;
            }
        } catch (const std::exception& e) {
            std::printf("\nbreakdown, %s: aborted: %s\n", name_of(kind), e.what());
            ok = false;
        }
        std::fflush(stdout);
    }

    if (s.memory_n > 0) memory_per_session(s.memory_n, keys);
    if (s.growth) growth(s, keys, dir, serial);
    std::printf("\npeak RSS of the process (ru_maxrss): %.1f MiB\n", peak_rss_mib());
    return ok ? 0 : 1;
}
