// Sessions and the multi-session API against the embedded test issuer: the anchor's semantics case
// by case, the four rotation-safety rules, listing, clearing, batches, fetch and logout.
#include <multisession/asio.hpp>
#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/sqlite.hpp>

#include "oidc/dpop.hpp"
#include "oidc/provider_client.hpp"
#include "session/engine.hpp"
#include "session/session_record.hpp"

#include "../support/manual_clock.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_issuer.hpp"
#include "../support/transport_thread.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <future>
#include <sstream>
#include <thread>

namespace ms = multisession;
namespace oidc = multisession::oidc;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using multisession::oidc_errc;
using multisession::storage_errc;
using namespace std::chrono_literals;

namespace {

const std::string alice = "https://alice.example/profile/card#me";
const std::string client_id = "app";
const std::string client_secret = "app-secret";

/// An issuer with the usual confidential client.
struct issuer_fixture {
    test::test_issuer issuer;
    issuer_fixture() { issuer.add_client({client_id, client_secret, std::nullopt}); }

    /// Stores a record for `id` with a freshly minted refresh token (DPoP-bound unless bearer).
    std::string store_session(ms::storage& store, const std::string& id, bool dpop = true) {
        sd::session_record r;
        r.issuer = issuer.issuer();
        r.client_id = client_id;
        r.client_secret = client_secret;
        r.client_type = "static";
        r.dpop = dpop;
        std::optional<std::string> jkt;
        if (dpop) {
            auto key = oidc::dpop_key::generate();
            r.public_key = key.public_jwk_json();
            r.private_key = key.private_jwk_json();
            jkt = key.thumbprint();
        }
        r.refresh_token = issuer.mint_refresh_token(client_id, alice, jkt);
        store.set(sd::record_key(id), sd::serialize_session_record(r));
        return *r.refresh_token;
    }
};

ms::session_manager_options loopback(std::shared_ptr<ms::storage> store, std::size_t threads = 0) {
    ms::session_manager_options o;
    o.store = std::move(store);
    o.threads = threads;
    o.allow_insecure_loopback = true;
    o.read_timeout = 3s;
    return o;
}

sd::session_record stored_record(ms::storage& store, const std::string& id) {
    auto text = store.get(sd::record_key(id));
    REQUIRE(text);
    return sd::parse_session_record(id, *text);
}

/// Forwards to another store, and runs a hook after the n-th read of one key: a way to act
/// "between" two steps of the code under test, deterministically.
class hook_storage final : public ms::storage {
public:
    explicit hook_storage(std::shared_ptr<ms::storage> inner, ms::clock_function clock = {})
        : ms::storage(std::move(clock)), inner_(std::move(inner)) {}
    std::string hooked_key;
    int hook_on_read = 0;
    std::function<void()> hook;
    /// compare_and_set calls on lease keys (take, renew, release).
    std::atomic<int> lease_cas{0};
    /// The threads that wrote (set, remove, compare_and_set).
    std::set<std::thread::id> writer_threads() const {
        std::lock_guard lock(writers_mutex_);
        return writers_;
    }

protected:
    std::optional<std::string> do_get(std::string_view key, ms::time_point) override {
        auto value = inner_->get(key);
        if (key == hooked_key && ++reads_ == hook_on_read && hook) hook();
        return value;
    }
    void do_set(std::string_view key, std::string_view value, std::optional<ms::time_point> expires_at,
                ms::time_point) override {
        note_writer();
        inner_->set(key, value, expires_at);
    }
    bool do_remove(std::string_view key, ms::time_point) override {
        note_writer();
        return inner_->remove(key);
    }
    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<ms::time_point> expires_at,
                            ms::time_point) override {
        note_writer();
        if (key.starts_with(sd::lease_prefix)) ++lease_cas;
        return inner_->compare_and_set(key, expected, desired, expires_at);
    }
    void do_scan(std::string_view prefix, bool with_values, const ms::entry_visitor& visit, ms::time_point) override {
        if (with_values)
            inner_->for_each(prefix, visit);
        else
            inner_->for_each_key(prefix, [&](std::string_view k) { return visit(k, {}); });
    }
    std::size_t do_remove_prefix(std::string_view prefix, ms::time_point) override { return inner_->remove_prefix(prefix); }
    std::size_t do_purge_expired(ms::time_point) override { return inner_->purge_expired(); }

private:
    void note_writer() {
        std::lock_guard lock(writers_mutex_);
        writers_.insert(std::this_thread::get_id());
    }
    std::shared_ptr<ms::storage> inner_;
    int reads_ = 0;
    mutable std::mutex writers_mutex_;
    std::set<std::thread::id> writers_;
};

} // namespace

