// The session life cycle through the public session API against a real OpenID provider
// (oidc-provider, tests/interop/provider.mjs), over plain HTTP and over HTTPS with a generated CA:
// interactive authorization-code logins for a static confidential client, a public client, a
// Solid-OIDC client identifier and a dynamically registered client (RFC 7591), driven through
// the provider's login and consent steps by plain HTTP requests standing in for a browser;
// rehydration by another manager, replayed redirects, logout with revocation (RFC 7009) and the
// RP-initiated logout URL, keep-alive against five-second access tokens, and a client-credentials
// session. Each test starts a provider of its own, so no grant, registration or cookie carries
// over. Tokens, codes and secrets never reach the test output: comparisons that involve them are
// written as plain booleans.
#include "oidc/dpop.hpp"
#include "oidc/provider_client.hpp"
#include "oidc/wire_form.hpp"
#include "oidc/wire_token.hpp"
#include "oidc/wire_url.hpp"
#include "session/session_record.hpp"

#include "../support/oidc_provider_process.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_ca.hpp"
#include "../support/test_pki.hpp"
#include "../support/transport_thread.hpp"

#include <multisession/error.hpp>
#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/open.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace http = multisession::http;
namespace oidc = multisession::oidc;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using multisession::client_config;
using multisession::oidc_errc;
using multisession::session_manager;
using namespace std::chrono_literals;

namespace {

enum class scheme { http, https };

struct over_http {
    static constexpr scheme value = scheme::http;
};
struct over_https {
    static constexpr scheme value = scheme::https;
};

// As provider.mjs registers them for its static clients. Nothing listens at either.
constexpr std::string_view redirect_uri = "http://127.0.0.1/callback";
constexpr std::string_view post_logout_redirect_uri = "http://127.0.0.1/logged-out";
constexpr std::string_view solid_oidc_client_id = "https://app.example/multisession-interop/client-id";

using test::shared_pki;

// A provider of its own (stopped by PID when the fixture ends), a transport for the test's own
// requests (the stand-in browser, and raw token requests below the session API), and the options
// for session managers that talk to it.
class lifecycle_fixture {
public:
    explicit lifecycle_fixture(scheme s, std::optional<std::chrono::seconds> access_token_ttl = std::nullopt)
        : scheme_(s), provider_(provider_options(s, access_token_ttl)), io_(http_options(s)) {
        oidc::provider_client_options options;
        options.allow_insecure_loopback = s == scheme::http;
        client_ = oidc::provider_client::create(io_.transport(), options);
    }

    [[nodiscard]] const std::string& issuer() const { return provider_.issuer(); }
    [[nodiscard]] std::string userinfo_endpoint() const { return issuer() + "/me"; }
    [[nodiscard]] oidc::provider_client& client() { return *client_; }
    [[nodiscard]] std::string provider_stderr() const { return provider_.stderr_tail(); }

    [[nodiscard]] multisession::session_manager_options manager_options(std::shared_ptr<multisession::storage> store,
                                                                        std::size_t threads = 0) const {
        multisession::session_manager_options options;
        options.store = std::move(store);
        options.threads = threads;
        if (scheme_ == scheme::https)
            options.ca_file = shared_pki().ca_file;
        else
            options.allow_insecure_loopback = true;
        return options;
    }

    [[nodiscard]] multisession::login_options login_options(client_config client) const {
        multisession::login_options options;
        options.issuer = issuer();
        options.redirect_url = std::string(redirect_uri);
        options.client = std::move(client);
        // oidc-provider drops offline_access from a request without prompt=consent.
        options.prompt = "consent";
        return options;
    }

    // One raw exchange; a transport failure fails the test.
    http::response send(http::request req) {
        auto [ec, res] = io_.send(std::move(req), 30s);
        REQUIRE_MESSAGE(!ec, ec.message());
        return res;
    }

private:
    static test::oidc_provider_options provider_options(scheme s, std::optional<std::chrono::seconds> ttl) {
        test::oidc_provider_options options;
        if (s == scheme::https) options.tls = shared_pki().localhost;
        options.access_token_ttl = ttl;
        return options;
    }

