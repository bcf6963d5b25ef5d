// peer_client: the C++ contender of the side-by-side benchmark. bench/peer/peer.py runs it as a
// child process and measures its resource usage (CPU, peak RSS) from outside.
//
//   peer_client seed --records FILE --store URI
//   peer_client run  --store URI --concurrency C [--records FILE] [--threads T]
//                    [--storage-threads S]
//
//   seed           writes every entry of FILE into the store and exits: the state a service finds
//                  after a restart. A memory: store would not outlive the process, so it is refused.
//   run            rehydrates the sessions of the store with a fresh session_manager, then prints
//                  one JSON line (below) on stdout.
//   --records FILE a JSON object {key: value}, all strings, in the layout of Inrupt's Node library
//                  ("solidClientAuthenticationUser:<id>" records and the
//                  "solidClientAuthn:registeredSessions" index). With run, the file is loaded into
//                  the store first, outside every measurement (how a memory: store gets its data).
//   --store URI    anything open_storage() accepts: memory:, sqlite:/path/file.db, file:/path/dir
//   --concurrency C  sessions refreshed at once by rehydrate() (1: one after the other)
//   --threads T    I/O threads of the manager (default: the manager's own default, 0: the calling
//                  thread does the network work)
//   --storage-threads S  store threads of the manager (session_manager_options::storage_threads;
//                  default 0: store work runs on the I/O thread)
//
// A run has three phases on one session_manager (allow_insecure_loopback: the issuer is plain HTTP
// on 127.0.0.1; every other option as the library sets it):
//   list       get_session_id_from_storage_all()
//   rehydrate  rehydrate(ids, {concurrency C}); every session must come back logged in
//   clear      clear_session_from_storage_all()
// Each phase is timed on the steady clock; the CPU time (user + system, getrusage RUSAGE_SELF) is
// taken over the rehydrate phase only. The store is wrapped in a counting decorator that counts
// each call by kind (the public methods of multisession::storage), so the output shows how many
// storage operations each phase cost. "n" is the number of ids in the registered-sessions index
// (of FILE when given, else of the store, read before the phases and not counted); without an
// index it is the number listed.
//
// Output, one line:
//   {"contender":"multisession","store":"sqlite","n":N,"listed":L,"ok":K,"failed":F,
//    "list_ms":x,"rehydrate_s":x,"clear_ms":x,"cpu_s":x,"cpu_user_s":x,"cpu_system_s":x,
//    "storage_ops":{"list":a,"rehydrate":b,"clear":c},
//    "storage_ops_by_kind":{"get":..,...},          (the rehydrate phase)
//    "token_requests":R,                             (the manager's refreshes started)
//    "concurrency":C,"threads":T,"storage_threads":S,"scanned_entries":{"list":..,"rehydrate":..,"clear":..}}
// Progress goes to stderr, never a token, secret or key.
//
// Exit status: 0 when all n sessions came back logged in; 1 when any did not (or the number listed
// differs from the number indexed), after the line was printed; 2 for bad arguments (a store URI
// open_storage() refuses, an unreadable FILE); 3 when the run could not finish (the store failed,
// ...): no line is printed then.
#include "../bench_process.hpp"

#include <multisession/session.hpp>
#include <multisession/storage.hpp>
#include <multisession/storage/open.hpp>

#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace ms = multisession;
using clock_type = std::chrono::steady_clock;
using multisession::bench::cpu_times;
using multisession::bench::process_cpu_times;
using multisession::bench::seconds_since;