TEST_CASE("get_session_from_storage: the anchor's cases one by one") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store));

    SUBCASE("an unknown id is nullopt, without any request") {
        CHECK_FALSE(manager.get_session_from_storage("nobody"));
        CHECK(f.issuer.stats().token_requests == 0);
    }
    SUBCASE("a record without an issuer is not a session (an OAuth state record)") {
        store->set(sd::record_key("state-123"), R"({"sessionId":"s1"})");
        CHECK_FALSE(manager.get_session_from_storage("state-123"));
    }
    SUBCASE("a record without a refresh token is a logged-out session with its WebID") {
        sd::session_record r;
        r.issuer = f.issuer.issuer();
        r.client_id = client_id;
        r.webid = alice;
        store->set(sd::record_key("s1"), sd::serialize_session_record(r));
        auto s = manager.get_session_from_storage("s1");
        REQUIRE(s);
        CHECK_FALSE(s->is_logged_in());
        CHECK(s->webid() == alice);
        CHECK(s->issuer() == f.issuer.issuer());
        CHECK(f.issuer.stats().token_requests == 0);
    }
    SUBCASE("refresh_session = false: no network, a logged-out session") {
        const auto rt = f.store_session(*store, "s1");
        ms::get_session_options o;
        o.refresh_session = false;
        auto s = manager.get_session_from_storage("s1", o);
        REQUIRE(s);
        CHECK_FALSE(s->is_logged_in());
        CHECK(f.issuer.stats().discovery_requests == 0);
        CHECK(stored_record(*store, "s1").refresh_token == rt);
    }
    SUBCASE("a stored session logs in again; the rotated token is stored and announced") {
        const auto rt0 = f.store_session(*store, "s1");
        std::vector<std::string> announced;
        std::vector<ms::session_event_type> events;
        ms::get_session_options o;
        o.on_new_refresh_token = [&](const std::string& t) { announced.push_back(t); };
        auto s = manager.get_session_from_storage("s1", o);
        REQUIRE(s);
        CHECK(s->is_logged_in());
        CHECK(s->webid() == alice);
        CHECK(s->id() == "s1");
        REQUIRE(s->expiration());
        CHECK(*s->expiration() > std::chrono::system_clock::now() + 200s);
        const auto stored = stored_record(*store, "s1");
        REQUIRE(stored.refresh_token);
        CHECK(*stored.refresh_token != rt0);
        CHECK(f.issuer.refresh_token_valid(*stored.refresh_token));
        CHECK(announced == std::vector<std::string>{*stored.refresh_token});
        CHECK(f.issuer.stats().token_requests == 1);
        CHECK(f.issuer.stats().discovery_requests == 1);
        CHECK_FALSE(store->get(sd::lease_key("s1"))); // the lease was released
        // And again, from the stored rotated token.
        CHECK(manager.get_session_from_storage("s1")->is_logged_in());
    }
    SUBCASE("a Bearer session") {
        f.store_session(*store, "s1", false);
        auto s = manager.get_session_from_storage("s1");
        REQUIRE(s);
        CHECK(s->is_logged_in());
        CHECK(f.issuer.recent_token_requests(1).at(0).had_dpop_proof == false);
    }
    SUBCASE("a failed refresh is a typed error, and the record is left as it was") {
        f.store_session(*store, "s1");
        // A token the provider does not know.
        auto r = stored_record(*store, "s1");
        r.refresh_token = "not-a-token-the-issuer-knows";
        store->set(sd::record_key("s1"), sd::serialize_session_record(r));
        const auto before = store->get(sd::record_key("s1"));
        try {
            manager.get_session_from_storage("s1");
            FAIL("refresh with an unknown token succeeded");
        } catch (const ms::error& e) {
            CHECK(e.code() == oidc_errc::invalid_grant);
            CHECK(std::string(e.what()).find("s1") != std::string::npos);
            CHECK(std::string(e.what()).find("not-a-token") == std::string::npos);
        }
        CHECK(store->get(sd::record_key("s1")) == before);
        // The callback form hands over the session too, marked logged out.
        ms::session_manager threaded(loopback(store, 1));
        std::promise<std::pair<std::error_code, std::optional<ms::session>>> p;
        threaded.async_get_session_from_storage("s1", {}, [&](std::error_code ec, std::optional<ms::session> s) {
            p.set_value({ec, std::move(s)});
        });
        auto fut = p.get_future();
        REQUIRE(fut.wait_for(30s) == std::future_status::ready);
        auto [ec, s] = fut.get();
        CHECK(ec == oidc_errc::invalid_grant);
        REQUIRE(s);
        CHECK_FALSE(s->is_logged_in());
    }
    SUBCASE("a provider that is down is a transport error, not invalid_grant") {
        const auto rt = f.store_session(*store, "s1");
        f.issuer.set_faults({.token_server_error = true});
        try {
            manager.get_session_from_storage("s1");
            FAIL("refresh against a failing provider succeeded");
        } catch (const ms::error& e) {
            CHECK(e.code() == oidc_errc::server_error);
        }
        CHECK(stored_record(*store, "s1").refresh_token == rt);
    }
}