    static http::client_options http_options(scheme s) {
        http::client_options options;
        if (s == scheme::https)
            options.ca_file = shared_pki().ca_file;
        else
            options.allow_insecure_loopback = true;
        return options;
    }

    scheme scheme_;
    test::oidc_provider_process provider_;
    test::transport_thread io_;
    std::shared_ptr<oidc::provider_client> client_;
};

// The decoded value of the query parameter `name` of `url`, or nullopt.
std::optional<std::string> query_param(const std::string& url, std::string_view name) {
    const auto query = oidc::parse_url(url).query;
    std::size_t at = 0;
    while (at <= query.size()) {
        auto end = query.find('&', at);
        if (end == std::string::npos) end = query.size();
        const std::string_view pair(query.data() + at, end - at);
        const auto eq = pair.find('=');
        if (oidc::form_urldecode(pair.substr(0, eq)) == name)
            return eq == std::string_view::npos ? std::string() : oidc::form_urldecode(pair.substr(eq + 1));
        at = end + 1;
    }
    return std::nullopt;
}

// The browser's part of a login: carries cookies (name=value per origin; paths ignored, which is
// harmless here since each step reuses the names), follows 302/303 by hand, and posts the
// account at each interaction page (provider.mjs's stand-in for the login and consent forms).
// URLs are never printed: they carry the state, and the last one the code.
class user_agent {
public:
    explicit user_agent(lifecycle_fixture& f) : f_(f) {}

    // Follows `authorization_url` through login and consent as `account`; returns the first
    // Location that leads back to redirect_uri.
    std::string authorize(const std::string& authorization_url, const std::string& account) {
        const auto provider_origin = oidc::origin_of(f_.issuer());
        std::string url = authorization_url;
        // authorization, login form, resume, consent form, resume: five requests; more is a loop.
        for (int hop = 0; hop < 12; ++hop) {
            const auto parts = oidc::parse_url(url);
            REQUIRE_MESSAGE(oidc::origin_of(url) == provider_origin,
                            "the login left the provider for " << parts.scheme << "://" << parts.host);
            const bool interaction = parts.path.starts_with("/interaction/");
            http::request req{interaction ? "POST" : "GET", url, {}, {}};
            if (interaction) {
                req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
                req.body = oidc::form_body({{"login", account}});
            }
            const auto res = exchange(std::move(req));
            const auto location = res.header_value("Location");
            INFO(req_name(interaction) << " " << parts.path << " answered " << res.status << ": "
                                       << res.body.substr(0, 300) << "\nprovider stderr:\n"
                                       << f_.provider_stderr());
            REQUIRE(((res.status == 302 || res.status == 303) && location.has_value()));
            url = resolve(std::string(*location));
            if (url.starts_with(std::string(redirect_uri) + "?")) {
                // An error here would be a refusal by the provider, not a login.
                const auto error = query_param(url, "error");
                REQUIRE_MESSAGE(!error.has_value(), "the provider refused the login: " << error.value_or(""));
                return url;
            }
        }
        FAIL("the login took more than 12 redirects");
        return {};
    }

