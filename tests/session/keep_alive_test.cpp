// The keep-alive scheduler against the embedded test issuer with 5 s access tokens: sessions stay
// usable for 30 s, the due-time and retry arithmetic, invalid_grant ends a session, a provider
// outage is retried with spaced attempts, and the scheduler's lifecycle (refused starts, stop,
// restart, no thread left, a manager destroyed mid-refresh, sessions the application let go).
#include <multisession/asio.hpp>
#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>

#include "oidc/dpop.hpp"
#include "session/engine.hpp"
#include "session/keep_alive.hpp"
#include "session/session_record.hpp"

#include "../support/expect_error.hpp"
#include "../support/test_issuer.hpp"

#include <boost/asio/io_context.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace ms = multisession;
namespace oidc = multisession::oidc;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using multisession::storage_errc;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const std::string alice = "https://alice.example/profile/card#me";
const std::string client_id = "app";
const std::string client_secret = "app-secret";

/// An issuer whose access tokens last `lifetime`, with the usual confidential client.
struct short_token_issuer {
    test::test_issuer issuer;

    static test::test_issuer_options options_for(std::chrono::seconds lifetime) {
        test::test_issuer_options o;
        o.access_token_lifetime = lifetime;
        return o;
    }
    explicit short_token_issuer(std::chrono::seconds lifetime = 5s) : issuer(options_for(lifetime)) {
        issuer.add_client({client_id, client_secret, std::nullopt});
    }

    /// Stores a DPoP session record for `id` with a freshly minted refresh token; returns the token.
    std::string store_session(ms::storage& store, const std::string& id) {
        sd::session_record r;
        r.issuer = issuer.issuer();
        r.client_id = client_id;
        r.client_secret = client_secret;
        r.client_type = "static";
        r.dpop = true;
        auto key = oidc::dpop_key::generate();
        r.public_key = key.public_jwk_json();
        r.private_key = key.private_jwk_json();
        r.refresh_token = issuer.mint_refresh_token(client_id, alice, key.thumbprint());
        store.set(sd::record_key(id), sd::serialize_session_record(r));
        return *r.refresh_token;
    }

    [[nodiscard]] int fetch_status(const ms::session& s) const {
        ms::fetch_request request;
        request.url = issuer.resource_url("/x");
        return s.fetch(request).status;
    }
};

ms::session_manager_options loopback(std::shared_ptr<ms::storage> store, std::size_t threads) {
    ms::session_manager_options o;
    o.store = std::move(store);
    o.threads = threads;
    o.allow_insecure_loopback = true;
    o.read_timeout = 3s;
    return o;
}

/// Keep-alive options for 5 s tokens. The test issuer counts token times in whole seconds, so a
/// token it issues may be over 4 s after it was obtained: the margin keeps every refresh before
/// that (due 3.0 to 3.5 s after each refresh). The default margin (5 s, the whole lifetime) would
/// refresh at mid-life, every 2.0 to 2.5 s: alive too, but twice the refreshes.
ms::keep_alive_options for_5s_tokens() {
    ms::keep_alive_options o;
    o.margin = 1500ms;
    o.retry_max = 2000ms;
    return o;
}

/// Polls `done` every 20 ms until it holds or `timeout` passed; returns its last value.
bool wait_until(const std::function<bool()>& done, steady::duration timeout) {
    const auto give_up = steady::now() + timeout;
    while (!done()) {
        if (steady::now() >= give_up) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

/// The threads of this process.
std::size_t thread_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task"))
        ++n;
    return n;
}

/// Counts one kind of event of a session (its own handlers).
std::shared_ptr<std::atomic<int>> count_events(ms::session& s, ms::session_event_type type) {
    auto n = std::make_shared<std::atomic<int>>(0);
    s.on_event([n, type](const ms::session_event& e) {
        if (e.type == type) ++*n;
    });
    return n;
}

sd::session_record stored_record(ms::storage& store, const std::string& id) {
    auto text = store.get(sd::record_key(id));
    REQUIRE(text);
    return sd::parse_session_record(id, *text);
}

} // namespace