TEST_CASE("a corrupt record names its id, never its content, and the others still load") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store));
    f.store_session(*store, "good-1");
    f.store_session(*store, "good-2");
    store->set(sd::record_key("broken"), R"({"issuer": 42, "refreshToken": "rt-SECRET-123"})");

    try {
        manager.get_session_from_storage("broken");
        FAIL("a corrupt record loaded");
    } catch (const ms::error& e) {
        CHECK(e.code() == storage_errc::corrupt_record);
        CHECK(std::string(e.what()).find("broken") != std::string::npos);
        CHECK(std::string(e.what()).find("rt-SECRET-123") == std::string::npos);
    }
    auto ids = manager.get_session_id_from_storage_all();
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"broken", "good-1", "good-2"});
    auto results = manager.rehydrate(ids);
    REQUIRE(results.size() == 3);
    CHECK(results[0].error == storage_errc::corrupt_record);
    CHECK(results[1].value->is_logged_in());
    CHECK(results[2].value->is_logged_in());
}

TEST_CASE("rule 1: 64 concurrent calls on one id make exactly one token request") {
    issuer_fixture f;
    f.issuer.set_faults({.delay = 100ms}); // so that every caller arrives while the refresh is in flight
    auto store = ms::make_memory_storage();
    f.store_session(*store, "s1");

    SUBCASE("callback form, two I/O threads") {
        ms::session_manager manager(loopback(store, 2));
        std::atomic<int> logged_in{0}, left{64};
        std::promise<void> all;
        for (int i = 0; i < 64; ++i) {
            manager.async_get_session_from_storage("s1", {}, [&](std::error_code ec, std::optional<ms::session> s) {
                if (!ec && s && s->is_logged_in()) ++logged_in;
                if (--left == 0) all.set_value();
            });
        }
        REQUIRE(all.get_future().wait_for(30s) == std::future_status::ready);
        CHECK(logged_in == 64);
        CHECK(f.issuer.stats().token_requests == 1);
        CHECK(manager.stats().refreshes == 1);
        CHECK(manager.stats().joined == 63);
    }
    SUBCASE("blocking form from 64 threads, no I/O thread of its own") {
        ms::session_manager manager(loopback(store, 0));
        std::atomic<int> logged_in{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 64; ++i)
            threads.emplace_back([&] {
                auto s = manager.get_session_from_storage("s1");
                if (s && s->is_logged_in()) ++logged_in;
            });
        for (auto& t : threads) t.join();
        CHECK(logged_in == 64);
        CHECK(f.issuer.stats().token_requests == 1);
        CHECK(f.issuer.stats().refresh_reuses == 0);
    }
}