    // One request with this agent's cookies; the answer's cookies are kept.
    http::response exchange(http::request req) {
        const auto origin = oidc::origin_of(req.url);
        std::string cookie;
        for (const auto& [name, value] : jar_[origin])
            cookie += (cookie.empty() ? "" : "; ") + name + "=" + value;
        if (!cookie.empty()) req.headers.push_back({"Cookie", cookie});
        auto res = f_.send(std::move(req));
        for (const auto& h : res.headers) {
            if (!http::header_name_equals(h.name, "Set-Cookie")) continue;
            const std::string_view line(h.value);
            const auto pair = line.substr(0, line.find(';'));
            const auto eq = pair.find('=');
            if (eq == std::string_view::npos || eq == 0) continue;
            const std::string name(pair.substr(0, eq));
            // oidc-provider clears a cookie by sending it again with a 1970 expiry.
            std::string lowered(line);
            std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            if (lowered.find("expires=thu, 01 jan 1970") != std::string::npos ||
                lowered.find("max-age=0") != std::string::npos)
                jar_[origin].erase(name);
            else
                jar_[origin][name] = std::string(pair.substr(eq + 1));
        }
        return res;
    }

private:
    static const char* req_name(bool interaction) { return interaction ? "POST" : "GET"; }

    // An absolute Location as it is; a path against the provider's origin.
    std::string resolve(const std::string& location) const {
        if (location.starts_with("http://") || location.starts_with("https://")) return location;
        REQUIRE_MESSAGE(location.starts_with("/"), "a Location that is neither absolute nor a path");
        return f_.issuer() + location;
    }

