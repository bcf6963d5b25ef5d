// The session lifecycle against the embedded test issuer: authorization-code login with its
// pending state, the three kinds of client, client-credentials sessions, logout with revocation
// and the end-session URL, per-user operations, application data, session information, expiry
// and pruning.
#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/sqlite.hpp>

#include "oidc/dpop.hpp"
#include "session/session_record.hpp"

#include "../support/manual_clock.hpp"
#include "../support/test_issuer.hpp"
#include "../support/transport_thread.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

namespace ms = multisession;
namespace oidc = multisession::oidc;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
namespace http = multisession::http;
using multisession::oidc_errc;
using multisession::storage_errc;
using namespace std::chrono_literals;
using test::code_of;

namespace {

const std::string alice = "https://alice.example/profile/card#me";
const std::string bob = "https://bob.example/profile/card#me";
const std::string redirect = "https://app.example/callback";
const std::string client_id = "app";
const std::string client_secret = "app-secret-value";

/// The query parameters of a URL (form-decoded enough for the values these tests use).
std::map<std::string, std::string> query_of(const std::string& url) {
    std::map<std::string, std::string> out;
    const auto q = url.find('?');
    if (q == std::string::npos) return out;
    std::string rest = url.substr(q + 1);
    std::size_t at = 0;
    while (at <= rest.size()) {
        auto amp = rest.find('&', at);
        if (amp == std::string::npos) amp = rest.size();
        auto pair = rest.substr(at, amp - at);
        auto eq = pair.find('=');
        std::string name = pair.substr(0, eq), value = eq == std::string::npos ? "" : pair.substr(eq + 1);
        std::string decoded;
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (value[i] == '%' && i + 2 < value.size() + 0) {
                decoded += static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
                i += 2;
            } else {
                decoded += value[i] == '+' ? ' ' : value[i];
            }
        }
        out[name] = decoded;
        at = amp + 1;
    }
    return out;
}

struct fixture {
    test::manual_clock clock;
    test::test_issuer issuer;
    std::shared_ptr<ms::storage> store;
    test::transport_thread browser{[] {
        http::client_options o;
        o.allow_insecure_loopback = true;
        o.read_timeout = 3s;
        return o;
    }()};

    explicit fixture(test::test_issuer_options options = {}, std::shared_ptr<ms::storage> s = nullptr)
        : issuer([&] {
              options.clock = clock.function();
              return options;
          }()),
          store(s ? std::move(s) : ms::make_memory_storage({clock.function()})) {
        test::test_client c;
        c.client_id = client_id;
        c.secret = client_secret;
        c.webid = alice;
        issuer.add_client(c);
        issuer.set_authorize_user(alice);
    }

    ms::session_manager_options options() {
        ms::session_manager_options o;
        o.store = store;
        o.allow_insecure_loopback = true;
        o.read_timeout = 3s;
        o.clock = clock.function();
        return o;
    }

    ms::login_options login_options(ms::client_config client = ms::client_config::static_client(client_id, client_secret)) {
        ms::login_options o;
        o.issuer = issuer.issuer();
        o.redirect_url = redirect;
        o.client = std::move(client);
        return o;
    }

    /// What the user agent does: GET the authorization URL, read where the provider sends it.
    std::string authorize(const std::string& authorization_url) {
        auto [ec, res] = browser.send({"GET", authorization_url, {}, {}});
        REQUIRE_FALSE(ec);
        REQUIRE(res.status == 302);
        auto location = res.header_value("Location");
        REQUIRE(location);
        return std::string(*location);
    }

    ms::session login(ms::session_manager& m, const std::string& user = alice, const std::string& session_id = {}) {
        issuer.set_authorize_user(user);
        auto o = login_options();
        o.session_id = session_id;
        auto request = m.login(o);
        return m.handle_incoming_redirect(authorize(request.authorization_url));
    }

    std::optional<sd::session_record> record(const std::string& id) {
        auto text = store->get(sd::record_key(id));
        if (!text) return std::nullopt;
        return sd::parse_session_record(id, *text);
    }
};

} // namespace