TEST_CASE("rule 2: a lease held elsewhere is waited for, and its holder's rotation is used") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    const auto rt0 = f.store_session(*store, "s1");
    auto o = loopback(store);

    SUBCASE("the holder rotates and releases: we redeem its new token, no reuse") {
        ms::session_manager manager(o);
        REQUIRE(store->compare_and_set(sd::lease_key("s1"), std::nullopt, "other-process", store->now() + 30s));
        std::thread other([&] {
            std::this_thread::sleep_for(300ms);
            // What another process does under its lease: redeem, store the rotated token, release.
            test::transport_thread io({.allow_insecure_loopback = true});
            auto client = oidc::provider_client::create(io.transport(), {.allow_insecure_loopback = true});
            auto r = stored_record(*store, "s1");
            auto key = oidc::dpop_key::from_jwk(*r.public_key, *r.private_key);
            auto t = client->refresh(f.issuer.issuer(), {client_id, client_secret, oidc::client_type::static_client},
                                     rt0, key);
            r.refresh_token = t.refresh_token;
            store->set(sd::record_key("s1"), sd::serialize_session_record(r));
            store->remove(sd::lease_key("s1"));
        });
        auto s = manager.get_session_from_storage("s1");
        other.join();
        REQUIRE(s);
        CHECK(s->is_logged_in());
        CHECK(manager.stats().lease_waits == 1);
        CHECK(manager.stats().adopted == 0);
        CHECK(f.issuer.stats().refresh_reuses == 0);
        CHECK(f.issuer.stats().token_requests == 2);
    }
    SUBCASE("a crashed holder's lease runs out") {
        o.lease_duration = 1s;
        o.total_timeout = 400ms;
        ms::session_manager manager(o);
        REQUIRE(store->compare_and_set(sd::lease_key("s1"), std::nullopt, "crashed", store->now() + 1s));
        const auto start = std::chrono::steady_clock::now();
        CHECK(manager.get_session_from_storage("s1")->is_logged_in());
        CHECK(std::chrono::steady_clock::now() - start >= 500ms);
        CHECK(manager.stats().lease_waits == 1);
    }
    SUBCASE("a lease that outlasts lease_wait is busy, and nothing was redeemed") {
        o.lease_wait = 1s;
        ms::session_manager manager(o);
        REQUIRE(store->compare_and_set(sd::lease_key("s1"), std::nullopt, "stuck", store->now() + 60s));
        try {
            manager.get_session_from_storage("s1");
            FAIL("a held lease was ignored");
        } catch (const ms::error& e) {
            CHECK(e.code() == storage_errc::busy);
        }
        CHECK(f.issuer.stats().token_requests == 0);
        CHECK(f.issuer.refresh_token_valid(rt0));
    }
}

TEST_CASE("rule 3: the rotated token is stored before the ID token is checked") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    const auto rt0 = f.store_session(*store, "s1");
    ms::session_manager manager(loopback(store));
    f.issuer.set_faults({.bad_id_token_signature = true});
    std::string announced;
    ms::get_session_options o;
    o.on_new_refresh_token = [&](const std::string& t) { announced = t; };
    try {
        manager.get_session_from_storage("s1", o);
        FAIL("a badly signed ID token was accepted");
    } catch (const ms::error& e) {
        CHECK(e.code() == oidc_errc::invalid_token);
    }
    const auto stored = stored_record(*store, "s1");
    REQUIRE(stored.refresh_token);
    CHECK(*stored.refresh_token != rt0);
    CHECK(*stored.refresh_token == announced);
    CHECK(f.issuer.refresh_token_valid(*stored.refresh_token));
    // Nothing was lost: with a sound provider the next start logs in from it.
    f.issuer.set_faults({});
    CHECK(manager.get_session_from_storage("s1")->is_logged_in());
}

TEST_CASE("rule 4: invalid_grant after a sibling rotated adopts the sibling's token") {
    issuer_fixture f;
    auto memory = ms::make_memory_storage();
    auto store = std::make_shared<hook_storage>(memory);
    const auto rt0 = f.store_session(*memory, "s1");
    // A writer that takes no lease (an older process, another library) redeems the token right
    // after our coordinator read it under its lease, and stores its rotated token.
    store->hooked_key = sd::record_key("s1");
    store->hook_on_read = 2; // 1: the first look, 2: the read under the lease
    store->hook = [&] {
        test::transport_thread io({.allow_insecure_loopback = true});
        auto client = oidc::provider_client::create(io.transport(), {.allow_insecure_loopback = true});
        auto r = stored_record(*memory, "s1");
        auto key = oidc::dpop_key::from_jwk(*r.public_key, *r.private_key);
        auto t = client->refresh(f.issuer.issuer(), {client_id, client_secret, oidc::client_type::static_client}, rt0, key);
        r.refresh_token = t.refresh_token;
        memory->set(sd::record_key("s1"), sd::serialize_session_record(r));
    };
    ms::session_manager manager(loopback(store));
    auto s = manager.get_session_from_storage("s1");
    REQUIRE(s);
    CHECK(s->is_logged_in());
    CHECK(manager.stats().adopted == 1);
    CHECK(f.issuer.stats().refresh_reuses == 1); // our first attempt, with the stale token
    const auto stored = stored_record(*memory, "s1");
    CHECK(f.issuer.refresh_token_valid(*stored.refresh_token));
}