namespace {

constexpr std::string_view record_prefix = "solidClientAuthenticationUser:";
constexpr std::string_view index_key = "solidClientAuthn:registeredSessions";

// ---------------------------------------------------------------------------------------------
// Counting every call a store receives

enum class op_kind : std::size_t {
    get,
    set,
    remove,
    compare_and_set,
    for_each,     // enumeration with values
    for_each_key, // enumeration of keys only
    for_each_key_where, // enumeration of the keys whose value a filter accepts
    remove_prefix,
    remove_prefixes, // several prefixes in one batch
    purge_expired, // the last one
};

constexpr std::size_t op_kinds = static_cast<std::size_t>(op_kind::purge_expired) + 1;
constexpr std::array<const char*, op_kinds> op_names = {
    "get",           "set",         "remove",          "compare_and_set", "for_each", "for_each_key",
    "for_each_key_where", "remove_prefix", "remove_prefixes", "purge_expired",
};

struct op_counts {
    std::array<std::uint64_t, op_kinds> calls{};
    std::uint64_t entries_visited = 0; // entries handed to enumeration callbacks

    [[nodiscard]] std::uint64_t total() const {
        std::uint64_t sum = 0;
        for (const auto c : calls)
            sum += c;
        return sum;
    }

    friend op_counts operator-(const op_counts& a, const op_counts& b) {
        op_counts out;
        for (std::size_t i = 0; i < op_kinds; ++i)
            out.calls[i] = a.calls[i] - b.calls[i];
        out.entries_visited = a.entries_visited - b.entries_visited;
        return out;
    }
};

/// Forwards every call to the inner store's public methods and counts it by kind. Expiry and
/// validation are the inner store's; the counters are relaxed atomics (a few nanoseconds a call).
class counting_storage final : public ms::storage {
public:
    // now() is the inner store's, so expiry times the manager computes are on the clock that decides.
    explicit counting_storage(std::shared_ptr<ms::storage> inner)
        : storage([inner] { return inner->now(); }), inner_(std::move(inner)) {}

    [[nodiscard]] op_counts snapshot() const {
        op_counts out;
        for (std::size_t i = 0; i < op_kinds; ++i)
            out.calls[i] = calls_[i].load(std::memory_order_relaxed);
        out.entries_visited = visited_.load(std::memory_order_relaxed);
        return out;
    }

private:
    void count(op_kind kind) { calls_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed); }

    std::optional<std::string> do_get(std::string_view key, ms::time_point) override {
        count(op_kind::get);
        return inner_->get(key);
    }

    void do_set(std::string_view key, std::string_view value, std::optional<ms::time_point> expires_at,
                ms::time_point) override {
        count(op_kind::set);
        inner_->set(key, value, expires_at);
    }

    bool do_remove(std::string_view key, ms::time_point) override {
        count(op_kind::remove);
        return inner_->remove(key);
    }

    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<ms::time_point> expires_at,
                            ms::time_point) override {
        count(op_kind::compare_and_set);
        return inner_->compare_and_set(key, expected, desired, expires_at);
    }

    void do_scan(std::string_view prefix, bool with_values, const ms::entry_visitor& visit, ms::time_point) override {
        count(with_values ? op_kind::for_each : op_kind::for_each_key);
        std::uint64_t visited = 0;
        const auto forward = [&](std::string_view key, std::string_view value) {
            ++visited;
            return visit(key, value);
        };
        if (with_values) {
            inner_->for_each(prefix, forward);
        } else {
            inner_->for_each_key(prefix, [&](std::string_view key) { return forward(key, {}); });
        }
        visited_.fetch_add(visited, std::memory_order_relaxed);
    }

    // The filtered enumeration and the batch removal are forwarded as such, so the inner store
    // does them its own way (SQLite: the filter on the page, one transaction for the batch).
    void do_scan_where(std::string_view prefix, const ms::value_filter& keep, const ms::entry_visitor& visit,
                       ms::time_point) override {
        count(op_kind::for_each_key_where);
        std::uint64_t visited = 0;
        inner_->for_each_key_where(prefix, keep, [&](std::string_view key) {
            ++visited;
            return visit(key, {});
        });
        visited_.fetch_add(visited, std::memory_order_relaxed);
    }

    std::size_t do_remove_prefix(std::string_view prefix, ms::time_point) override {
        count(op_kind::remove_prefix);
        return inner_->remove_prefix(prefix);
    }

    prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const ms::value_filter* match,
                                      ms::time_point) override {
        count(op_kind::remove_prefixes);
        return inner_->remove_prefixes(prefixes, match ? *match : ms::value_filter{});
    }

    std::size_t do_purge_expired(ms::time_point) override {
        count(op_kind::purge_expired);
        return inner_->purge_expired();
    }

    std::shared_ptr<ms::storage> inner_;
    std::array<std::atomic<std::uint64_t>, op_kinds> calls_{};
    std::atomic<std::uint64_t> visited_{0};
};