TEST_CASE("login: the authorization URL and the pending state") {
    fixture f;
    ms::session_manager m(f.options());
    auto o = f.login_options();
    o.prompt = "consent";
    o.session_id = "s-1";
    const auto request = m.login(o);

    CHECK(request.session_id == "s-1");
    CHECK(request.expires_at == f.clock.now() + 600s);
    const auto q = query_of(request.authorization_url);
    CHECK(request.authorization_url.rfind(f.issuer.issuer() + "/authorize?", 0) == 0);
    CHECK(q.at("response_type") == "code");
    CHECK(q.at("client_id") == client_id);
    CHECK(q.at("redirect_uri") == redirect);
    CHECK(q.at("code_challenge_method") == "S256");
    CHECK(q.at("code_challenge").size() == 43);
    CHECK(q.at("state") == request.state);
    CHECK(q.at("prompt") == "consent");
    CHECK(q.at("scope") == "openid offline_access webid");
    CHECK(q.count("client_secret") == 0);

    // Persisted under the state, with an expiry; no session record until the login completes.
    CHECK(f.store->get(std::string(sd::login_prefix) + request.state));
    CHECK_FALSE(f.store->get(sd::record_key("s-1")));
    CHECK(m.get_session_id_from_storage_all().empty());
    // The verifier is not in the URL, and the challenge is not the verifier.
    const auto pending = sd::parse_session_record("p", *f.store->get(std::string(sd::login_prefix) + request.state));
    REQUIRE(pending.code_verifier);
    CHECK(request.authorization_url.find(*pending.code_verifier) == std::string::npos);

    // Two logins get different states and verifiers.
    const auto second = m.login(f.login_options());
    CHECK(second.state != request.state);
    CHECK(query_of(second.authorization_url).at("code_challenge") != q.at("code_challenge"));
    CHECK(second.session_id != request.session_id);
}

TEST_CASE("login -> redirect -> a stored, logged-in, DPoP-bound session") {
    fixture f;
    ms::session_manager m(f.options());
    auto request = m.login(f.login_options());
    const auto back = f.authorize(request.authorization_url);
    CHECK(back.rfind(redirect + "?", 0) == 0);

    auto s = m.handle_incoming_redirect(back);
    CHECK(s.id() == request.session_id);
    CHECK(s.is_logged_in());
    CHECK(s.webid() == alice);
    CHECK(s.issuer() == f.issuer.issuer());
    CHECK(s.fetch({"GET", f.issuer.resource_url("/data")}).status == 200);

    const auto r = f.record(s.id());
    REQUIRE(r);
    CHECK(r->refresh_token);
    CHECK(r->dpop);
    CHECK(r->private_key);
    CHECK(r->webid == alice);
    CHECK(r->client_type == "static");
    CHECK_FALSE(r->code_verifier); // spent with the code
    CHECK(f.issuer.refresh_token_valid(*r->refresh_token));

    // The state is used once.
    CHECK_FALSE(f.store->get(std::string(sd::login_prefix) + request.state));
    CHECK(code_of([&] { (void)m.handle_incoming_redirect(back); }) == oidc_errc::invalid_state);

    // Listed, found by WebID, and rehydrated by another manager (a restart).
    CHECK(m.get_session_id_from_storage_all() == std::vector<std::string>{s.id()});
    const auto mine = m.list_sessions_of(alice);
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].session_id == s.id());
    ms::session_manager after_restart(f.options());
    auto again = after_restart.get_session_from_storage(s.id());
    REQUIRE(again);
    CHECK(again->is_logged_in());
    CHECK(f.issuer.stats().refresh_reuses == 0);
}