TEST_CASE("rule 2: the lease covers the token request: renewed when short, never redeemed when lost") {
    issuer_fixture f;
    test::manual_clock clock;
    auto memory = ms::make_memory_storage({clock.function()});
    auto store = std::make_shared<hook_storage>(memory, clock.function());
    const auto rt0 = f.store_session(*memory, "s1");
    store->hooked_key = sd::record_key("s1");
    store->hook_on_read = 2; // the read under the lease, just before the token request
    auto o = loopback(store);
    o.lease_duration = 75s;
    o.total_timeout = 30s;

    SUBCASE("less than two token requests left: renewed, then redeemed") {
        store->hook = [&] { clock.advance(70s); }; // 5 s left of 75
        ms::session_manager manager(o);
        auto s = manager.get_session_from_storage("s1");
        REQUIRE(s);
        CHECK(s->is_logged_in());
        CHECK(store->lease_cas == 3); // take, renew, release
        CHECK(f.issuer.stats().token_requests == 1);
        CHECK_FALSE(memory->get(sd::lease_key("s1")));
    }
    SUBCASE("plenty left: no renewal") {
        store->hook = [&] { clock.advance(10s); }; // 65 s left
        ms::session_manager manager(o);
        CHECK(manager.get_session_from_storage("s1")->is_logged_in());
        CHECK(store->lease_cas == 2); // take, release
    }
    SUBCASE("the lease ran out and another process took it: busy, nothing redeemed") {
        store->hook = [&] {
            clock.advance(80s);
            REQUIRE(memory->compare_and_set(sd::lease_key("s1"), std::nullopt, "other", memory->now() + 75s));
        };
        ms::session_manager manager(o);
        CHECK(test::code_of([&] { (void)manager.get_session_from_storage("s1"); }) == storage_errc::busy);
        CHECK(f.issuer.stats().token_requests == 0);
        CHECK(f.issuer.refresh_token_valid(rt0));
        CHECK(memory->get(sd::lease_key("s1")) == "other"); // not ours to release
        CHECK(*stored_record(*memory, "s1").refresh_token == rt0);
    }
}

TEST_CASE("options that cannot keep rotation safe are refused") {
    auto o = loopback(ms::make_memory_storage());
    o.total_timeout = 30s;
    o.lease_duration = 60s; // not more than two token requests
    CHECK(test::code_of([&] { ms::session_manager manager(o); }) == storage_errc::invalid_configuration);
    o.lease_duration = 0s;
    CHECK(test::code_of([&] { ms::session_manager manager(o); }) == storage_errc::invalid_configuration);
    o.lease_duration = 61s;
    CHECK_NOTHROW(ms::session_manager manager(o));
    CHECK_NOTHROW(ms::session_manager manager(loopback(ms::make_memory_storage()))); // the defaults
    o.total_timeout = 0ms;
    CHECK(test::code_of([&] { ms::session_manager manager(o); }) == storage_errc::invalid_configuration);
}