TEST_CASE("keep-alive: three DPoP sessions with 5 s access tokens stay usable for 30 s") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store, 2));

    std::vector<ms::session> sessions;
    std::vector<std::shared_ptr<std::atomic<int>>> new_tokens;
    for (int i = 0; i < 3; ++i) {
        const auto id = "s" + std::to_string(i);
        f.store_session(*store, id);
        auto s = manager.get_session_from_storage(id);
        REQUIRE(s);
        REQUIRE(s->is_logged_in());
        new_tokens.push_back(count_events(*s, ms::session_event_type::new_tokens));
        sessions.push_back(std::move(*s));
    }
    f.issuer.reset_counters();
    manager.start_keep_alive(for_5s_tokens());
    CHECK(manager.keep_alive_running());

    // A session not kept alive answers 401 from about 4 s on.
    int checks = 0, failures = 0;
    std::string first_failure;
    const auto start = steady::now();
    for (auto tick = start; tick < start + 30s; tick += 500ms) {
        std::this_thread::sleep_until(tick);
        for (const auto& s : sessions) {
            ++checks;
            std::string failure;
            try {
                if (!s.is_logged_in())
                    failure = "logged out";
                else if (const int status = f.fetch_status(s); status != 200)
                    failure = "status " + std::to_string(status);
            } catch (const ms::error& e) {
                failure = e.what();
            }
            if (failure.empty()) continue;
            if (failures++ == 0) {
                const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
                first_failure = s.id() + " at " + std::to_string(at.count()) + " ms: " + failure;
            }
        }
    }
    CHECK(checks == 180);
    CHECK_MESSAGE(failures == 0, failures << " failed checks, the first: " << first_failure);

    // Refreshed every 3.0 to 3.5 s (plus the request): about 9 times each in 30 s.
    int total = 0;
    for (std::size_t i = 0; i < sessions.size(); ++i) {
        const int n = *new_tokens[i];
        INFO("session " << sessions[i].id() << ": " << n << " refreshes");
        CHECK(n >= 5);
        CHECK(n <= 12);
        total += n;
    }
    const auto stats = manager.stats();
    // One refresh per session may still be on its way.
    CHECK(stats.keep_alive_refreshes >= static_cast<std::uint64_t>(total));
    CHECK(stats.keep_alive_refreshes <= static_cast<std::uint64_t>(total) + 3);
    CHECK(stats.keep_alive_retries == 0);
    CHECK(f.issuer.stats().refresh_reuses == 0);
    CHECK(f.issuer.stats().tokens_issued >= static_cast<std::uint64_t>(total));
    manager.stop_keep_alive();
}

TEST_CASE("keep-alive: due times follow each token's lifetime") {
    const ms::time_point t0 = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
    auto near = [](std::optional<ms::time_point> got, ms::time_point want) {
        REQUIRE(got);
        const auto off = std::chrono::duration_cast<std::chrono::milliseconds>(*got - want).count();
        INFO("off by " << off << " ms");
        CHECK(std::abs(off) <= 1);
    };
    ms::keep_alive_options o; // 0.8, margin 5 s, jitter 0.05

    SUBCASE("no expiry: nothing to schedule") {
        CHECK_FALSE(sd::due_time(t0, std::nullopt, t0, o, 0.5));
        CHECK_FALSE(sd::due_time(std::nullopt, std::nullopt, t0, o, 0.5));
    }
    SUBCASE("refresh_at of the lifetime, not a fixed delay") {
        near(sd::due_time(t0, t0 + 100s, t0, o, 0.5), t0 + 80s);
        near(sd::due_time(t0, t0 + 3600s, t0, o, 0.5), t0 + 2880s);
        near(sd::due_time(t0, t0 + 60s, t0, o, 0.5), t0 + 48s);
        o.refresh_at = 0.5;
        near(sd::due_time(t0, t0 + 100s, t0, o, 0.5), t0 + 50s);
        // Counted from when the token was obtained, not from now.
        near(sd::due_time(t0, t0 + 100s, t0 + 10s, o, 0.5), t0 + 50s);
    }
    SUBCASE("the jitter spreads due times by +-jitter of the lifetime") {
        near(sd::due_time(t0, t0 + 100s, t0, o, 0.0), t0 + 75s);
        near(sd::due_time(t0, t0 + 100s, t0, o, 1.0), t0 + 85s);
        near(sd::due_time(t0, t0 + 100s, t0, o, 0.25), t0 + 77500ms);
        o.jitter = 0.0;
        near(sd::due_time(t0, t0 + 100s, t0, o, 0.0), t0 + 80s);
        near(sd::due_time(t0, t0 + 100s, t0, o, 1.0), t0 + 80s);
    }
    SUBCASE("never later than margin before the end; the window moves earlier as a whole") {
        o.margin = 30s; // the end minus the margin: 70 s
        near(sd::due_time(t0, t0 + 100s, t0, o, 1.0), t0 + 70s);
        near(sd::due_time(t0, t0 + 100s, t0, o, 0.0), t0 + 60s);
        near(sd::due_time(t0, t0 + 20s, t0, {.margin = 5000ms, .jitter = 0.0}, 0.5), t0 + 15s);
    }
    SUBCASE("a token shorter than twice the margin is refreshed around mid-life, never at once") {
        // 5 s tokens with the default 5 s margin.
        near(sd::due_time(t0, t0 + 5s, t0, o, 1.0), t0 + 2500ms);
        near(sd::due_time(t0, t0 + 5s, t0, o, 0.0), t0 + 2000ms);
        o.margin = 1500ms;
        near(sd::due_time(t0, t0 + 5s, t0, o, 1.0), t0 + 3500ms);
        near(sd::due_time(t0, t0 + 5s, t0, o, 0.0), t0 + 3000ms);
    }
    SUBCASE("late: now, never in the past") {
        near(sd::due_time(t0, t0 + 100s, t0 + 95s, o, 0.5), t0 + 95s);
        near(sd::due_time(t0, t0 + 100s, t0 + 500s, o, 0.5), t0 + 500s);
    }
    SUBCASE("without refreshed_at the lifetime counts from now") {
        near(sd::due_time(std::nullopt, t0 + 110s, t0 + 10s, o, 0.5), t0 + 90s);
    }
    SUBCASE("a token over when obtained: retry_min later, not in a loop") {
        near(sd::due_time(t0, t0, t0, o, 0.5), t0 + 1s);
        near(sd::due_time(t0, t0 - 5s, t0 + 200ms, o, 0.5), t0 + 1s);
    }
}

