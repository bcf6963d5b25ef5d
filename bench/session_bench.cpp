// session_bench: rehydrating many stored sessions at once, as a service does after a restart.
//
//   session_bench [--n N] [--concurrency C] [--store-dir DIR]
//
//   --n N            sessions per run (default 10000)
//   --concurrency C  sessions refreshed at once by rehydrate() (default 64)
//   --store-dir DIR  where the SQLite files are created (default $TMPDIR or /tmp); removed afterwards
//
// Setup: one DPoP key pair (P-256) per session, generated once and shared by every run. Each run
// then gets a fresh embedded test issuer (plain HTTP on 127.0.0.1; it checks every DPoP proof,
// rotates the refresh token and signs two JWTs per answer, on one thread) with one confidential
// client, mints one refresh token per session bound to that session's key, and writes N session
// records to a fresh SQLite file. A fresh session_manager (allow_insecure_loopback) then
//   1. lists the stored ids (get_session_id_from_storage_all),
//   2. rehydrates them all with the given concurrency (rehydrate),
//   3. removes them all (clear_session_from_storage_all).
// Every session must come back logged in, and the issuer must have seen exactly N token requests,
// one discovery and no reuse of a rotated token; anything else is a failure (exit status 1).
//
// Before the runs, two steps of every rehydration are timed alone (restoring a session's DPoP key
// pair from the JWKs in its record, parsing a record), to set against the CPU per session.
//
// Runs: the SQLite store as open_storage() makes it by default (synchronous=full: every commit
// syncs the WAL) and with synchronous=normal, each with threads = 1 and 2; then a sequential run
// (concurrency 1) on min(N, 1000) sessions for comparison.
//
// CPU: the issuer runs in this process, so the process's CPU time includes the issuer's. The
// issuer's server thread is found as the one thread that appears while it starts, and its CPU time
// is read from /proc/self/task/<tid>/schedstat; "client" is the process's time minus the issuer's.
// Memory, in MiB: "RSS MB" is the resident set before the rehydration (after free memory went back
// to the system); "RSS+" the largest growth of the resident set seen during it (sampled from
// /proc/self/statm every 64 completed sessions, in the progress callback). The resident set only
// shows what the allocator took from the system, so memory freed by an earlier run hides growth in
// a later one; the allocator's own count of bytes in use does not: "heap+" is its growth with the N
// rehydrated sessions held, "kept" what stays once they are released (the manager, its store and
// the issuer still alive: SQLite's page caches, the issuer's record of every token it issued), and
// "left" what stays once the run is over (everything gone: should be about 0).
#include "../tests/support/temp_dir.hpp"

#include "bench_process.hpp"

#include <multisession/session.hpp>
#include <multisession/storage/open.hpp>

#include "oidc/dpop.hpp"
#include "session/session_record.hpp"

#include "../tests/support/test_issuer.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ms = multisession;
namespace oidc = multisession::oidc;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using clock_type = std::chrono::steady_clock;
using multisession::bench::process_cpu_seconds;
using multisession::bench::seconds_since;
using multisession::bench::thread_cpu_seconds;
using multisession::bench::thread_ids;
using multisession::bench::peak_rss_mib;
using multisession::bench::release_free_memory;

double current_rss_mib() { return multisession::bench::current_rss_bytes() / multisession::bench::mib; }

std::optional<double> heap_in_use_mib() {
    const auto bytes = multisession::bench::heap_in_use_bytes();
    return bytes ? std::optional<double>(*bytes / multisession::bench::mib) : std::nullopt;
}

namespace {

const std::string client_id = "bench-app";
const std::string client_secret = "bench-secret";
const std::string webid = "https://alice.example/profile/card#me";

struct settings {
    std::size_t n = 10'000;
    std::size_t concurrency = 64;
    std::filesystem::path dir;
};

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr, "session_bench: %s\nusage: session_bench [--n N] [--concurrency C] [--store-dir DIR]\n",
                 message.c_str());
    std::exit(2);
}