TEST_CASE("handle_incoming_redirect refuses what it must, and consumes the state") {
    fixture f;
    ms::session_manager m(f.options());

    SUBCASE("the user refuses: access_denied") {
        f.issuer.set_authorize_user(std::nullopt);
        auto request = m.login(f.login_options());
        const auto back = f.authorize(request.authorization_url);
        CHECK(query_of(back).at("error") == "access_denied");
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(back); }) == oidc_errc::access_denied);
        CHECK_FALSE(f.store->get(std::string(sd::login_prefix) + request.state));
        CHECK(f.store->keys().empty());
    }
    SUBCASE("an unknown state, or none") {
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(redirect + "?code=abc&state=forged"); }) ==
              oidc_errc::invalid_state);
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(redirect + "?code=abc"); }) == oidc_errc::invalid_state);
    }
    SUBCASE("a pending login past its expiry") {
        auto o = f.login_options();
        o.login_ttl = 60s;
        auto request = m.login(o);
        const auto back = f.authorize(request.authorization_url);
        f.clock.advance(61s);
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(back); }) == oidc_errc::invalid_state);
    }
    SUBCASE("a redirect that names another issuer (RFC 9207 mix-up)") {
        auto request = m.login(f.login_options());
        auto back = f.authorize(request.authorization_url);
        const auto iss = back.find("iss=");
        REQUIRE(iss != std::string::npos);
        back = back.substr(0, iss) + "iss=https%3A%2F%2Fevil.example";
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(back); }) == oidc_errc::issuer_mismatch);
        CHECK_FALSE(f.store->get(sd::record_key(request.session_id)));
    }
    SUBCASE("an ID token for another audience stores nothing") {
        auto request = m.login(f.login_options());
        const auto back = f.authorize(request.authorization_url);
        test::issuer_faults faults;
        faults.id_token_audience = "someone-else";
        f.issuer.set_faults(faults);
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(back); }) == oidc_errc::audience_mismatch);
        CHECK_FALSE(f.store->get(sd::record_key(request.session_id)));
    }
    SUBCASE("a new login for an existing id replaces the session only when it succeeds") {
        auto first = f.login(m, alice, "shared-id");
        const auto before = *f.store->get(sd::record_key("shared-id"));
        f.issuer.set_authorize_user(std::nullopt);
        auto o = f.login_options();
        o.session_id = "shared-id";
        auto request = m.login(o);
        CHECK(*f.store->get(sd::record_key("shared-id")) == before); // untouched while pending
        CHECK(code_of([&] { (void)m.handle_incoming_redirect(f.authorize(request.authorization_url)); }) ==
              oidc_errc::access_denied);
        CHECK(*f.store->get(sd::record_key("shared-id")) == before);
        auto second = f.login(m, bob, "shared-id");
        CHECK(second.webid() == bob);
        CHECK(m.list_sessions_of(alice).empty());
        CHECK(m.list_sessions_of(bob).size() == 1);
    }
}

TEST_CASE("clients: Solid-OIDC client identifier and dynamic registration reused until it expires") {
    test::test_issuer_options io;
    io.registration_secret_lifetime = 3600s;
    fixture f(io);
    ms::session_manager m(f.options());

    SUBCASE("a Solid-OIDC Client Identifier Document: a public client named by its URL") {
        const std::string doc = "https://app.example/id";
        test::test_client c;
        c.client_id = doc;
        f.issuer.add_client(c);
        auto request = m.login(f.login_options(ms::client_config::solid_oidc(doc)));
        CHECK(query_of(request.authorization_url).at("client_id") == doc);
        auto s = m.handle_incoming_redirect(f.authorize(request.authorization_url));
        CHECK(s.is_logged_in());
        const auto r = f.record(s.id());
        REQUIRE(r);
        CHECK(r->client_type == "solid-oidc");
        CHECK_FALSE(r->client_secret);
        CHECK(f.issuer.recent_token_requests(1).at(0).auth_method == "none");
        CHECK(code_of([&] { (void)m.login(f.login_options(ms::client_config::solid_oidc("not a url"))); }) ==
              ms::http_errc::invalid_url);
    }
    SUBCASE("dynamic registration: registered once, reused, registered again after it expires") {
        auto first = f.login(m, alice);
        (void)first;
        CHECK(f.issuer.stats().registrations == 0); // the fixture's login is static
        auto o = f.login_options(ms::client_config::dynamic("my app"));
        auto a = m.login(o);
        auto b = m.login(o);
        CHECK(f.issuer.stats().registrations == 1);
        CHECK(query_of(a.authorization_url).at("client_id") == query_of(b.authorization_url).at("client_id"));
        CHECK(query_of(a.authorization_url).at("client_id") != client_id);
        auto s = m.handle_incoming_redirect(f.authorize(b.authorization_url));
        CHECK(s.is_logged_in());
        CHECK(f.record(s.id())->client_type == "dynamic");
        // Another manager on the same store reuses the stored registration.
        ms::session_manager other(f.options());
        (void)other.login(o);
        CHECK(f.issuer.stats().registrations == 1);
        // A registration whose secret expired is not used again.
        f.clock.advance(3601s);
        auto c = m.login(o);
        CHECK(f.issuer.stats().registrations == 2);
        CHECK(query_of(c.authorization_url).at("client_id") != query_of(a.authorization_url).at("client_id"));
    }
    SUBCASE("no registration endpoint: unsupported_feature") {
        test::test_issuer_options none;
        none.advertise_registration = false;
        fixture g(none);
        ms::session_manager n(g.options());
        CHECK(code_of([&] { (void)n.login(g.login_options(ms::client_config::dynamic())); }) ==
              oidc_errc::unsupported_feature);
    }
}