// ---------------------------------------------------------------------------------------------
// Arguments

constexpr const char* usage_text =
    "usage: peer_client seed --records FILE --store URI\n"
    "       peer_client run --store URI --concurrency C [--records FILE] [--threads T]\n"
    "                           [--storage-threads S]\n"
    "  --records FILE   JSON object {key: value} of strings (Inrupt's storage layout)\n"
    "  --store URI      memory:, sqlite:/path/file.db, file:/path/dir (see open_storage)\n"
    "  --concurrency C  sessions refreshed at once (1: sequential)\n"
    "  --threads T      I/O threads of the session manager (default: the library's default)\n"
    "  --storage-threads S  store threads of the session manager (default 0)\n";

struct settings {
    std::string command;
    std::optional<std::string> records;
    std::string store;
    std::size_t concurrency = 0;
    std::optional<std::size_t> threads;
    std::size_t storage_threads = 0;
};

[[noreturn]] void usage(const std::string& message) {
    std::fprintf(stderr, "peer_client: %s\n%s", message.c_str(), usage_text);
    std::exit(2);
}

std::size_t parse_count(const std::string& option, const std::string& text, std::size_t min) {
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || n < min)
        usage("bad number for " + option + ": '" + text + "'");
    return static_cast<std::size_t>(n);
}

settings parse(int argc, char** argv) {
    if (argc >= 2 && (std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h")) {
        std::fputs(usage_text, stdout);
        std::exit(0);
    }
    if (argc < 2) usage("missing command");
    settings s;
    s.command = argv[1];
    if (s.command != "seed" && s.command != "run") usage("unknown command '" + s.command + "'");
    bool concurrency_given = false;
    for (int i = 2; i < argc; ++i) {
        const std::string arg = argv[i];
        if (i + 1 >= argc) usage("missing value after " + arg);
        const std::string value = argv[++i];
        if (arg == "--records") {
            s.records = value;
        } else if (arg == "--store") {
            s.store = value;
        } else if (arg == "--concurrency" && s.command == "run") {
            s.concurrency = parse_count(arg, value, 1);
            concurrency_given = true;
        } else if (arg == "--threads" && s.command == "run") {
            s.threads = parse_count(arg, value, 0);
        } else if (arg == "--storage-threads" && s.command == "run") {
            s.storage_threads = parse_count(arg, value, 0);
        } else {
            usage("unknown option " + arg + " for " + s.command);
        }
    }
    if (s.store.empty()) usage("--store is required");
    if (s.command == "seed" && !s.records) usage("seed needs --records");
    if (s.command == "run" && !concurrency_given) usage("run needs --concurrency");
    return s;
}

/// The scheme of a store URI ("memory", "sqlite", ...): what the output calls the store.
std::string store_kind(std::string_view uri) { return std::string(uri.substr(0, uri.find(':'))); }

// ---------------------------------------------------------------------------------------------
// The records file

using entries = std::vector<std::pair<std::string, std::string>>;

/// The entries of FILE; a file that cannot be read or is not an object of strings ends the program
/// with status 2. Values are never printed (they hold refresh tokens and keys).
entries read_records(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) usage("cannot open records file " + path);
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) usage("records file " + path + " is not a JSON object");
    entries out;
    out.reserve(doc.size());
    for (auto& [key, value] : doc.items()) {
        if (!value.is_string()) {
            std::string message = "records file " + path;
            message += ": the value of '";
            message += key;
            message += "' is not a string";
            usage(message);
        }
        out.emplace_back(key, std::move(value.get_ref<std::string&>()));
    }
    return out;
}