TEST_CASE("listing and clearing") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    ms::session_manager manager(loopback(store));
    for (int i = 0; i < 5; ++i) f.store_session(*store, "s" + std::to_string(i));
    store->set(sd::record_key("state-abc"), R"({"sessionId":"s1"})");
    store->set(sd::record_key("named-issuer"), R"({"clientName":"issuer","clientId":"x"})");
    store->set(std::string(sd::registered_sessions_key), R"(["s0","s1","s2","s3","s4"])");
    store->set("issuerConfig:https://issuer.example", "{}");
    store->set("unrelated", "keep me");
    REQUIRE(store->compare_and_set(sd::lease_key("s3"), std::nullopt, "x", store->now() + 60s));

    auto ids = manager.get_session_id_from_storage_all();
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"s0", "s1", "s2", "s3", "s4"});
    CHECK(ms::get_session_id_from_storage_all(store).size() == 5);

    int visited = 0;
    manager.for_each_session_id([&](std::string_view) { return ++visited < 2; });
    CHECK(visited == 2);

    auto cleared = manager.clear_session_from_storage_all();
    std::sort(cleared.session_ids.begin(), cleared.session_ids.end());
    CHECK(cleared.session_ids == ids);
    CHECK(cleared.entries_removed == 5 + 2 + 1); // records, the two non-session records, the lease
    CHECK(manager.get_session_id_from_storage_all().empty());
    CHECK(store->get(std::string(sd::registered_sessions_key)) == "[]");
    CHECK(store->get("unrelated") == "keep me");
    CHECK(store->get("issuerConfig:https://issuer.example"));
}

TEST_CASE("batches: bounded concurrency, progress, one result per id in order") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    std::vector<std::string> ids;
    for (int i = 0; i < 20; ++i) {
        ids.push_back("s" + std::to_string(i));
        f.store_session(*store, ids.back(), i % 2 == 0);
    }
    ids.insert(ids.begin() + 5, "missing");
    store->set(sd::record_key("corrupt"), "not json at all");
    ids.push_back("corrupt");
    ms::session_manager manager(loopback(store));
    std::vector<std::size_t> progress;
    ms::batch_options o;
    o.concurrency = 4;
    o.progress = [&](std::size_t done, std::size_t total) {
        CHECK(total == 22);
        progress.push_back(done);
    };
    auto results = manager.rehydrate(ids, o);
    REQUIRE(results.size() == ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CAPTURE(ids[i]);
        CHECK(results[i].session_id == ids[i]);
        if (ids[i] == "missing") {
            CHECK_FALSE(results[i].value);
            CHECK_FALSE(results[i].error);
        } else if (ids[i] == "corrupt") {
            CHECK(results[i].error == storage_errc::corrupt_record);
        } else {
            REQUIRE(results[i].value);
            CHECK(results[i].value->is_logged_in());
        }
    }
    CHECK(progress.size() == 22);
    CHECK(progress.back() == 22);
    CHECK(f.issuer.stats().token_requests == 20);
    CHECK(f.issuer.stats().discovery_requests == 1);
    CHECK(f.issuer.server().peak_open_connections() <= 4);
}

TEST_CASE("store threads: rehydration's store work runs off the I/O thread, on a SQLite file, twice in a row") {
    issuer_fixture f;
    const test::temp_dir dir(test::temp_dir::default_base());
    auto sqlite = ms::make_sqlite_storage(dir / "sessions.db");
    std::vector<std::string> ids;
    for (int i = 0; i < 60; ++i) {
        ids.push_back("s" + std::to_string(i));
        f.store_session(*sqlite, ids.back());
    }
    for (const std::size_t io_threads : {std::size_t{0}, std::size_t{2}}) {
        CAPTURE(io_threads);
        auto noting = std::make_shared<hook_storage>(sqlite);
        auto options = loopback(noting, io_threads);
        options.storage_threads = 4;
        const auto requests_before = f.issuer.stats().token_requests;
        {
            ms::session_manager manager(options);
            ms::batch_options o;
            o.concurrency = 16;
            const auto results = manager.rehydrate(ids, o);
            REQUIRE(results.size() == ids.size());
            for (const auto& r : results) {
                CAPTURE(r.session_id);
                REQUIRE(r.value);
                CHECK(r.value->is_logged_in());
                CHECK(r.value->webid() == alice);
            }
        }
        // One request per session, none of them with a token already used: the second round
        // redeemed the tokens the first one stored.
        CHECK(f.issuer.stats().token_requests - requests_before == ids.size());
        CHECK(f.issuer.stats().refresh_reuses == 0);
        const auto writers = noting->writer_threads();
        CHECK_FALSE(writers.empty());
        CHECK(writers.count(std::this_thread::get_id()) == 0);
    }
}