settings parse(int argc, char** argv) {
    settings s;
    const char* base = std::getenv("TMPDIR");
    s.dir = base && *base ? base : "/tmp";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) usage("missing value after " + arg);
        const std::string value = argv[++i];
        auto number = [&] {
            char* end = nullptr;
            const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || n == 0) usage("bad number for " + arg);
            return static_cast<std::size_t>(n);
        };
        if (arg == "--n") {
            s.n = number();
        } else if (arg == "--concurrency") {
            s.concurrency = number();
        } else if (arg == "--store-dir") {
            s.dir = value;
        } else {
            usage("unknown option " + arg);
        }
    }
    return s;
}

/// A session's key pair, as a record stores it, and the thumbprint its refresh token is bound to.
struct stored_key {
    std::string public_jwk, private_jwk, thumbprint;
};

std::string session_id(std::size_t i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "bench-%06zu", i);
    return buf;
}

struct run_spec {
    const char* store_name;   // as printed
    const char* uri_query;    // appended to the sqlite: URI
    std::size_t threads;
    std::size_t concurrency;
    std::size_t n;
};

struct run_figures {
    double setup_s = 0;
    double list_s = 0;
    double rehydrate_s = 0;
    double clear_s = 0;
    double rss_before_mib = 0;
    double rss_growth_mib = 0;
    std::optional<double> heap_held_mib; // right after the rehydration, with the N sessions held
    std::optional<double> heap_kept_mib; // once the results are released; manager and issuer still alive
    std::optional<double> heap_left_mib; // once the run is over: issuer, manager and store gone
    double process_cpu_s = 0;
    std::optional<double> issuer_cpu_s;
    test::issuer_stats issuer{};
    std::vector<std::string> session_failures; // sessions that did not come back logged in
    std::vector<std::string> problems;         // every other check that failed
    [[nodiscard]] bool failed() const { return !session_failures.empty() || !problems.empty(); }
};