    lifecycle_fixture& f_;
    std::map<std::string, std::map<std::string, std::string>> jar_;
};

// A distinct account per call, so that no two logins share a grant.
std::string fresh_account(std::string_view prefix) {
    static std::atomic<int> next{0};
    return std::string(prefix) + "-" + std::to_string(++next);
}

// The record of `id` as the store holds it (it carries the refresh token: never print it).
sd::session_record stored_record(multisession::storage& store, const std::string& id) {
    const auto text = store.get(sd::record_key(id));
    REQUIRE_MESSAGE(text.has_value(), "no record for the session");
    return sd::parse_session_record(id, *text);
}

struct finished_login {
    multisession::login_request request;
    std::string redirect; ///< the URL the provider sent the user agent back to (it carries the code)
    multisession::session session;
};

// manager.login(), the browser's part through `agent`, then handle_incoming_redirect().
finished_login interactive_login(lifecycle_fixture& f, user_agent& agent, session_manager& manager,
                                 const multisession::login_options& options, const std::string& account) {
    auto request = manager.login(options);
    CHECK_FALSE(request.session_id.empty());
    CHECK_FALSE(request.state.empty());
    CHECK(request.expires_at > std::chrono::system_clock::now());
    const auto& url = request.authorization_url;
    CHECK(url.starts_with(f.issuer() + "/auth?"));
    CHECK(query_param(url, "response_type") == "code");
    CHECK(query_param(url, "redirect_uri") == std::string(redirect_uri));
    CHECK(query_param(url, "code_challenge_method") == "S256");
    CHECK(query_param(url, "prompt") == "consent");
    CHECK((query_param(url, "state") == request.state));
    CHECK(query_param(url, "code_challenge").has_value());
    CHECK(query_param(url, "code_verifier") == std::nullopt); // the verifier stays with the login
    if (options.client.type != client_config::kind::dynamic)
        CHECK(query_param(url, "client_id") == options.client.client_id);

    auto redirect = agent.authorize(url, account);
    CHECK((query_param(redirect, "state") == request.state));
    auto session = manager.handle_incoming_redirect(redirect);
    return {std::move(request), std::move(redirect), std::move(session)};
}

// The session's access token at the provider's userinfo endpoint (which validates the token and
// its DPoP binding); returns the status and checks the WebID on success.
int userinfo_status(const lifecycle_fixture& f, const multisession::session& s, const std::string& account) {
    const auto res = s.fetch({"GET", f.userinfo_endpoint(), {}, {}});
    if (res.status == 200)
        CHECK(nlohmann::json::parse(res.body, nullptr, false).value("webid", "") == test::interop_webid(account));
    return res.status;
}

// A: an interactive login with `client`, then what must hold for any client: the session is
// logged in as `account` with DPoP-bound tokens and a stored refresh token; a second manager on
// the same store (opened again, as another process would) rehydrates it and the provider rotates
// the token; the redirect cannot be used twice.
void login_rehydrate_and_replay(scheme s, const client_config& client, std::string_view client_type) {
    lifecycle_fixture f(s);
    test::temp_dir dir;
    const auto uri = "sqlite:" + (dir / "sessions.db").string();
    session_manager manager(f.manager_options(multisession::open_storage(uri)));
    user_agent agent(f);
    const auto account = fresh_account("login");
    auto login = interactive_login(f, agent, manager, f.login_options(client), account);
    const auto& id = login.request.session_id;

    CHECK(login.session.id() == id);
    CHECK(login.session.is_logged_in());
    CHECK(login.session.issuer() == f.issuer());
    CHECK(login.session.webid() == test::interop_webid(account));
    REQUIRE(login.session.expiration().has_value());
    CHECK(*login.session.expiration() > std::chrono::system_clock::now());
    CHECK(userinfo_status(f, login.session, account) == 200);

    const auto info = manager.get_session_info(id);
    REQUIRE(info.has_value());
    CHECK(info->issuer == f.issuer());
    CHECK(info->webid == test::interop_webid(account));
    CHECK(info->client_id == client.client_id);
    CHECK(info->client_type == client_type);
    CHECK(info->has_refresh_token);
    CHECK(info->dpop);
    CHECK_FALSE(info->client_credentials);

    const auto before = stored_record(*manager.store(), id);
    REQUIRE(before.refresh_token.has_value());
    CHECK(before.dpop);
    CHECK(before.public_key.has_value());
    CHECK(before.private_key.has_value());
    CHECK(before.webid == test::interop_webid(account));
    if (client.type != client_config::kind::static_client || !client.client_secret) {
        // The provider binds a public client's refresh token to the login's DPoP key: another
        // key is refused (without using the token up).
        const oidc::client_info as_stored{client.client_id, std::nullopt,
                                          client.type == client_config::kind::solid_oidc
                                              ? oidc::client_type::solid_oidc
                                              : oidc::client_type::static_client};
        CHECK(test::code_of([&] {
                  (void)f.client().refresh(f.issuer(), as_stored, *before.refresh_token, oidc::dpop_key::generate());
              }) == oidc_errc::invalid_grant);
    }

    // Another manager on the store, opened anew: logged in again with the stored refresh token,
    // which the provider rotates.
    {
        session_manager second(f.manager_options(multisession::open_storage(uri)));
        const auto again = second.get_session_from_storage(id);
        REQUIRE(again.has_value());
        CHECK(again->is_logged_in());
        CHECK(again->webid() == test::interop_webid(account));
        CHECK(userinfo_status(f, *again, account) == 200);
        const auto after = stored_record(*second.store(), id);
        REQUIRE(after.refresh_token.has_value());
        CHECK((*after.refresh_token != *before.refresh_token));
        CHECK(after.public_key == before.public_key);

        // The redirect is spent: its state was used, in this manager and in the first.
        CHECK(test::code_of([&] { (void)second.handle_incoming_redirect(login.redirect); }) ==
              oidc_errc::invalid_state);
    }
    CHECK(test::code_of([&] { (void)manager.handle_incoming_redirect(login.redirect); }) == oidc_errc::invalid_state);

    // A provider's refusal, sent back with a pending login's own state, is access_denied.
    const auto refused = manager.login(f.login_options(client));
    const auto error_redirect = std::string(redirect_uri) +
                                "?error=access_denied&state=" + oidc::form_urlencode(refused.state) +
                                "&iss=" + oidc::form_urlencode(f.issuer());
    CHECK(test::code_of([&] { (void)manager.handle_incoming_redirect(error_redirect); }) == oidc_errc::access_denied);
}

} // namespace

TYPE_TO_STRING(over_http);
TYPE_TO_STRING(over_https);