TEST_CASE("client-credentials sessions are stored and retrievable") {
    fixture f;
    ms::session_manager m(f.options());
    ms::client_credentials_options o;
    o.issuer = f.issuer.issuer();
    o.client_id = client_id;
    o.client_secret = client_secret;
    o.session_id = "robot";
    auto s = m.login_client_credentials(o);
    CHECK(s.is_logged_in());
    CHECK(s.webid() == alice);
    CHECK(s.fetch({"GET", f.issuer.resource_url("/x")}).status == 200);

    CHECK(m.get_session_id_from_storage_all() == std::vector<std::string>{"robot"});
    const auto info = m.get_session_info("robot");
    REQUIRE(info);
    CHECK(info->client_credentials);
    CHECK_FALSE(info->has_refresh_token);

    ms::session_manager restarted(f.options());
    const auto before = f.issuer.stats().token_requests;
    auto again = restarted.get_session_from_storage("robot");
    REQUIRE(again);
    CHECK(again->is_logged_in());
    CHECK(again->webid() == alice);
    CHECK(f.issuer.stats().token_requests == before + 1);
    CHECK(f.issuer.recent_token_requests(1).at(0).grant_type == "client_credentials");
    CHECK(again->fetch({"GET", f.issuer.resource_url("/x")}).status == 200);

    // A wrong secret is refused at login and nothing is stored.
    o.client_secret = "wrong";
    o.session_id = "robot-2";
    CHECK(code_of([&] { (void)m.login_client_credentials(o); }) == oidc_errc::invalid_client);
    CHECK_FALSE(f.store->get(sd::record_key("robot-2")));
}

TEST_CASE("logout: local removal, RFC 7009 revocation, the RP-initiated logout URL") {
    fixture f;
    ms::session_manager m(f.options());

    SUBCASE("revokes both tokens and builds the end-session URL") {
        auto s = f.login(m);
        const auto refresh_token = *f.record(s.id())->refresh_token;
        ms::logout_options o;
        o.post_logout_redirect_uri = "https://app.example/bye";
        o.state = "xyz";
        bool saw_logout = false;
        s.on_event([&](const ms::session_event& e) { saw_logout |= e.type == ms::session_event_type::logout; });
        const auto result = s.logout(o);
        CHECK(result.removed);
        CHECK(result.refresh_token_revoked);
        CHECK(result.access_token_revoked);
        CHECK_FALSE(result.revocation_error);
        CHECK(saw_logout);
        CHECK_FALSE(s.is_logged_in());
        CHECK_FALSE(f.store->get(sd::record_key(s.id())));
        CHECK(m.list_sessions_of(alice).empty());
        CHECK(f.store->keys("multisession:webid:").empty());
        CHECK_FALSE(f.issuer.refresh_token_valid(refresh_token));
        CHECK(f.issuer.stats().tokens_revoked == 2);
        REQUIRE(result.end_session_url);
        const auto q = query_of(*result.end_session_url);
        CHECK(result.end_session_url->rfind(f.issuer.issuer() + "/logout?", 0) == 0);
        CHECK(q.at("post_logout_redirect_uri") == "https://app.example/bye");
        CHECK(q.at("state") == "xyz");
        CHECK(q.at("client_id") == client_id);
        CHECK(q.count("id_token_hint") == 1);
        // Idempotent.
        const auto twice = s.logout();
        CHECK_FALSE(twice.removed);
    }
    SUBCASE("without revocation at the provider: local logout only, no error") {
        test::test_issuer_options io;
        io.advertise_revocation = false;
        io.advertise_end_session = false;
        fixture g(io);
        ms::session_manager n(g.options());
        auto s = g.login(n);
        const auto refresh_token = *g.record(s.id())->refresh_token;
        ms::logout_options o;
        o.post_logout_redirect_uri = "https://app.example/bye";
        const auto result = s.logout(o);
        CHECK(result.removed);
        CHECK_FALSE(result.refresh_token_revoked);
        CHECK_FALSE(result.revocation_error);
        CHECK_FALSE(result.end_session_url);
        CHECK(g.issuer.refresh_token_valid(refresh_token));
        CHECK(g.issuer.stats().revocation_requests == 0);
    }
    SUBCASE("a provider that fails the revocation: the local logout stands") {
        auto s = f.login(m);
        test::issuer_faults faults;
        faults.server_error = true;
        f.issuer.set_faults(faults);
        const auto result = s.logout();
        CHECK(result.removed);
        CHECK(result.revocation_error);
        CHECK_FALSE(f.store->get(sd::record_key(s.id())));
    }
    SUBCASE("revoke_tokens = false leaves the provider alone") {
        auto s = f.login(m);
        const auto refresh_token = *f.record(s.id())->refresh_token;
        ms::logout_options o;
        o.revoke_tokens = false;
        CHECK(s.logout(o).removed);
        CHECK(f.issuer.refresh_token_valid(refresh_token));
    }
}