TEST_CASE("a session fetches with its tokens; logout removes the record") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    f.store_session(*store, "s1");
    store->set(std::string(sd::registered_sessions_key), R"(["s1","s2"])");
    auto o = loopback(store);
    o.maintain_registered_sessions_index = true;
    std::vector<ms::session_event_type> events;
    o.on_event = [&](const ms::session_event& e) { events.push_back(e.type); };
    ms::session_manager manager(o);
    auto s = manager.get_session_from_storage("s1");
    REQUIRE(s);
    CHECK(events == std::vector<ms::session_event_type>{ms::session_event_type::new_refresh_token,
                                                        ms::session_event_type::new_tokens,
                                                        ms::session_event_type::extended});

    auto res = s->fetch({"GET", f.issuer.resource_url("/notes"), {}, {}});
    CHECK(res.status == 200);
    CHECK(res.body == "hello " + alice);

    bool saw_logout = false;
    s->on_event([&](const ms::session_event& e) { saw_logout |= e.type == ms::session_event_type::logout; });
    s->logout();
    CHECK(saw_logout);
    CHECK_FALSE(s->is_logged_in());
    CHECK_FALSE(store->get(sd::record_key("s1")));
    CHECK(store->get(std::string(sd::registered_sessions_key)) == R"(["s2"])");
    CHECK(test::code_of([&] { s->fetch({"GET", f.issuer.resource_url("/notes"), {}, {}}); }) ==
          oidc_errc::invalid_request);
    CHECK_FALSE(manager.get_session_from_storage("s1"));
}

TEST_CASE("the three free functions, over the process-wide manager and the default store") {
    issuer_fixture f;
    ms::session_manager_options o;
    o.allow_insecure_loopback = true;
    ms::configure_default_session_manager(o);
    CHECK(test::code_of([&] { ms::configure_default_session_manager(o); }) == std::error_code{});

    auto store = ms::default_storage();
    f.store_session(*store, "d1");
    f.store_session(*store, "d2");
    CHECK(ms::get_session_id_from_storage_all().size() == 2);
    auto s = ms::get_session_from_storage("d1");
    REQUIRE(s);
    CHECK(s->is_logged_in());
    CHECK_FALSE(ms::get_session_from_storage("nope"));
    auto cleared = ms::clear_session_from_storage_all();
    CHECK(cleared.session_ids.size() == 2);
    CHECK(ms::get_session_id_from_storage_all().empty());
    CHECK(test::code_of([&] { ms::configure_default_session_manager(o); }) == storage_errc::invalid_configuration);
}

TEST_CASE("a store in the layout Inrupt's library writes rehydrates") {
    // The fixture is a store as Inrupt's library leaves it. Its issuer is fictitious: point the
    // records at the test issuer and give them refresh tokens it knows (bound to each record's own
    // stored DPoP key), leaving every other field as Inrupt wrote it.
    std::ifstream in(std::string(SESSION_FIXTURES) + "/inrupt_store.json");
    REQUIRE(in);
    const auto fixture = nlohmann::json::parse(in);
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    std::map<std::string, std::string> expected_webid; // sessions that should log in
    for (const auto& [key, value] : fixture.items()) {
        auto text = value.get<std::string>();
        auto id = sd::session_id_of_key(key);
        auto record = nlohmann::json::parse(text, nullptr, false);
        if (id && record.is_object() && record.contains("issuer")) {
            record["issuer"] = f.issuer.issuer();
            if (record.contains("refreshToken")) {
                const auto client = record.value("clientId", record.value("clientAppId", std::string()));
                std::optional<std::string> secret;
                if (record.contains("clientSecret")) secret = record["clientSecret"].get<std::string>();
                if (record.contains("clientAppSecret")) secret = record["clientAppSecret"].get<std::string>();
                const auto webid = record["webId"].get<std::string>();
                f.issuer.add_client({client, secret, std::nullopt});
                std::optional<std::string> jkt;
                if (record["dpop"] == "true")
                    jkt = oidc::dpop_key::from_jwk(record["publicKey"].get<std::string>(),
                                                   record["privateKey"].get<std::string>())
                              .thumbprint();
                record["refreshToken"] = f.issuer.mint_refresh_token(client, webid, jkt);
                expected_webid[std::string(*id)] = webid;
            }
            text = record.dump();
        }
        store->set(key, text);
    }
    REQUIRE(expected_webid.size() == 3);

    ms::session_manager manager(loopback(store));
    auto ids = manager.get_session_id_from_storage_all();
    CHECK(ids.size() == 5); // every record with an issuer; not the state record nor the issuer-less one
    for (const auto& r : manager.rehydrate(ids)) {
        CAPTURE(r.session_id);
        REQUIRE_FALSE(r.error);
        REQUIRE(r.value);
        if (auto it = expected_webid.find(r.session_id); it != expected_webid.end()) {
            CHECK(r.value->is_logged_in());
            CHECK(r.value->webid() == it->second);
        } else {
            CHECK_FALSE(r.value->is_logged_in());
        }
    }
    CHECK(f.issuer.stats().token_requests == 3);
    CHECK(f.issuer.stats().refresh_reuses == 0);
}

