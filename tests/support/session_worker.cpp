// A child process for the cross-process rotation-safety tests: it rehydrates stored sessions
// again and again through its own session_manager, as one of several server processes (or server
// nodes) sharing a store would.
//
//   session_worker --store URI --id ID [--id ID ...] --rounds N [--pause-ms MS] [--ca FILE]
//                  [--allow-loopback] [--crash-on-record-write]
//
// Each round rehydrates every ID once, in the order given: one get_session_from_storage(ID) that
// must give a logged-in session (so one refresh, rotating the refresh token). One line per
// rehydration on stdout; with a single ID:
//   round <n> ok
//   round <n> error <category>:<value> <message>      (the refresh failed)
//   round <n> not-logged-in | no-session
// and with several, the ID after the round number: "round <n> <id> ok" and so on.
// --pause-ms sleeps between rounds, as a server does other work between rehydrations: without it
// the process that just released the lease takes it straight back while the others back off, and
// the processes take turns only a few times per run.
// Then "summary ok=<n> failed=<n> refreshes=<n> lease_waits=<n> adopted=<n>", counting
// rehydrations. Exit 0 when every one was ok, 1 otherwise, 2 for bad arguments. Nothing printed
// ever holds a token or a key.
//
// --crash-on-record-write (a single ID only) ends the process with _exit(86) the moment the
// session's record is about to be written: after the provider answered with a rotated refresh
// token, before that token reaches the store. No destructor, no lease release, no flush: as close
// to a crash as it gets while still landing at exactly that point.
#include "session/session_record.hpp"

#include <multisession/error.hpp>
#include <multisession/session.hpp>
#include <multisession/storage.hpp>
#include <multisession/storage/open.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

using namespace multisession;
using namespace std::chrono_literals;

namespace {

/// The exit code of a process stopped by --crash-on-record-write.
constexpr int crash_exit_code = 86;

int usage() {
    std::fprintf(stderr, "usage: session_worker --store URI --id ID [--id ID ...] --rounds N [--pause-ms MS] "
                         "[--ca FILE] [--allow-loopback] [--crash-on-record-write]\n");
    return 2;
}

/// Forwards everything to `inner`, except that a write of `crash_key` ends the process first.
class crash_on_write_storage final : public storage {
public:
    crash_on_write_storage(std::shared_ptr<storage> inner, std::string crash_key)
        : inner_(std::move(inner)), crash_key_(std::move(crash_key)) {}

protected:
    std::optional<std::string> do_get(std::string_view key, time_point) override { return inner_->get(key); }
    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        crash_if_hooked(key);
        inner_->set(key, value, expires_at);
    }
    bool do_remove(std::string_view key, time_point) override { return inner_->remove(key); }
    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point) override {
        crash_if_hooked(key);
        return inner_->compare_and_set(key, expected, desired, expires_at);
    }
    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point) override {
        if (with_values)
            inner_->for_each(prefix, visit);
        else
            inner_->for_each_key(prefix, [&](std::string_view k) { return visit(k, {}); });
    }
    std::size_t do_remove_prefix(std::string_view prefix, time_point) override { return inner_->remove_prefix(prefix); }
    std::size_t do_purge_expired(time_point) override { return inner_->purge_expired(); }

private:
    void crash_if_hooked(std::string_view key) const {
        // _exit, not exit: no atexit handler or destructor may tidy up (release the lease) on the
        // way out, as none would in a real crash.
        if (key == crash_key_) ::_exit(crash_exit_code);
    }

    std::shared_ptr<storage> inner_;
    std::string crash_key_;
};

struct arguments {
    std::string store_uri;
    std::vector<std::string> ids;
    long rounds = 0;
    std::chrono::milliseconds pause{0};
    std::string ca_file;
    bool allow_loopback = false;
    bool crash_on_record_write = false;
};

std::optional<arguments> parse_arguments(int argc, char** argv) {
    arguments args;
    const std::vector<std::string_view> list(argv + 1, argv + argc);
    for (std::size_t i = 0; i < list.size(); ++i) {
        const auto has_value = i + 1 < list.size();
        if (list[i] == "--store" && has_value) {
            args.store_uri = list[++i];
        } else if (list[i] == "--id" && has_value) {
            args.ids.emplace_back(list[++i]);
        } else if (list[i] == "--rounds" && has_value) {
            try {
                args.rounds = std::stol(std::string(list[++i]));
            } catch (const std::exception&) {
                return std::nullopt;
            }
        } else if (list[i] == "--pause-ms" && has_value) {
            try {
                args.pause = std::chrono::milliseconds(std::stol(std::string(list[++i])));
            } catch (const std::exception&) {
                return std::nullopt;
            }
        } else if (list[i] == "--ca" && has_value) {
            args.ca_file = list[++i];
        } else if (list[i] == "--allow-loopback") {
            args.allow_loopback = true;
        } else if (list[i] == "--crash-on-record-write") {
            args.crash_on_record_write = true;
        } else {
            return std::nullopt;
        }
    }
    if (args.store_uri.empty() || args.ids.empty() || args.rounds < 1 || args.pause < 0ms) return std::nullopt;
    for (const auto& id : args.ids) {
        if (id.empty() || id.find_first_of(" \n") != std::string::npos) return std::nullopt;
    }
    if (args.crash_on_record_write && args.ids.size() != 1) return std::nullopt;
    return args;
}

/// One round's outcome as printed: "ok" or what went wrong.
std::string run_round(session_manager& manager, const std::string& id) {
    try {
        const auto s = manager.get_session_from_storage(id);
        if (!s) return "no-session";
        if (!s->is_logged_in()) return "not-logged-in";
        return "ok";
    } catch (const std::system_error& e) {
        // The code only, not what(): the code's message is fixed text, and the parent compares
        // category and value.
        const auto& ec = e.code();
        return "error " + std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " " + ec.message();
    } catch (const std::exception& e) {
        return std::string("exception ") + e.what();
    }
}

} // namespace

int main(int argc, char** argv) {
    const auto args = parse_arguments(argc, argv);
    if (!args) return usage();
    try {
        std::shared_ptr<storage> store = open_storage(args->store_uri);
        if (args->crash_on_record_write)
            store = std::make_shared<crash_on_write_storage>(store, session_detail::record_key(args->ids.front()));

        session_manager_options options;
        options.store = store;
        options.threads = 0;
        options.allow_insecure_loopback = args->allow_loopback;
        options.ca_file = args->ca_file;
        // Short, so a test that kills a lease holder waits seconds for the lease to run out, yet
        // far longer than one refresh against a local provider.
        options.lease_duration = 5s;
        options.total_timeout = 2s; // a lease must outlast two token requests
        options.lease_wait = 60s;
        session_manager manager(options);

        const bool several = args->ids.size() > 1;
        const long rehydrations = args->rounds * static_cast<long>(args->ids.size());
        long ok = 0;
        for (long round = 1; round <= args->rounds; ++round) {
            for (const auto& id : args->ids) {
                const auto outcome = run_round(manager, id);
                if (outcome == "ok") ++ok;
                std::cout << "round " << round << " " << (several ? id + " " : std::string()) << outcome << std::endl;
            }
            if (round < args->rounds) std::this_thread::sleep_for(args->pause);
        }
        const auto stats = manager.stats();
        std::cout << "summary ok=" << ok << " failed=" << (rehydrations - ok) << " refreshes=" << stats.refreshes
                  << " lease_waits=" << stats.lease_waits << " adopted=" << stats.adopted << std::endl;
        return ok == rehydrations ? 0 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "session_worker: %s\n", e.what());
        return 1;
    }
}
