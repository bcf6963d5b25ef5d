// The session demo: a server's sessions surviving a restart, with nothing to configure.
//
//   session_demo [--sessions N] [--concurrency N] [--store URI] [--keep]
//
// 1. It starts the embedded test issuer (an OpenID provider with a protected resource) on
//    127.0.0.1 over TLS, with a certificate from a CA generated for this run.
// 2. First run of "the server": N users log in through session_manager::login and
//    handle_incoming_redirect — the authorization URL (PKCE S256), the sign-in at the issuer (one
//    HTTP request standing in for the browser), the redirect back, the code redeemed with a DPoP
//    proof, the ID token verified — and the sessions are stored in an encrypted SQLite store.
// 3. The server stops. A new process starts from the same store and key ring: it lists the
//    sessions, rehydrates them all (each refresh token redeemed once, rotated, stored), fetches
//    the protected resource with one of them, and clears them all.
// 4. The issuer reports what it saw; a refresh token redeemed twice would fail the demo.
//
// Without --store it uses a fresh SQLite file in a temporary directory, removed at the end unless
// --keep is given. The exit status is 0 only when every step did what it says.
#include "progress.hpp"

#include <multisession/multisession.hpp>

#include "oidc/base64url.hpp"

#include "../tests/support/test_ca.hpp"
#include "../tests/support/test_issuer.hpp"
#include "../tests/support/transport_thread.hpp"

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace ms = multisession;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view client_id = "demo-app";
constexpr std::string_view redirect_uri = "https://app.example/callback";
constexpr std::string_view key_id = "demo-1";

struct arguments {
    std::size_t sessions = 300;
    std::size_t concurrency = 64;
    std::string store_uri;
    bool keep = false;
    // Given by the first run to the restarted process.
    bool restarted = false;
    std::string ca_file;
    std::string key_file;
    std::string resource_url;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "session_demo: %s\n"
                 "usage: session_demo [--sessions N] [--concurrency N] [--store URI] [--keep]\n",
                 problem.c_str());
    std::exit(2);
}

std::size_t count_argument(const char* text, const char* name) {
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (end == text || *end != '\0' || value == 0 || value > 1'000'000)
        usage(std::string(name) + " wants a number from 1 to 1000000");
    return static_cast<std::size_t>(value);
}

arguments parse(int argc, char** argv) {
    arguments a;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(arg + " wants a value");
            return argv[++i];
        };
        if (arg == "--sessions") a.sessions = count_argument(value(), "--sessions");
        else if (arg == "--concurrency") a.concurrency = count_argument(value(), "--concurrency");
        else if (arg == "--store") a.store_uri = value();
        else if (arg == "--keep") a.keep = true;
        else if (arg == "--restarted") a.restarted = true;
        else if (arg == "--ca-file") a.ca_file = value();
        else if (arg == "--key-file") a.key_file = value();
        else if (arg == "--resource") a.resource_url = value();
        else if (arg == "--help" || arg == "-h") usage("the server's sessions surviving a restart");
        else usage("unknown argument " + arg);
    }
    return a;
}

double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// The key ring of the store: one key, in a file only its owner may read, as a deployment would
// keep it in its secret store. Format: "<key id> <base64url of 32 bytes>".
void write_key_file(const std::filesystem::path& path) {
    const auto old_mask = ::umask(077);
    std::ofstream(path) << key_id << ' ' << ms::oidc::base64url_encode(ms::generate_encryption_key()) << '\n';
    ::umask(old_mask);
}

ms::open_storage_options store_options(const std::string& key_file) {
    std::ifstream in(key_file);
    std::string id, encoded;
    if (!(in >> id >> encoded)) throw std::runtime_error("cannot read the key ring " + key_file);
    auto bytes = ms::oidc::base64url_decode(encoded);
    if (!bytes || bytes->size() != 32) throw std::runtime_error("the key ring " + key_file + " holds no 32-byte key");
    ms::open_storage_options options;
    options.encryption = ms::encryption_options{{{id, std::move(*bytes)}}, id};
    return options;
}

// ---- First run: users log in --------------------------------------------------------------------