run_figures run_one(const run_spec& spec, const std::vector<stored_key>& keys, const std::filesystem::path& file) {
    run_figures fig;
    auto fail = [&](std::string what) { fig.problems.push_back(std::move(what)); };
    auto session_failed = [&](std::string what) { fig.session_failures.push_back(std::move(what)); };

    // The issuer's server thread is the one that appears while it starts.
    const auto before = thread_ids();
    test::test_issuer issuer;
    std::optional<long> issuer_tid;
    {
        std::vector<long> started;
        for (const long tid : thread_ids())
            if (!before.count(tid)) started.push_back(tid);
        if (started.size() == 1) issuer_tid = started.front();
    }
    issuer.add_client({client_id, client_secret, std::nullopt});

    // Records are loaded through a connection with synchronous=normal whatever the run measures:
    // the load is setup, and N synced commits would only make it longer. The pragma belongs to the
    // connection, so the measured store below still syncs as its URI says.
    const auto setup_start = clock_type::now();
    const std::string uri = "sqlite:" + file.string();
    {
        auto loader = ms::open_storage(uri + "?synchronous=normal");
        for (std::size_t i = 0; i < spec.n; ++i) {
            const auto& key = keys[i];
            sd::session_record r;
            r.issuer = issuer.issuer();
            r.client_id = client_id;
            r.client_secret = client_secret;
            r.client_type = "static";
            r.dpop = true;
            r.public_key = key.public_jwk;
            r.private_key = key.private_jwk;
            // A record written after a login carries the WebID; without it every rehydration would
            // write the record a second time to add it.
            r.webid = webid;
            r.is_logged_in = true;
            r.refresh_token = issuer.mint_refresh_token(client_id, webid, key.thumbprint);
            loader->set(sd::record_key(session_id(i)), sd::serialize_session_record(r));
        }
    }
    fig.setup_s = seconds_since(setup_start);

    ms::session_manager_options options;
    options.store = ms::open_storage(uri + spec.uri_query);
    options.threads = spec.threads;
    options.allow_insecure_loopback = true;
    ms::session_manager manager(options);

    auto t = clock_type::now();
    const auto ids = manager.get_session_id_from_storage_all();
    fig.list_s = seconds_since(t);
    if (ids.size() != spec.n) fail("listed " + std::to_string(ids.size()) + " ids, stored " + std::to_string(spec.n));

    release_free_memory();
    fig.rss_before_mib = current_rss_mib();
    const auto heap_before = heap_in_use_mib();
    std::atomic<double> rss_peak{fig.rss_before_mib};
    std::atomic<std::size_t> progress_calls{0};
    ms::batch_options batch;
    batch.concurrency = spec.concurrency;
    batch.progress = [&](std::size_t done, std::size_t total) {
        progress_calls.fetch_add(1);
        if (done % 64 != 0 && done != total) return;
        const double rss = current_rss_mib();
        double seen = rss_peak.load();
        while (rss > seen && !rss_peak.compare_exchange_weak(seen, rss)) {
        }
    };
    const auto issuer_cpu0 = issuer_tid ? thread_cpu_seconds(*issuer_tid) : std::nullopt;
    const double cpu0 = process_cpu_seconds();
    t = clock_type::now();
    auto results = manager.rehydrate(ids, batch);
    fig.rehydrate_s = seconds_since(t);
    fig.process_cpu_s = process_cpu_seconds() - cpu0;
    const auto issuer_cpu1 = issuer_tid ? thread_cpu_seconds(*issuer_tid) : std::nullopt;
    if (issuer_cpu0 && issuer_cpu1) fig.issuer_cpu_s = *issuer_cpu1 - *issuer_cpu0;
    fig.rss_growth_mib = std::max(rss_peak.load(), current_rss_mib()) - fig.rss_before_mib;
    if (const auto heap = heap_in_use_mib(); heap && heap_before) fig.heap_held_mib = *heap - *heap_before;

    if (results.size() != ids.size()) fail("rehydrate returned " + std::to_string(results.size()) + " results");
    if (progress_calls.load() != ids.size())
        fail("progress was called " + std::to_string(progress_calls.load()) + " times");
    for (const auto& r : results) {
        if (r.error) {
            session_failed(r.session_id + ": " + r.error.category().name() + ": " + r.error.message());
        } else if (!r.value) {
            session_failed(r.session_id + ": no session");
        } else if (!r.value->is_logged_in()) {
            session_failed(r.session_id + ": not logged in");
        } else if (r.value->webid() != webid) {
            session_failed(r.session_id + ": wrong WebID");
        }
    }
    results = {};
    if (const auto heap = heap_in_use_mib(); heap && heap_before) fig.heap_kept_mib = *heap - *heap_before;

    fig.issuer = issuer.stats();
    const auto manager_stats = manager.stats();
    if (manager_stats.refreshes != spec.n)
        fail("the manager started " + std::to_string(manager_stats.refreshes) + " refreshes");
    if (manager_stats.lease_waits != 0 || manager_stats.adopted != 0)
        fail("the manager waited for a lease or adopted a token (one process, one refresh per session)");
    if (fig.issuer.token_requests != spec.n)
        fail("issuer saw " + std::to_string(fig.issuer.token_requests) + " token requests");
    if (fig.issuer.tokens_issued != spec.n) fail("issuer issued " + std::to_string(fig.issuer.tokens_issued) + " tokens");
    if (fig.issuer.discovery_requests != 1)
        fail("issuer saw " + std::to_string(fig.issuer.discovery_requests) + " discovery requests");
    if (fig.issuer.refresh_reuses != 0)
        fail("issuer saw " + std::to_string(fig.issuer.refresh_reuses) + " reuses of a rotated refresh token");

    t = clock_type::now();
    const auto cleared = manager.clear_session_from_storage_all();
    fig.clear_s = seconds_since(t);
    if (cleared.session_ids.size() != spec.n)
        fail("clear found " + std::to_string(cleared.session_ids.size()) + " sessions");
    if (!manager.get_session_id_from_storage_all().empty()) fail("sessions left after clear");
    return fig;
}

} // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    std::optional<multisession::test::temp_dir> scratch_holder;
    try {
        scratch_holder.emplace(s.dir, "session-bench");
    } catch (const std::runtime_error& e) {
        usage(e.what());
    }
    auto& scratch = *scratch_holder;
    const std::size_t n_sequential = std::min<std::size_t>(s.n, 1000);
    const std::vector<run_spec> runs = {
        {"sqlite full", "", 1, s.concurrency, s.n},
        {"sqlite full", "", 2, s.concurrency, s.n},
        {"sqlite normal", "?synchronous=normal", 1, s.concurrency, s.n},
        {"sqlite normal", "?synchronous=normal", 2, s.concurrency, s.n},
        {"sqlite full", "", 1, 1, n_sequential},
    };

    std::printf("session_bench: %zu sessions, DPoP (ES256), SQLite files under %s; the embedded test issuer\n"
                "on 127.0.0.1 (plain HTTP, one thread, rotating tokens, ES256) runs in this process\n\n",
                s.n, scratch.path().c_str());

    auto t = clock_type::now();
    std::vector<stored_key> keys;
    keys.reserve(s.n);
    for (std::size_t i = 0; i < s.n; ++i) {
        const auto key = oidc::dpop_key::generate();
        keys.push_back({key.public_jwk_json(), key.private_jwk_json(), key.thumbprint()});
    }
    std::printf("setup: %zu P-256 key pairs generated in %.2f s\n", s.n, seconds_since(t));

    // Two steps of every rehydration, alone, for comparison with the CPU per session below.
    {
        const std::size_t samples = std::min<std::size_t>(s.n, 1000);
        t = clock_type::now();
        for (std::size_t i = 0; i < samples; ++i) {
            const auto key = oidc::dpop_key::from_jwk(keys[i].public_jwk, keys[i].private_jwk);
            if (key.thumbprint() != keys[i].thumbprint) usage("a stored key pair does not load back");
        }
        const double restore_us = seconds_since(t) * 1e6 / static_cast<double>(samples);
        sd::session_record r;
        r.issuer = "http://127.0.0.1:8080";
        r.client_id = client_id;
        r.client_secret = client_secret;
        r.dpop = true;
        r.public_key = keys[0].public_jwk;
        r.private_key = keys[0].private_jwk;
        r.webid = webid;
        r.refresh_token = std::string(43, 'r');
        const auto text = sd::serialize_session_record(r);
        t = clock_type::now();
        for (std::size_t i = 0; i < samples; ++i) {
            if (!sd::parse_session_record("bench", text).is_session()) usage("a record does not parse back");
        }
        const double parse_us = seconds_since(t) * 1e6 / static_cast<double>(samples);
        std::printf("alone, per session: DPoP key pair restored from the record's JWKs %.0f us; record (%zu bytes) "
                    "parsed %.0f us\n",
                    restore_us, text.size(), parse_us);
    }
    std::fflush(stdout);

    std::vector<std::pair<run_spec, run_figures>> done;
    int serial = 0;
    for (const auto& spec : runs) {
        const auto file = scratch.path() / ("bench-" + std::to_string(++serial) + ".db");
        try {
            const auto heap_start = heap_in_use_mib();
            auto fig = run_one(spec, keys, file);
            if (const auto heap = heap_in_use_mib(); heap && heap_start) fig.heap_left_mib = *heap - *heap_start;
            std::printf("setup: run %d: %zu refresh tokens minted and session records written in %.2f s\n",
                        serial, spec.n, fig.setup_s);
            std::fflush(stdout);
            done.emplace_back(spec, std::move(fig));
        } catch (const std::exception& e) {
            run_figures fig;
            fig.problems.push_back(std::string("run aborted: ") + e.what());
            done.emplace_back(spec, std::move(fig));
        }
    }

    std::printf("\nRehydrating stored sessions (list, rehydrate, clear). Memory in MiB: RSS before, RSS growth,\n"
                "heap growth with the sessions held, heap kept after releasing them, heap left after the run.\n"
                "CPU in microseconds per session during the rehydration: process = client + issuer (one\n"
                "process); issuer = its server thread. Issuer counters: token requests, discovery, reuses.\n");
    std::printf("%-13s %3s %4s %6s %8s %8s %10s %8s %7s %6s %6s %6s %6s %7s %7s %7s %6s %5s %6s %5s\n", "store", "thr",
                "conc", "N", "list ms", "rehyd s", "sessions/s", "clear ms", "RSS MB", "RSS+", "heap+", "kept", "left",
                "proc us", "client", "issuer", "tokens", "disc", "reuses", "fail");
    bool ok = true;
    for (const auto& [spec, fig] : done) {
        const double n = static_cast<double>(spec.n);
        char issuer_us[16] = "-", client_us[16] = "-", held[16] = "-", kept[16] = "-", left[16] = "-";
        if (fig.heap_held_mib) std::snprintf(held, sizeof held, "%.1f", *fig.heap_held_mib);
        if (fig.heap_kept_mib) std::snprintf(kept, sizeof kept, "%.1f", *fig.heap_kept_mib);
        if (fig.heap_left_mib) std::snprintf(left, sizeof left, "%.1f", *fig.heap_left_mib);
        if (fig.issuer_cpu_s) {
            std::snprintf(issuer_us, sizeof issuer_us, "%.0f", *fig.issuer_cpu_s * 1e6 / n);
            std::snprintf(client_us, sizeof client_us, "%.0f", (fig.process_cpu_s - *fig.issuer_cpu_s) * 1e6 / n);
        }
        std::printf("%-13s %3zu %4zu %6zu %8.1f %8.2f %10.0f %8.1f %7.1f %6.1f %6s %6s %6s %7.0f %7s %7s %6llu %5llu %6llu %5zu\n",
                    spec.store_name, spec.threads, spec.concurrency, spec.n, fig.list_s * 1e3, fig.rehydrate_s,
                    fig.rehydrate_s > 0 ? n / fig.rehydrate_s : 0.0, fig.clear_s * 1e3, fig.rss_before_mib,
                    fig.rss_growth_mib, held, kept, left, fig.process_cpu_s * 1e6 / n, client_us, issuer_us,
                    static_cast<unsigned long long>(fig.issuer.token_requests),
                    static_cast<unsigned long long>(fig.issuer.discovery_requests),
                    static_cast<unsigned long long>(fig.issuer.refresh_reuses), fig.session_failures.size());
        if (fig.failed()) ok = false;
    }
    std::printf("peak RSS of the process (ru_maxrss): %.1f MiB\n", peak_rss_mib());

    for (const auto& [spec, fig] : done) {
        if (!fig.failed()) continue;
        std::printf("\nfailures of %s, threads %zu, concurrency %zu, N %zu:\n", spec.store_name, spec.threads,
                    spec.concurrency, spec.n);
        for (const auto& p : fig.problems) std::printf("  %s\n", p.c_str());
        if (!fig.session_failures.empty())
            std::printf("  %zu sessions not logged in again:\n", fig.session_failures.size());
        std::size_t shown = 0;
        for (const auto& f : fig.session_failures) {
            if (++shown > 20) {
                std::printf("    ... and %zu more\n", fig.session_failures.size() - 20);
                break;
            }
            std::printf("    %s\n", f.c_str());
        }
    }
    return ok ? 0 : 1;
}