TEST_CASE("per-user operations: list, revoke all of a user, revoke a list") {
    fixture f;
    ms::session_manager m(f.options());
    std::vector<std::string> alices;
    for (int i = 0; i < 3; ++i) alices.push_back(f.login(m, alice, "a" + std::to_string(i)).id());
    const auto bobs = f.login(m, bob, "b0").id();

    auto listed = m.list_sessions_of(alice);
    std::vector<std::string> ids;
    for (const auto& info : listed) {
        ids.push_back(info.session_id);
        CHECK(info.webid == alice);
    }
    std::sort(ids.begin(), ids.end());
    CHECK(ids == alices);
    CHECK(m.list_sessions_of(bob).size() == 1);
    CHECK(m.list_sessions_of("https://nobody.example/#me").empty());

    SUBCASE("revoke a list: returns what had a session") {
        const auto revoked = m.revoke_sessions({"a0", "missing", "b0"});
        CHECK(revoked == std::vector<std::string>{"a0", "b0"});
        CHECK(m.list_sessions_of(alice).size() == 2);
        CHECK(m.list_sessions_of(bob).empty());
    }
    SUBCASE("revoke all of a user; other users untouched") {
        auto revoked = m.revoke_user_sessions(alice);
        std::sort(revoked.begin(), revoked.end());
        CHECK(revoked == alices);
        CHECK(m.list_sessions_of(alice).empty());
        CHECK(m.get_session_id_from_storage_all() == std::vector<std::string>{bobs});
        CHECK(f.issuer.stats().tokens_revoked >= 3);
    }
    SUBCASE("an entry whose record went away (removed by another library) is skipped and dropped") {
        f.store->remove(sd::record_key("a1"));
        CHECK(m.list_sessions_of(alice).size() == 2);
        CHECK_FALSE(f.store->get(sd::webid_entry_key(alice, "a1")));
    }
    SUBCASE("concurrent logins of one user lose no entry") {
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                try {
                    for (int i = 0; i < 3; ++i) (void)f.login(m, alice, "c" + std::to_string(t) + "-" + std::to_string(i));
                } catch (...) {
                    ++failures;
                }
            });
        }
        for (auto& t : threads) t.join();
        CHECK(failures == 0);
        CHECK(m.list_sessions_of(alice).size() == 3 + 12);
    }
}