/// The number of ids in a registered-sessions index value; nullopt when it is not a JSON array.
std::optional<std::size_t> index_size(std::string_view value) {
    const auto doc = nlohmann::json::parse(value, nullptr, false);
    if (doc.is_discarded() || !doc.is_array()) return std::nullopt;
    return doc.size();
}

std::optional<std::size_t> index_size(const entries& records) {
    for (const auto& [key, value] : records)
        if (key == index_key) return index_size(value);
    return std::nullopt;
}

/// Writes every entry, one set() each, and returns the session records among them.
std::size_t write_records(ms::storage& store, const entries& records) {
    std::size_t sessions = 0;
    for (const auto& [key, value] : records) {
        store.set(key, value);
        if (std::string_view(key).substr(0, record_prefix.size()) == record_prefix) ++sessions;
    }
    return sessions;
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// `x` rounded to `digits` decimals, so the line stays readable.
double rounded(double x, int digits) {
    const double scale = std::pow(10.0, digits);
    return std::round(x * scale) / scale;
}

nlohmann::ordered_json by_kind(const op_counts& counts) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (std::size_t i = 0; i < op_kinds; ++i)
        out[op_names[i]] = counts.calls[i];
    return out;
}

// ---------------------------------------------------------------------------------------------
// The commands

int seed(const settings& s) {
    if (store_kind(s.store) == "memory")
        usage("seed: a memory: store does not outlive this process; pass --records to run instead");
    const auto records = read_records(*s.records);
    auto store = ms::open_storage(s.store);
    bool empty = true;
    store->for_each_key("", [&](std::string_view) {
        empty = false;
        return false;
    });
    if (!empty) std::fprintf(stderr, "peer_client seed: warning: the store was not empty\n");
    const auto start = clock_type::now();
    const std::size_t sessions = write_records(*store, records);
    std::fprintf(stderr, "peer_client seed: wrote %zu entries (%zu session records) to %s in %.3f s\n", records.size(),
                 sessions, ms::redact_uri(s.store).c_str(), seconds_since(start));
    return 0;
}