TEST_CASE("oidc-provider is installed for the lifecycle suite") {
    // Fails rather than skips: a suite that silently does nothing reads as a pass.
    REQUIRE_MESSAGE(test::interop_available(),
                    "oidc-provider is not installed under $MULTISESSION_INTEROP_DIR/node_modules; "
                    "install it with `./run.sh deps` (or `npm ci` in tests/interop)");
}

TEST_CASE_TEMPLATE("interactive login with the static confidential client", T, over_http, over_https) {
    login_rehydrate_and_replay(T::value,
                               client_config::static_client(std::string(test::interop_confidential_client_id),
                                                            std::string(test::interop_confidential_client_secret)),
                               "static");
}

TEST_CASE_TEMPLATE("interactive login with the public client (PKCE, no secret)", T, over_http, over_https) {
    login_rehydrate_and_replay(T::value, client_config::static_client(std::string(test::interop_public_client_id)),
                               "static");
}

TEST_CASE_TEMPLATE("interactive login with a Solid-OIDC client identifier", T, over_http, over_https) {
    login_rehydrate_and_replay(T::value, client_config::solid_oidc(std::string(solid_oidc_client_id)), "solid-oidc");
}

TEST_CASE_TEMPLATE("dynamic registration: registered once, reused by later logins", T, over_http, over_https) {
    lifecycle_fixture f(T::value);
    auto store = multisession::make_memory_storage();
    const auto options = f.login_options(client_config::dynamic("interop app"));

    std::string client_id;
    std::string first_id;
    {
        session_manager manager(f.manager_options(store));
        user_agent agent(f);
        const auto account = fresh_account("dynamic");
        auto login = interactive_login(f, agent, manager, options, account);
        client_id = query_param(login.request.authorization_url, "client_id").value_or("");
        CHECK_FALSE(client_id.empty());
        CHECK(client_id != test::interop_confidential_client_id);
        CHECK(client_id != test::interop_public_client_id);
        CHECK(login.session.is_logged_in());
        CHECK(login.session.webid() == test::interop_webid(account));
        CHECK(userinfo_status(f, login.session, account) == 200);
        const auto info = manager.get_session_info(login.request.session_id);
        REQUIRE(info.has_value());
        CHECK(info->client_type == "dynamic");
        CHECK(info->client_id == client_id);
        CHECK(info->has_refresh_token);
        first_id = login.request.session_id;
    }

    // A second login through another manager on the same store: the stored registration, not a
    // new one.
    session_manager manager(f.manager_options(store));
    user_agent agent(f);
    const auto account = fresh_account("dynamic");
    auto second = interactive_login(f, agent, manager, options, account);
    CHECK(query_param(second.request.authorization_url, "client_id") == client_id);
    CHECK(second.request.session_id != first_id);
    CHECK(second.session.is_logged_in());
    CHECK(second.session.webid() == test::interop_webid(account));

    // The registered client refreshes too (its secret comes from the stored registration).
    const auto again = manager.get_session_from_storage(first_id);
    REQUIRE(again.has_value());
    CHECK(again->is_logged_in());

    // Another client name is another registration.
    const auto other = manager.login(f.login_options(client_config::dynamic("another interop app")));
    const auto other_id = query_param(other.authorization_url, "client_id");
    CHECK(other_id.has_value());
    CHECK(other_id != client_id);
}