TEST_CASE("application data and session information") {
    test::test_issuer_options io;
    io.access_token_lifetime = 300s;
    fixture f(io);
    auto options = f.options();
    options.refresh_token_lifetime = 24h;
    ms::session_manager m(options);
    const auto t0 = f.clock.now();
    auto s = f.login(m, alice, "s");

    const auto info = m.get_session_info("s");
    REQUIRE(info);
    CHECK(info->issuer == f.issuer.issuer());
    CHECK(info->webid == alice);
    CHECK(info->client_id == client_id);
    CHECK(info->has_refresh_token);
    CHECK(info->dpop);
    CHECK(info->created_at == t0);
    CHECK(info->last_refreshed == t0);
    CHECK(info->access_token_expires_at == t0 + 300s);
    CHECK(info->expires_at == t0 + 24h);
    CHECK_FALSE(info->has_data);
    CHECK(s.info()->session_id == "s");

    CHECK(m.set_session_data("s", R"({"cart":[1,2,3]})"));
    CHECK(m.session_data("s") == R"({"cart":[1,2,3]})");
    CHECK(m.get_session_info("s")->has_data);

    // Data survives a refresh that rotates the token (the record is rewritten), and the
    // refresh moves last_refreshed and the expiry.
    f.clock.advance(10min);
    ms::session_manager restarted(options);
    auto again = restarted.get_session_from_storage("s");
    REQUIRE(again);
    CHECK(restarted.session_data("s") == R"({"cart":[1,2,3]})");
    const auto later = restarted.get_session_info("s");
    CHECK(later->created_at == t0);
    CHECK(later->last_refreshed == t0 + 10min);
    CHECK(later->expires_at == t0 + 10min + 24h);

    CHECK_FALSE(m.set_session_data("nobody", "x"));
    CHECK_FALSE(m.session_data("nobody"));
    CHECK(code_of([&] { (void)m.set_session_data("s", std::string("\xff\xfe", 2)); }) == storage_errc::invalid_value);
    CHECK(code_of([&] { (void)m.set_session_data("s", std::string(64 * 1024 + 1, 'x')); }) ==
          storage_errc::invalid_value);
    CHECK(m.session_data("s") == R"({"cart":[1,2,3]})");
    CHECK_FALSE(m.get_session_info("nobody"));

    // Logout takes the data with the record.
    (void)again->logout();
    CHECK_FALSE(m.session_data("s"));
}

TEST_CASE("expiry: expired records and pending logins are invisible, prune removes them") {
    fixture f;
    auto options = f.options();
    options.refresh_token_lifetime = 1h;
    ms::session_manager m(options);
    (void)f.login(m, alice, "short");
    (void)f.login(m, bob, "long");
    auto pending = m.login(f.login_options());
    // "long" stays alive: a refresh 50 min in moves its expiry.
    f.clock.advance(50min);
    REQUIRE(m.get_session_from_storage("long"));
    f.clock.advance(20min); // "short" (1 h) and the pending login (10 min) are over

    CHECK_FALSE(m.get_session_from_storage("short"));
    CHECK_FALSE(m.get_session_info("short"));
    CHECK(m.get_session_id_from_storage_all() == std::vector<std::string>{"long"});
    CHECK(m.list_sessions_of(alice).empty());
    CHECK(code_of([&] { (void)m.handle_incoming_redirect(redirect + "?code=x&state=" + pending.state); }) ==
          oidc_errc::invalid_state);

    const auto result = m.prune();
    CHECK(result.expired >= 3); // record, WebID entry, pending login
    CHECK(result.logged_out == 0);
    CHECK(f.store->keys(sd::record_prefix) == std::vector<std::string>{sd::record_key("long")});
    CHECK(f.store->keys("multisession:login:").empty());
    CHECK(m.list_sessions_of(bob).size() == 1);

    SUBCASE("records copied without their entry's expiry are judged by their own") {
        // As a raw copy (a migration tool, another writer) leaves them: the field, no entry expiry.
        auto text = *f.store->get(sd::record_key("long"));
        f.store->set(sd::record_key("copy"), text);
        f.clock.advance(2h);
        CHECK_FALSE(m.get_session_info("copy"));
        CHECK(m.get_session_id_from_storage_all().empty());
        const auto again = m.prune();
        CHECK(again.expired >= 1);
        CHECK(f.store->keys(sd::record_prefix).empty());
    }
    SUBCASE("dead records (no way to log in again) go; logins in progress written by Inrupt stay") {
        sd::session_record dead;
        dead.issuer = f.issuer.issuer();
        dead.client_id = client_id;
        f.store->set(sd::record_key("dead"), sd::serialize_session_record(dead));
        sd::session_record node_pending = dead;
        node_pending.code_verifier = "verifier";
        f.store->set(sd::record_key("node-pending"), sd::serialize_session_record(node_pending));
        const auto again = m.prune();
        CHECK(again.logged_out == 1);
        CHECK_FALSE(f.store->get(sd::record_key("dead")));
        CHECK(f.store->get(sd::record_key("node-pending")));
        ms::prune_options keep;
        keep.logged_out = false;
        f.store->set(sd::record_key("dead"), sd::serialize_session_record(dead));
        CHECK(m.prune(keep).logged_out == 0);
        CHECK(f.store->get(sd::record_key("dead")));
    }
}