TEST_CASE("keep-alive: retry delays double from retry_min to retry_max, with jitter above retry_min") {
    ms::keep_alive_options o; // 1 s .. 60 s
    CHECK(sd::retry_delay(1, o, 0.0) == 1s);
    CHECK(sd::retry_delay(1, o, 1.0) == 1s);
    CHECK(sd::retry_delay(2, o, 1.0) == 2s);
    CHECK(sd::retry_delay(3, o, 1.0) == 4s);
    CHECK(sd::retry_delay(3, o, 0.5) == 2500ms);
    CHECK(sd::retry_delay(6, o, 1.0) == 32s);
    CHECK(sd::retry_delay(7, o, 1.0) == 60s);
    CHECK(sd::retry_delay(1000, o, 1.0) == 60s);
    CHECK(sd::retry_delay(1000, o, 0.0) == 1s);
    o.retry_max = std::chrono::milliseconds::max();
    // No overflow on the way up, and as near max() as a double gets.
    CHECK(sd::retry_delay(200, o, 0.0) == 1s);
    CHECK(sd::retry_delay(200, o, 1.0) > std::chrono::hours(24 * 365 * 1000));
}

TEST_CASE("keep-alive: an invalid_grant ends the session and its refreshes") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store, 2));
    f.store_session(*store, "s1");
    auto s = manager.get_session_from_storage("s1");
    REQUIRE(s);
    REQUIRE(s->is_logged_in());
    auto expired = count_events(*s, ms::session_event_type::expired);

    // The provider no longer takes the stored refresh token.
    test::issuer_faults faults;
    faults.oauth_error = "invalid_grant";
    f.issuer.set_faults(faults);
    f.issuer.reset_counters();
    manager.start_keep_alive(for_5s_tokens());

    REQUIRE(wait_until([&] { return *expired > 0; }, 8s));
    CHECK(*expired == 1);
    CHECK_FALSE(s->is_logged_in());
    const auto text = store->get(sd::record_key("s1"));
    REQUIRE(text);
    const auto json = nlohmann::json::parse(*text);
    CHECK(json.value("isLoggedIn", "") == "false");
    CHECK_FALSE(json.contains("refreshToken"));
    CHECK_FALSE(stored_record(*store, "s1").refresh_token);

    // Not retried: the token endpoint hears nothing more of it.
    const auto requests = f.issuer.stats().token_requests;
    CHECK(requests >= 1);
    std::this_thread::sleep_for(4s);
    CHECK(f.issuer.stats().token_requests == requests);
    CHECK(manager.stats().keep_alive_retries == 0);
    CHECK(manager.stats().keep_alive_refreshes == 1);
    CHECK(manager.keep_alive_running());
}