TEST_CASE_TEMPLATE("logout revokes the tokens and gives the RP-initiated logout URL", T, over_http, over_https) {
    lifecycle_fixture f(T::value);
    auto store = multisession::make_memory_storage();
    session_manager manager(f.manager_options(store));
    user_agent agent(f);
    const auto account = fresh_account("logout");
    const auto login_options = f.login_options(client_config::static_client(
        std::string(test::interop_confidential_client_id), std::string(test::interop_confidential_client_secret)));
    auto login = interactive_login(f, agent, manager, login_options, account);
    const auto& id = login.request.session_id;
    REQUIRE(login.session.is_logged_in());
    CHECK(manager.list_sessions_of(test::interop_webid(account)).size() == 1);
    // Kept out of band, as a thief might have: the provider must refuse it after the logout.
    const auto kept = stored_record(*store, id).refresh_token;
    REQUIRE(kept.has_value());

    multisession::logout_options options;
    options.post_logout_redirect_uri = std::string(post_logout_redirect_uri);
    options.state = "after-logout";
    const auto result = login.session.logout(options);
    CHECK(result.removed);
    CHECK_MESSAGE(!result.revocation_error, result.revocation_error.message());
    CHECK(result.refresh_token_revoked);
    CHECK(result.access_token_revoked);
    CHECK_FALSE(login.session.is_logged_in());
    CHECK_FALSE(login.session.info().has_value());
    CHECK_FALSE(manager.get_session_info(id).has_value());
    CHECK(manager.list_sessions_of(test::interop_webid(account)).empty());
    CHECK(test::code_of([&] {
              (void)login.session.fetch({"GET", f.userinfo_endpoint(), {}, {}});
          }) == oidc_errc::invalid_request);

    // Gone for every manager; and at the provider, the refresh token is dead.
    session_manager fresh(f.manager_options(store));
    CHECK_FALSE(fresh.get_session_from_storage(id).has_value());
    const oidc::client_info confidential{std::string(test::interop_confidential_client_id),
                                         std::string(test::interop_confidential_client_secret),
                                         oidc::client_type::static_client};
    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), confidential, *kept, std::nullopt); }) ==
          oidc_errc::invalid_grant);

    REQUIRE(result.end_session_url.has_value());
    const auto& url = *result.end_session_url;
    CHECK(url.starts_with(f.issuer() + "/session/end?")); // the end_session_endpoint discovery names
    CHECK(query_param(url, "id_token_hint").value_or("").size() > 20);
    CHECK(query_param(url, "client_id") == test::interop_confidential_client_id);
    CHECK(query_param(url, "post_logout_redirect_uri") == std::string(post_logout_redirect_uri));
    CHECK(query_param(url, "state") == "after-logout");
    // The provider takes the URL (it checks the ID token hint and that the post-logout URI is
    // registered for the client) and asks the user to confirm; an unregistered URI it refuses.
    const auto confirm = agent.exchange({"GET", url, {}, {}});
    CHECK(confirm.status == 200);
    const auto registered = oidc::form_urlencode(post_logout_redirect_uri);
    auto elsewhere = url;
    REQUIRE(elsewhere.find(registered) != std::string::npos);
    elsewhere.replace(elsewhere.find(registered), registered.size(),
                      oidc::form_urlencode("http://127.0.0.1/elsewhere"));
    CHECK(agent.exchange({"GET", elsewhere, {}, {}}).status == 400);

    // Logging out again finds nothing.
    const auto twice = login.session.logout(options);
    CHECK_FALSE(twice.removed);
    CHECK_FALSE(twice.refresh_token_revoked);
}