int run(const settings& s) {
    auto inner = ms::open_storage(s.store);

    std::optional<std::size_t> indexed;
    if (s.records) {
        auto records = read_records(*s.records);
        indexed = index_size(records);
        const auto start = clock_type::now();
        const std::size_t sessions = write_records(*inner, records);
        std::fprintf(stderr, "peer_client run: loaded %zu entries (%zu session records) in %.3f s\n", records.size(),
                     sessions, seconds_since(start));
    } else if (const auto value = inner->get(index_key)) {
        indexed = index_size(*value);
    }

    auto counted = std::make_shared<counting_storage>(inner);
    ms::session_manager_options options;
    options.store = counted;
    options.allow_insecure_loopback = true;
    if (s.threads) options.threads = *s.threads;
    const std::size_t threads = options.threads;
    options.storage_threads = s.storage_threads;
    ms::session_manager manager(std::move(options));

    const op_counts before_list = counted->snapshot();
    auto start = clock_type::now();
    const std::vector<std::string> ids = manager.get_session_id_from_storage_all();
    const double list_s = seconds_since(start);
    const op_counts before_rehydrate = counted->snapshot();
    const std::size_t n = indexed.value_or(ids.size());
    std::fprintf(stderr, "peer_client run: listed %zu sessions (%zu indexed) in %.3f ms\n", ids.size(), n,
                 list_s * 1e3);

    ms::batch_options batch;
    batch.concurrency = s.concurrency;
    const std::size_t step = std::max<std::size_t>(1, ids.size() / 10);
    batch.progress = [step](std::size_t done, std::size_t total) {
        if (done % step == 0 || done == total)
            std::fprintf(stderr, "peer_client run: rehydrated %zu/%zu\n", done, total);
    };
    const cpu_times cpu_before = process_cpu_times();
    start = clock_type::now();
    auto results = manager.rehydrate(ids, batch);
    const double rehydrate_s = seconds_since(start);
    const cpu_times cpu = process_cpu_times() - cpu_before;
    const op_counts before_clear = counted->snapshot();

    std::size_t ok = 0;
    std::size_t reported = 0;
    for (const auto& r : results) {
        if (!r.error && r.value && r.value->is_logged_in()) {
            ++ok;
            continue;
        }
        // The first few failures by id and error code; the library's messages never carry secrets.
        if (reported++ < 5) {
            const std::string why = r.error ? std::string(r.error.category().name()) + ": " + r.error.message()
                                            : (r.value ? "not logged in" : "no such session");
            std::fprintf(stderr, "peer_client run: session %s failed: %s\n", r.session_id.c_str(), why.c_str());
        }
    }
    const std::size_t failed = results.size() - ok;
    results = {};

    start = clock_type::now();
    const ms::clear_result cleared = manager.clear_session_from_storage_all();
    const double clear_s = seconds_since(start);
    const op_counts after_clear = counted->snapshot();
    std::fprintf(stderr, "peer_client run: cleared %zu sessions (%zu entries) in %.3f ms\n", cleared.session_ids.size(),
                 cleared.entries_removed, clear_s * 1e3);

    const op_counts list_ops = before_rehydrate - before_list;
    const op_counts rehydrate_ops = before_clear - before_rehydrate;
    const op_counts clear_ops = after_clear - before_clear;
    for (const auto& [phase, ops] :
         {std::pair{"list", &list_ops}, {"rehydrate", &rehydrate_ops}, {"clear", &clear_ops}}) {
        std::string text;
        for (std::size_t i = 0; i < op_kinds; ++i)
            if (ops->calls[i] != 0) text += std::string(" ") + op_names[i] + "=" + std::to_string(ops->calls[i]);
        std::fprintf(stderr, "peer_client run: storage ops, %s:%s\n", phase, text.empty() ? " none" : text.c_str());
    }

    nlohmann::ordered_json line;
    line["contender"] = "multisession";
    line["store"] = store_kind(s.store);
    line["n"] = n;
    line["listed"] = ids.size();
    line["ok"] = ok;
    line["failed"] = failed;
    line["list_ms"] = rounded(list_s * 1e3, 3);
    line["rehydrate_s"] = rounded(rehydrate_s, 6);
    line["clear_ms"] = rounded(clear_s * 1e3, 3);
    line["cpu_s"] = rounded(cpu.total(), 6);
    line["cpu_user_s"] = rounded(cpu.user, 6);
    line["cpu_system_s"] = rounded(cpu.system, 6);
    line["storage_ops"] = {
        {"list", list_ops.total()}, {"rehydrate", rehydrate_ops.total()}, {"clear", clear_ops.total()}};
    line["storage_ops_by_kind"] = by_kind(rehydrate_ops);
    line["token_requests"] = manager.stats().refreshes;
    line["concurrency"] = s.concurrency;
    line["threads"] = threads;
    line["storage_threads"] = s.storage_threads;
    line["scanned_entries"] = {{"list", list_ops.entries_visited},
                               {"rehydrate", rehydrate_ops.entries_visited},
                               {"clear", clear_ops.entries_visited}};
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);

    const bool complete = ok == n && ids.size() == n && failed == 0;
    if (!complete) std::fprintf(stderr, "peer_client run: %zu of %zu sessions came back logged in\n", ok, n);
    return complete ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const settings s = parse(argc, argv);
    try {
        return s.command == "seed" ? seed(s) : run(s);
    } catch (const std::system_error& e) {
        // A store URI that open_storage() refuses is a bad argument; anything else a failed run.
        std::fprintf(stderr, "peer_client %s: %s\n", s.command.c_str(), e.what());
        return e.code() == ms::make_error_code(ms::storage_errc::invalid_uri) ? 2 : 3;
    } catch (const std::exception& e) {
        // multisession::error messages name keys and URIs with credentials removed, never values.
        std::fprintf(stderr, "peer_client %s: %s\n", s.command.c_str(), e.what());
        return 3;
    }
}