TEST_CASE("keep-alive: a provider outage is retried at spaced intervals, and the session recovers") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store, 2));
    f.store_session(*store, "s1");
    auto s = manager.get_session_from_storage("s1");
    REQUIRE(s);
    auto new_tokens = count_events(*s, ms::session_event_type::new_tokens);
    auto expired = count_events(*s, ms::session_event_type::expired);

    test::issuer_faults faults;
    faults.token_server_error = true;
    f.issuer.set_faults(faults);
    f.issuer.reset_counters();
    manager.start_keep_alive(for_5s_tokens()); // retries after 1 s, then 1 to 2 s

    // The first refresh fails about 3.3 s in; its retry comes a second later.
    REQUIRE(wait_until([&] { return manager.stats().keep_alive_retries >= 1; }, 8s));
    std::this_thread::sleep_for(2500ms); // ~3.5 s of outage since the first failure
    const auto outage_requests = f.issuer.stats().token_requests;
    INFO("token requests during the outage: " << outage_requests);
    CHECK(outage_requests >= 2);
    CHECK(outage_requests <= 10);
    CHECK(manager.stats().keep_alive_retries >= 2);
    CHECK(*new_tokens == 0);
    CHECK(s->is_logged_in()); // a transient failure does not log the session out

    f.issuer.set_faults({});
    REQUIRE(wait_until([&] { return *new_tokens >= 1; }, 5s));
    CHECK(s->is_logged_in());
    CHECK(f.fetch_status(*s) == 200);
    CHECK(*expired == 0);
    CHECK(f.issuer.stats().refresh_reuses == 0);
    // And it is scheduled as before from the new token: its next refresh comes.
    REQUIRE(wait_until([&] { return *new_tokens >= 2; }, 5s));
    CHECK(f.fetch_status(*s) == 200);
}

TEST_CASE("keep-alive: at most `concurrency` refreshes at once") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store, 2));
    std::vector<ms::session> sessions;
    // When each session got its first keep-alive tokens (steady ticks; 0: not yet).
    auto done_at = std::make_shared<std::array<std::atomic<steady::rep>, 3>>();
    for (int i = 0; i < 3; ++i) {
        const auto id = "s" + std::to_string(i);
        f.store_session(*store, id);
        auto s = manager.get_session_from_storage(id);
        REQUIRE(s);
        s->on_event([done_at, i](const ms::session_event& e) {
            if (e.type != ms::session_event_type::new_tokens) return;
            steady::rep zero = 0;
            (*done_at)[static_cast<std::size_t>(i)].compare_exchange_strong(zero,
                                                                            steady::now().time_since_epoch().count());
        });
        sessions.push_back(std::move(*s));
    }
    // Each token request takes 1 s: one at a time, the three refreshes (due within half a second
    // of each other) end a second apart.
    test::issuer_faults faults;
    faults.delay = 1s;
    f.issuer.set_faults(faults);
    auto o = for_5s_tokens();
    o.concurrency = 1;
    manager.start_keep_alive(o);
    REQUIRE(
        wait_until([&] { return std::ranges::all_of(*done_at, [](const auto& t) { return t.load() != 0; }); }, 10s));
    steady::rep first = std::numeric_limits<steady::rep>::max(), last = 0;
    for (const auto& t : *done_at) {
        first = std::min(first, t.load());
        last = std::max(last, t.load());
    }
    const auto spread = std::chrono::duration_cast<std::chrono::milliseconds>(steady::duration(last - first));
    INFO("first to last refresh: " << spread.count() << " ms");
    CHECK(spread >= 1800ms);
    manager.stop_keep_alive();
    f.issuer.set_faults({});
}

TEST_CASE("keep-alive: refused starts, idempotent stop, restart") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();

    SUBCASE("without I/O threads or an executor") {
        ms::session_manager manager(loopback(store, 0));
        const auto what = test::error_of([&] { manager.start_keep_alive(); }, storage_errc::invalid_configuration);
        CHECK(what.find("threads") != std::string::npos);
        CHECK_FALSE(manager.keep_alive_running());
        manager.stop_keep_alive(); // nothing to stop: fine
    }
    SUBCASE("options that cannot work") {
        ms::session_manager manager(loopback(store, 1));
        auto refused = [&](ms::keep_alive_options o, std::string_view named) {
            const auto what = test::error_of([&] { manager.start_keep_alive(o); }, storage_errc::invalid_configuration);
            CHECK_MESSAGE(what.find(named) != std::string::npos, what);
            CHECK_FALSE(manager.keep_alive_running());
        };
        refused({.refresh_at = 0.0}, "refresh_at");
        refused({.refresh_at = 1.0}, "refresh_at");
        refused({.refresh_at = std::nan("")}, "refresh_at");
        refused({.margin = -1ms}, "margin");
        refused({.jitter = -0.1}, "jitter");
        refused({.jitter = 1.5}, "jitter");
        refused({.retry_min = 0ms}, "retry_min");
        refused({.retry_min = 2s, .retry_max = 1s}, "retry_max");
        refused({.concurrency = 0}, "concurrency");
    }
    SUBCASE("a second start is refused; stop is idempotent; start after stop works") {
        ms::session_manager manager(loopback(store, 1));
        manager.start_keep_alive();
        CHECK(manager.keep_alive_running());
        const auto what = test::error_of([&] { manager.start_keep_alive(); }, storage_errc::invalid_configuration);
        CHECK(what.find("already running") != std::string::npos);
        CHECK(manager.keep_alive_running());
        manager.stop_keep_alive();
        CHECK_FALSE(manager.keep_alive_running());
        manager.stop_keep_alive();
        CHECK_FALSE(manager.keep_alive_running());
        manager.start_keep_alive();
        CHECK(manager.keep_alive_running());
        // The destructor stops it.
    }
    SUBCASE("an executor of the application's runs the I/O: accepted") {
        boost::asio::io_context ioc;
        auto manager = ms::make_session_manager(ioc.get_executor(), loopback(store, 0));
        manager->start_keep_alive();
        CHECK(manager->keep_alive_running());
        manager->stop_keep_alive();
    }
}