// One user logging in, as a server sees it: login() gives the authorization URL (PKCE S256, a
// state stored with an expiry); the user's browser goes there and comes back to the redirect URL
// with a code; handle_incoming_redirect() redeems it with a DPoP proof, verifies the ID token and
// stores the session. The "browser" here is one HTTP request to the embedded issuer, which signs in
// whichever user it was told to: that step is serialised, the rest runs in parallel.
void log_in(ms::test::test_issuer& issuer, ms::session_manager& manager, ms::test::transport_thread& browser,
            std::mutex& sign_in, const std::string& client_secret, std::size_t index) {
    ms::login_options options;
    options.issuer = issuer.issuer();
    options.redirect_url = std::string(redirect_uri);
    options.client = ms::client_config::static_client(std::string(client_id), client_secret);
    options.session_id = "session-" + std::to_string(index);
    const auto request = manager.login(options);

    std::string back;
    {
        const std::lock_guard lock(sign_in);
        issuer.set_authorize_user("https://pod.example/user-" + std::to_string(index) + "/profile#me");
        auto [ec, res] = browser.send({"GET", request.authorization_url, {}, {}});
        if (ec) throw ms::error(ec, "the browser's request to the issuer");
        const auto location = res.header_value("Location");
        if (res.status != 302 || !location) throw std::runtime_error("the issuer did not redirect back");
        back = std::string(*location);
    }
    const auto s = manager.handle_incoming_redirect(back);
    if (!s.is_logged_in() || !s.webid()) throw std::runtime_error("a login did not complete");
}