TEST_CASE("prune: 100 000 expired records, in bounded batches") {
    test::manual_clock clock;
    const auto dir = std::filesystem::temp_directory_path() / ("ms-prune-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::size_t n = 100'000;

    auto seed = [&](ms::storage& store, bool entry_expiry) {
        sd::session_record r;
        r.issuer = "https://issuer.example";
        r.client_id = "app";
        r.refresh_token = "rt";
        r.expires_at = std::chrono::duration_cast<std::chrono::milliseconds>(
                           (clock.now() + 1h).time_since_epoch()).count();
        const auto text = sd::serialize_session_record(r);
        for (std::size_t i = 0; i < n; ++i) {
            if (entry_expiry)
                store.set(sd::record_key("s" + std::to_string(i)), text, clock.now() + 1h);
            else
                store.set(sd::record_key("s" + std::to_string(i)), text);
        }
        // One that lives on.
        r.expires_at.reset();
        store.set(sd::record_key("alive"), sd::serialize_session_record(r));
    };
    ms::session_manager_options o;
    o.clock = clock.function();

    SUBCASE("SQLite file, entries with their expiry: the store's purge") {
        ms::sqlite_storage_options so;
        so.clock = clock.function();
        so.synchronous = ms::sqlite_synchronous::normal;
        o.store = ms::make_sqlite_storage(dir / "sessions.db", so);
        seed(*o.store, true);
        ms::session_manager m(o);
        clock.advance(2h);
        CHECK(m.get_session_id_from_storage_all() == std::vector<std::string>{"alive"});
        const auto result = m.prune();
        CHECK(result.expired == n);
        CHECK(o.store->keys(sd::record_prefix).size() == 1);
    }
    SUBCASE("memory, records whose own expiry passed (no entry expiry): removed 1 000 at a time") {
        o.store = ms::make_memory_storage({clock.function()});
        seed(*o.store, false);
        ms::session_manager m(o);
        clock.advance(2h);
        const auto result = m.prune();
        CHECK(result.expired == n);
        CHECK(result.batches >= n / 1000);
        CHECK(o.store->keys(sd::record_prefix) == std::vector<std::string>{sd::record_key("alive")});
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("the pruner: periodic, one run at a time, start/stop") {
    test::manual_clock clock;
    auto store = ms::make_memory_storage({clock.function()});
    ms::session_manager_options o;
    o.store = store;
    o.clock = clock.function();
    ms::session_manager m(o);
    store->set("multisession:webid:" + std::string(64, 'a') + ":gone", "https://x.example/#me");

    std::atomic<int> runs{0}, in_run{0}, overlaps{0};
    ms::pruner_options p;
    p.interval = 50ms;
    p.on_pruned = [&](const ms::prune_result&) {
        if (++in_run > 1) ++overlaps;
        std::this_thread::sleep_for(120ms); // longer than the interval
        --in_run;
        ++runs;
    };
    m.start_pruner(p);
    CHECK(code_of([&] { m.start_pruner(p); }) == storage_errc::invalid_configuration);
    for (int i = 0; i < 100 && runs < 3; ++i) std::this_thread::sleep_for(50ms);
    CHECK(runs >= 3);
    CHECK(overlaps == 0);
    CHECK(store->keys("multisession:webid:").empty()); // the orphan entry was pruned
    m.stop_pruner();
    const int after = runs;
    std::this_thread::sleep_for(300ms);
    CHECK(runs == after);
    m.stop_pruner(); // idempotent
    ms::pruner_options bad;
    bad.interval = 0ms;
    CHECK(code_of([&] { m.start_pruner(bad); }) == storage_errc::invalid_configuration);
    m.start_pruner(p); // again after stop; the destructor stops it
}

TEST_CASE("clear_session_from_storage_all removes WebID entries and pending logins too") {
    fixture f;
    ms::session_manager m(f.options());
    (void)f.login(m, alice, "x");
    (void)m.login(f.login_options());
    const auto cleared = m.clear_session_from_storage_all();
    CHECK(cleared.session_ids == std::vector<std::string>{"x"});
    CHECK(f.store->keys(sd::record_prefix).empty());
    CHECK(f.store->keys("multisession:webid:").empty());
    CHECK(f.store->keys("multisession:login:").empty());
}