TEST_CASE("keep-alive: after stop no thread and no refresh is left; a session let go is not refreshed") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store, 2));
    f.store_session(*store, "kept");
    const auto dropped_token = f.store_session(*store, "dropped");
    auto kept = manager.get_session_from_storage("kept");
    REQUIRE(kept);
    auto dropped = manager.get_session_from_storage("dropped");
    REQUIRE(dropped);
    const auto dropped_rotated = stored_record(*store, "dropped").refresh_token;
    CHECK(dropped_rotated != dropped_token);
    auto new_tokens = count_events(*kept, ms::session_event_type::new_tokens);

    const auto threads_before = thread_count();
    manager.start_keep_alive(for_5s_tokens());
    CHECK(thread_count() == threads_before + 1); // the scheduler's, and only it
    // Scheduled, then let go.
    dropped.reset();

    REQUIRE(wait_until([&] { return *new_tokens >= 1; }, 6s));
    std::this_thread::sleep_for(1s); // the session let go would have been due by now too
    CHECK(stored_record(*store, "dropped").refresh_token == dropped_rotated);
    CHECK(manager.stats().keep_alive_refreshes == 1);

    manager.stop_keep_alive();
    CHECK_FALSE(manager.keep_alive_running());
    CHECK(wait_until([&] { return thread_count() == threads_before; }, 2s));
    manager.stop_keep_alive();

    // Due 3.0 to 3.5 s after the last refresh: nothing comes in 5 s.
    const auto requests = f.issuer.stats().token_requests;
    const int refreshed = *new_tokens;
    std::this_thread::sleep_for(5s);
    CHECK(f.issuer.stats().token_requests == requests);
    CHECK(*new_tokens == refreshed);
    CHECK(thread_count() == threads_before);

    // Started again, it picks the session up (its token is over by now: refreshed at once).
    manager.start_keep_alive(for_5s_tokens());
    REQUIRE(wait_until([&] { return *new_tokens > refreshed; }, 3s));
    CHECK(f.fetch_status(*kept) == 200);
    CHECK(stored_record(*store, "dropped").refresh_token == dropped_rotated);
    CHECK(f.issuer.stats().refresh_reuses == 0);
}

TEST_CASE("keep-alive: a manager destroyed while a refresh is in flight goes at once, leaving no thread") {
    short_token_issuer f;
    auto store = ms::make_memory_storage();
    auto manager = std::make_unique<ms::session_manager>(loopback(store, 2));
    f.store_session(*store, "s1");
    auto s = manager->get_session_from_storage("s1");
    REQUIRE(s);
    // With the manager's two I/O threads (and what Asio keeps while `s` holds the manager's I/O).
    const auto threads_before = thread_count();

    // The token endpoint takes 3 s to answer: the refresh is in flight for a while.
    test::issuer_faults faults;
    faults.delay = 3s;
    f.issuer.set_faults(faults);
    manager->start_keep_alive(for_5s_tokens());
    CHECK(thread_count() == threads_before + 1);
    REQUIRE(wait_until([&] { return manager->stats().keep_alive_refreshes >= 1; }, 6s));
    std::this_thread::sleep_for(300ms);
    REQUIRE(f.issuer.stats().token_requests >= 2); // the rehydration's and the keep-alive's

    const auto t0 = steady::now();
    manager.reset();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
    INFO("the destructor took " << took.count() << " ms");
    CHECK(took < 1500ms);
    // The scheduler's thread and the two I/O threads are gone.
    const bool gone = wait_until([&] { return thread_count() == threads_before - 2; }, 2s);
    INFO("threads: " << thread_count() << ", " << threads_before << " with the manager");
    CHECK(gone);
    f.issuer.set_faults({});
}