int first_run(const arguments& args, const std::string& self) {
    const auto total_start = clock_type::now();
    std::filesystem::path dir;
    {
        std::string pattern = (std::filesystem::temp_directory_path() / "multisession-demo-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary directory");
        dir = pattern;
    }
    struct cleanup {
        std::filesystem::path dir;
        bool keep;
        ~cleanup() {
            std::error_code ignored;
            if (!keep) std::filesystem::remove_all(dir, ignored);
        }
    } cleanup{dir, args.keep};

    ms::test::test_ca ca("multisession demo CA");
    const auto ca_file = ca.write_cert(dir);
    ms::test::test_issuer_options issuer_options;
    issuer_options.tls = ca.issue_localhost();
    ms::test::test_issuer issuer(issuer_options);
    const std::string client_secret = ms::oidc::base64url_encode(ms::generate_encryption_key());
    issuer.add_client({std::string(client_id), client_secret, std::nullopt});

    const std::string uri = args.store_uri.empty() ? "sqlite:" + (dir / "sessions.db").string() : args.store_uri;
    const auto key_file = dir / "keys";
    write_key_file(key_file);

    std::printf("multisession demo\n"
                "  issuer    %s  (embedded test issuer, TLS with a CA made for this run)\n"
                "  store     %s  (values sealed with AES-256-GCM)\n"
                "  sessions  %zu\n\n",
                issuer.issuer().c_str(), ms::redact_uri(uri).c_str(), args.sessions);

    // ---- 1. the server's first run
    std::printf("1. First run: %zu users log in (authorization code with PKCE, DPoP-bound tokens)\n",
                args.sessions);
    std::fflush(stdout);
    {
        ms::session_manager_options manager_options;
        manager_options.store = ms::open_storage(uri, store_options(key_file.string()));
        manager_options.ca_file = ca_file.string();
        ms::session_manager manager(manager_options);
        ms::http::client_options http;
        http.ca_file = ca_file.string();
        ms::test::transport_thread browser(http);
        std::mutex sign_in;

        const auto start = clock_type::now();
        ms::demo::progress bar("logging in", args.sessions);
        std::atomic<std::size_t> next{0}, done{0};
        std::exception_ptr failure;
        std::mutex failure_mutex;
        std::vector<std::thread> workers;
        for (std::size_t w = 0; w < std::min<std::size_t>(8, args.sessions); ++w) {
            workers.emplace_back([&] {
                for (std::size_t i; (i = next++) < args.sessions;) {
                    try {
                        log_in(issuer, manager, browser, sign_in, client_secret, i);
                    } catch (...) {
                        const std::lock_guard lock(failure_mutex);
                        if (!failure) failure = std::current_exception();
                        next = args.sessions;
                    }
                    bar.update(++done);
                }
            });
        }
        for (auto& w : workers) w.join();
        if (failure) std::rethrow_exception(failure);
        std::printf("  %zu sessions stored in %.2f s\n", args.sessions, seconds_since(start));
    }
    const auto after_login = issuer.stats();

    // ---- 2. a new process
    std::printf("\n2. The server stops. A new process starts from the same store.\n");
    std::fflush(stdout);
    int child_status = 0;
    {
        // The new process writes to our standard output; this one only serves as the issuer.
        std::vector<std::string> argv{self, "--restarted", "--store", uri, "--ca-file", ca_file.string(),
                                      "--key-file", key_file.string(), "--resource", issuer.resource_url("/demo"),
                                      "--sessions", std::to_string(args.sessions), "--concurrency",
                                      std::to_string(args.concurrency)};
        std::vector<char*> pointers;
        for (auto& a : argv) pointers.push_back(a.data());
        pointers.push_back(nullptr);
        pid_t pid = 0;
        if (::posix_spawn(&pid, self.c_str(), nullptr, nullptr, pointers.data(), environ) != 0)
            throw std::runtime_error("cannot start " + self);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    // ---- 3. the issuer's view
    const auto seen = issuer.stats();
    std::printf("\n3. The issuer's view\n"
                "  token requests     %llu at login, %llu after the restart\n"
                "  refresh tokens redeemed twice  %llu\n"
                "  resource requests authorized   %llu\n",
                static_cast<unsigned long long>(after_login.token_requests),
                static_cast<unsigned long long>(seen.token_requests - after_login.token_requests),
                static_cast<unsigned long long>(seen.refresh_reuses),
                static_cast<unsigned long long>(seen.resource_authorized));
    const bool ok = child_status == 0 && seen.refresh_reuses == 0;
    std::printf("\n%s in %.1f s%s\n", ok ? "done" : "FAILED", seconds_since(total_start),
                args.keep ? ("; kept " + dir.string()).c_str() : "");
    return ok ? 0 : 1;
}

// ---- After the restart --------------------------------------------------------------------------

int restarted(const arguments& args) {
    std::printf("  pid %d: opening the store\n", static_cast<int>(::getpid()));
    ms::session_manager_options options;
    options.store = ms::open_storage(args.store_uri, store_options(args.key_file));
    options.ca_file = args.ca_file;
    options.threads = 2;
    // A durable store: its syncs wait on these threads, not on the network's, and the writes of
    // concurrent rehydrations share commits.
    options.storage_threads = 4;
    ms::session_manager manager(options);
    bool ok = true;

    auto start = clock_type::now();
    const auto ids = manager.get_session_id_from_storage_all();
    const double list_s = seconds_since(start);
    std::printf("  listed      %zu sessions in %.1f ms\n", ids.size(), list_s * 1e3);
    if (ids.size() != args.sessions) ok = false;

    ms::demo::progress bar("rehydrating", ids.size());
    ms::batch_options batch;
    batch.concurrency = args.concurrency;
    batch.progress = [&](std::size_t done, std::size_t) { bar.update(done); };
    start = clock_type::now();
    const auto results = manager.rehydrate(ids, batch);
    const double rehydrate_s = seconds_since(start);

    std::size_t logged_in = 0, failed = 0;
    const ms::session* first = nullptr;
    for (const auto& r : results) {
        if (r.error) {
            if (++failed <= 3) std::printf("  %s: %s\n", r.session_id.c_str(), r.error.message().c_str());
        } else if (r.value && r.value->is_logged_in()) {
            ++logged_in;
            if (!first) first = &*r.value;
        }
    }
    const auto stats = manager.stats();
    std::printf("\n  %-28s %10zu\n", "sessions listed", ids.size());
    std::printf("  %-28s %10zu\n", "rehydrated, logged in", logged_in);
    std::printf("  %-28s %10zu\n", "failed", failed);
    std::printf("  %-28s %10llu\n", "token requests", static_cast<unsigned long long>(stats.refreshes));
    std::printf("  %-28s %10.1f ms\n", "list", list_s * 1e3);
    const std::string rehydrate_label = "rehydrate (" + std::to_string(args.concurrency) + " at once)";
    std::printf("  %-28s %10.2f s\n", rehydrate_label.c_str(), rehydrate_s);
    std::printf("  %-28s %10.0f /s\n", "sessions", rehydrate_s > 0 ? static_cast<double>(logged_in) / rehydrate_s : 0.0);
    if (logged_in != ids.size() || failed != 0) ok = false;

    if (first) {
        ms::fetch_request request;
        request.url = args.resource_url;
        start = clock_type::now();
        const auto response = first->fetch(request);
        std::printf("\n  fetch       GET %s as %s: %d (%.1f ms)\n", args.resource_url.c_str(),
                    first->webid().value_or("?").c_str(), response.status, seconds_since(start) * 1e3);
        if (response.status != 200) ok = false;
    }

    start = clock_type::now();
    const auto cleared = manager.clear_session_from_storage_all();
    const double clear_s = seconds_since(start);
    const auto left = manager.get_session_id_from_storage_all().size();
    std::printf("  cleared     %zu sessions (%zu entries) in %.1f ms; %zu left in the store\n",
                cleared.session_ids.size(), cleared.entries_removed, clear_s * 1e3, left);
    if (cleared.session_ids.size() != ids.size() || left != 0) ok = false;
    std::fflush(stdout);
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
    const auto args = parse(argc, argv);
    try {
        if (args.restarted) return restarted(args);
        return first_run(args, std::filesystem::read_symlink("/proc/self/exe").string());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "session_demo: %s\n", e.what());
        return 1;
    }
}