TEST_CASE("Asio forms: a manager on the application's executor, with completion tokens") {
    issuer_fixture f;
    auto store = ms::make_memory_storage();
    f.store_session(*store, "s1");
    f.store_session(*store, "s2");
    boost::asio::io_context ioc;
    auto work = boost::asio::make_work_guard(ioc);
    std::thread runner([&] { ioc.run(); });
    {
        auto o = loopback(store);
        auto manager = ms::make_session_manager(ioc.get_executor(), o);
        CHECK(ms::session_executor(*manager) == boost::asio::any_io_executor(ioc.get_executor()));

        auto s = ms::async_get_session_from_storage(*manager, "s1", {}, boost::asio::use_future).get();
        REQUIRE(s);
        CHECK(s->is_logged_in());

        auto res = ms::async_fetch(*s, {"GET", f.issuer.resource_url("/x"), {}, {}}, boost::asio::use_future).get();
        CHECK(res.status == 200);

        auto results = ms::async_rehydrate(*manager, {"s2", "nobody"}, {}, boost::asio::use_future).get();
        REQUIRE(results.size() == 2);
        CHECK(results[0].value->is_logged_in());
        CHECK_FALSE(results[1].value);

        // A failure reaches the future as an exception carrying the library's code.
        auto r = sd::parse_session_record("s1", *store->get(sd::record_key("s1")));
        r.refresh_token = "unknown-to-the-issuer";
        store->set(sd::record_key("s1"), sd::serialize_session_record(r));
        try {
            ms::async_get_session_from_storage(*manager, "s1", {}, boost::asio::use_future).get();
            FAIL("an unknown refresh token was accepted");
        } catch (const boost::system::system_error& e) {
            CHECK(std::error_code(e.code()) == oidc_errc::invalid_grant);
        }
        // The blocking forms work too, from a thread that is not the executor's.
        CHECK(manager->get_session_from_storage("s2")->is_logged_in());
    }
    work.reset();
    runner.join();
}

TEST_CASE("the registered-sessions index: kept up to date without lost updates") {
    SUBCASE("8 threads adding and removing ids at once") {
        auto store = ms::make_memory_storage();
        std::vector<std::thread> threads;
        for (int t = 0; t < 8; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 50; ++i) {
                    const auto id = "t" + std::to_string(t) + "-" + std::to_string(i);
                    sd::add_to_index(*store, id);
                    if (i % 2 == 1) sd::remove_from_index(*store, id);
                }
            });
        for (auto& t : threads) t.join();
        auto ids = sd::parse_session_index(store->get(std::string(sd::registered_sessions_key)));
        CHECK(ids.size() == 8 * 25); // every even id stayed, every odd one went
        std::sort(ids.begin(), ids.end());
        CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
        CHECK(std::find(ids.begin(), ids.end(), "t3-10") != ids.end());
        CHECK(std::find(ids.begin(), ids.end(), "t3-11") == ids.end());
    }
    SUBCASE("a rehydrated session missing from the index is added to it") {
        issuer_fixture f;
        auto store = ms::make_memory_storage();
        f.store_session(*store, "s1");
        f.store_session(*store, "s2");
        store->set(std::string(sd::registered_sessions_key), R"(["s1"])");
        auto o = loopback(store);
        o.maintain_registered_sessions_index = true;
        ms::session_manager manager(o);
        CHECK(manager.get_session_from_storage("s2")->is_logged_in());
        CHECK(manager.get_session_from_storage("s1")->is_logged_in());
        CHECK(store->get(std::string(sd::registered_sessions_key)) == R"(["s1","s2"])");
    }
}