TEST_CASE_TEMPLATE("the sessions of a WebID are listed, carry data, and are revoked together", T, over_http,
                   over_https) {
    lifecycle_fixture f(T::value);
    auto store = multisession::make_memory_storage();
    session_manager manager(f.manager_options(store));
    const auto account = fresh_account("user");
    const auto webid = test::interop_webid(account);
    const auto options = f.login_options(client_config::static_client(std::string(test::interop_public_client_id)));
    std::vector<std::string> ids;
    // Each session's refresh token and the DPoP key it is bound to, kept out of band.
    std::vector<std::pair<std::string, oidc::dpop_key>> kept;
    for (int i = 0; i < 2; ++i) {
        user_agent agent(f); // a browser each: a new provider session, so the account logs in again
        auto login = interactive_login(f, agent, manager, options, account);
        ids.push_back(login.request.session_id);
        const auto record = stored_record(*store, ids.back());
        REQUIRE(record.refresh_token.has_value());
        REQUIRE(record.public_key.has_value());
        REQUIRE(record.private_key.has_value());
        kept.emplace_back(*record.refresh_token, oidc::dpop_key::from_jwk(*record.public_key, *record.private_key));
    }
    // Someone else's session is not theirs.
    user_agent other_agent(f);
    const auto other = interactive_login(f, other_agent, manager, options, fresh_account("user"));

    auto listed = manager.list_sessions_of(webid);
    std::vector<std::string> listed_ids;
    for (const auto& info : listed)
        listed_ids.push_back(info.session_id);
    std::sort(listed_ids.begin(), listed_ids.end());
    auto expected = ids;
    std::sort(expected.begin(), expected.end());
    CHECK(listed_ids == expected);

    CHECK(manager.set_session_data(ids[0], R"({"theme":"dark"})"));
    CHECK(manager.session_data(ids[0]) == R"({"theme":"dark"})");
    CHECK(manager.get_session_info(ids[0])->has_data);
    CHECK_FALSE(manager.session_data(ids[1]).has_value());
    CHECK_FALSE(manager.set_session_data("no-such-session", "x"));

    auto revoked = manager.revoke_user_sessions(webid);
    std::sort(revoked.begin(), revoked.end());
    CHECK(revoked == expected);
    CHECK(manager.list_sessions_of(webid).empty());
    CHECK_FALSE(manager.session_data(ids[0]).has_value());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CAPTURE(i);
        CHECK_FALSE(manager.get_session_info(ids[i]).has_value());
        // Revoked at the provider: refused even with the key it is bound to.
        const oidc::client_info public_client{std::string(test::interop_public_client_id), std::nullopt,
                                              oidc::client_type::static_client};
        CHECK(test::code_of([&] {
                  (void)f.client().refresh(f.issuer(), public_client, kept[i].first, kept[i].second);
              }) == oidc_errc::invalid_grant);
    }
    // The other user's session is untouched.
    CHECK(manager.get_session_info(other.request.session_id).has_value());
    session_manager fresh(f.manager_options(store));
    const auto survivor = fresh.get_session_from_storage(other.request.session_id);
    REQUIRE(survivor.has_value());
    CHECK(survivor->is_logged_in());
}

TEST_CASE_TEMPLATE("keep-alive refreshes five-second access tokens before they expire", T, over_http, over_https) {
    lifecycle_fixture f(T::value, 5s);
    auto store = multisession::make_memory_storage();
    auto options = f.manager_options(store, 2);
    auto new_tokens = std::make_shared<std::atomic<int>>(0);
    auto errors = std::make_shared<std::atomic<int>>(0);
    options.on_event = [new_tokens, errors](const multisession::session_event& e) {
        if (e.type == multisession::session_event_type::new_tokens) ++*new_tokens;
        if (e.type == multisession::session_event_type::error || e.type == multisession::session_event_type::expired)
            ++*errors;
    };
    session_manager manager(options);
    user_agent agent(f);
    const auto account = fresh_account("keepalive");
    auto login = interactive_login(
        f, agent, manager, f.login_options(client_config::static_client(std::string(test::interop_public_client_id))),
        account);
    auto& s = login.session;
    REQUIRE(s.is_logged_in());
    const auto first_expiry = s.expiration();
    REQUIRE(first_expiry.has_value());
    CHECK(*first_expiry <= std::chrono::system_clock::now() + 6s); // the provider's --access-ttl

    multisession::keep_alive_options keep_alive;
    keep_alive.margin = 1000ms; // of a five-second token: refreshed after about four seconds
    manager.start_keep_alive(keep_alive);
    CHECK(manager.keep_alive_running());

    // Four token lifetimes: without refreshes the token would be dead for most of them.
    const auto started = std::chrono::steady_clock::now();
    auto latest_expiry = *first_expiry;
    int checks = 0;
    while (std::chrono::steady_clock::now() - started < 20s) {
        std::this_thread::sleep_for(1s);
        CAPTURE(checks);
        CHECK(s.is_logged_in());
        const auto expiry = s.expiration();
        REQUIRE(expiry.has_value());
        CHECK(*expiry >= latest_expiry);
        latest_expiry = std::max(latest_expiry, *expiry);
        CHECK(*expiry > std::chrono::system_clock::now()); // never let run out
        CHECK(userinfo_status(f, s, account) == 200);      // the provider still takes the token
        ++checks;
    }
    const auto refreshes = manager.stats().keep_alive_refreshes;
    MESSAGE(refreshes << " keep-alive refreshes, " << new_tokens->load() << " new_tokens events in 20 s");
    CHECK(new_tokens->load() >= 3);
    CHECK(refreshes >= 3);
    CHECK(errors->load() == 0);
    CHECK(latest_expiry >= *first_expiry + 12s);
    // The rotated refresh token was stored each time: a fresh manager still rehydrates.
    CHECK(manager.get_session_info(login.request.session_id)->has_refresh_token);

    manager.stop_keep_alive();
    CHECK_FALSE(manager.keep_alive_running());
    const auto events_at_stop = new_tokens->load();
    std::this_thread::sleep_for(6s); // longer than a token's life: a running scheduler would refresh
    CHECK(manager.stats().keep_alive_refreshes == refreshes);
    CHECK(new_tokens->load() == events_at_stop);

    session_manager fresh(f.manager_options(store));
    const auto again = fresh.get_session_from_storage(login.request.session_id);
    REQUIRE(again.has_value());
    CHECK(again->is_logged_in());
}

TEST_CASE_TEMPLATE("a client-credentials session is stored and rehydrated by another manager", T, over_http,
                   over_https) {
    lifecycle_fixture f(T::value);
    auto store = multisession::make_memory_storage();
    multisession::client_credentials_options options;
    options.issuer = f.issuer();
    options.client_id = std::string(test::interop_confidential_client_id);
    options.client_secret = std::string(test::interop_confidential_client_secret);

    std::string id;
    {
        session_manager manager(f.manager_options(store));
        const auto s = manager.login_client_credentials(options);
        id = s.id();
        CHECK_FALSE(id.empty());
        CHECK(s.is_logged_in());
        CHECK(s.issuer() == f.issuer());
        REQUIRE(s.expiration().has_value());
        CHECK(*s.expiration() > std::chrono::system_clock::now());
        const auto info = manager.get_session_info(id);
        REQUIRE(info.has_value());
        CHECK(info->client_credentials);
        CHECK_FALSE(info->has_refresh_token);
        CHECK(info->client_id == test::interop_confidential_client_id);
        CHECK(info->dpop);

        auto wrong = options;
        wrong.client_secret = "not-the-secret";
        CHECK(test::code_of([&] { (void)manager.login_client_credentials(wrong); }) == oidc_errc::invalid_client);
    }

    session_manager second(f.manager_options(store));
    const auto ids = second.get_session_id_from_storage_all();
    CHECK(std::count(ids.begin(), ids.end(), id) == 1);
    const auto again = second.get_session_from_storage(id);
    REQUIRE(again.has_value());
    CHECK(again->is_logged_in());
    CHECK(again->id() == id);
    REQUIRE(again->expiration().has_value());
    CHECK(*again->expiration() > std::chrono::system_clock::now());
    CHECK(second.get_session_info(id)->client_credentials);

    // Without the network it is there but logged out.
    multisession::get_session_options offline;
    offline.refresh_session = false;
    const auto record_only = second.get_session_from_storage(id, offline);
    REQUIRE(record_only.has_value());
    CHECK_FALSE(record_only->is_logged_in());
}
