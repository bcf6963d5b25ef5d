// The provider client's login life cycle against the embedded test issuer: dynamic client
// registration (RFC 7591), token revocation (RFC 7009), and the browser legs a session drives with
// the wire_login functions (the authorization request and its redirect, RP-initiated logout). All
// traffic goes to 127.0.0.1.
#include "oidc/provider_client.hpp"

#include "oidc/jwt.hpp"
#include "oidc/wire_login.hpp"

#include "../support/manual_clock.hpp"
#include "../support/test_issuer.hpp"
#include "../support/transport_thread.hpp"

#include <multisession/error.hpp>

#include <doctest/doctest.h>

#include <future>

namespace http = multisession::http;
namespace oidc = multisession::oidc;
namespace test = multisession::test;
using multisession::http_errc;
using multisession::oidc_errc;
using multisession::test::code_of;
using namespace std::chrono_literals;

namespace {

const std::string webid = "https://alice.example/profile/card#me";
const std::string callback_uri = "http://127.0.0.1:7/callback";

/// A transport on its own I/O thread and a provider client over it, loopback allowed.
struct client_fixture {
    test::transport_thread io{loopback()};
    std::shared_ptr<oidc::provider_client> client;

    explicit client_fixture(oidc::provider_client_options options = {}) {
        options.allow_insecure_loopback = true;
        client = oidc::provider_client::create(io.transport(), std::move(options));
    }

    static http::client_options loopback() {
        http::client_options options;
        options.allow_insecure_loopback = true;
        options.read_timeout = 2s;
        return options;
    }

    /// A GET the way a user agent would start it, without following the redirect.
    http::response browse(const std::string& url) { return client->fetch({"GET", url, {}, {}}, std::nullopt); }
};

oidc::registration_request app_registration(std::string auth_method = "client_secret_basic") {
    oidc::registration_request r;
    r.redirect_uris = {callback_uri};
    r.client_name = "provider_login_test";
    r.token_endpoint_auth_method = std::move(auth_method);
    r.grant_types = {"authorization_code", "refresh_token", "client_credentials"};
    return r;
}

oidc::client_info info_of(const oidc::registered_client& c) {
    return {c.client_id, c.client_secret, oidc::client_type::dynamic};
}

std::int64_t epoch_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

} // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("register_client: a confidential client that can then use its secret") {
    test::test_issuer issuer;
    client_fixture f;
    const auto registered = f.client->register_client(issuer.issuer(), app_registration());
    CHECK_FALSE(registered.client_id.empty());
    REQUIRE(registered.client_secret);
    CHECK_FALSE(registered.client_secret->empty());
    CHECK(registered.client_secret_expires_at == 0);
    CHECK(registered.token_endpoint_auth_method == "client_secret_basic");
    CHECK(issuer.stats().registrations == 1);
    CHECK(f.client->stats().registration_requests == 1);

    // The provider knows the client: its secret authenticates a client_credentials grant ...
    const auto cc = f.client->client_credentials(issuer.issuer(), info_of(registered), std::nullopt);
    CHECK_FALSE(cc.access_token.empty());
    CHECK(issuer.recent_token_requests(1).at(0).auth_method == "client_secret_basic");
    // ... and a refresh grant for a login of this client.
    const auto rt = issuer.mint_refresh_token(registered.client_id, webid);
    const auto refreshed = f.client->refresh(issuer.issuer(), info_of(registered), rt, std::nullopt);
    CHECK(refreshed.refresh_token_rotated);
    // A wrong secret is not taken.
    auto forged = info_of(registered);
    forged.client_secret = *registered.client_secret + "x";
    CHECK(code_of([&] { f.client->client_credentials(issuer.issuer(), forged, std::nullopt); }) ==
          oidc_errc::invalid_client);

    // Every registration is a new client.
    const auto second = f.client->register_client(issuer.issuer(), app_registration());
    CHECK(second.client_id != registered.client_id);
    CHECK(issuer.stats().registrations == 2);
    CHECK(issuer.stats().discovery_requests == 1);
}

TEST_CASE("register_client: a public client, and a secret that expires") {
    SUBCASE("token_endpoint_auth_method none: no secret, and the code flow works without one") {
        test::test_issuer issuer;
        issuer.set_authorize_user(webid);
        client_fixture f;
        const auto registered = f.client->register_client(issuer.issuer(), app_registration("none"));
        CHECK_FALSE(registered.client_secret);
        CHECK(registered.token_endpoint_auth_method == "none");
        const auto pkce = oidc::make_pkce();
        const auto code = issuer.mint_authorization_code(registered.client_id, webid, callback_uri, pkce.challenge);
        const auto tokens = f.client->authorization_code(issuer.issuer(), info_of(registered), code, callback_uri,
                                                         pkce.verifier, std::nullopt);
        CHECK(tokens.refresh_token);
        CHECK(issuer.recent_token_requests(1).at(0).auth_method == "none");
    }
    SUBCASE("registration_secret_lifetime gives client_secret_expires_at") {
        test::manual_clock clock;
        test::test_issuer issuer({.registration_secret_lifetime = 3600s, .clock = clock.function()});
        client_fixture f({.clock = clock.function()});
        const auto registered = f.client->register_client(issuer.issuer(), app_registration("client_secret_post"));
        CHECK(registered.client_secret_expires_at == epoch_seconds(clock.now()) + 3600);
        CHECK(registered.token_endpoint_auth_method == "client_secret_post");
        CHECK_NOTHROW(f.client->client_credentials(issuer.issuer(), info_of(registered), std::nullopt));
        clock.advance(3601s);
        CHECK(code_of([&] { f.client->client_credentials(issuer.issuer(), info_of(registered), std::nullopt); }) ==
              oidc_errc::invalid_client);
    }
}

TEST_CASE("register_client: refusals") {
    SUBCASE("the provider does not advertise registration: nothing is sent") {
        test::test_issuer issuer({.advertise_registration = false});
        client_fixture f;
        CHECK(code_of([&] { f.client->register_client(issuer.issuer(), app_registration()); }) ==
              oidc_errc::unsupported_feature);
        CHECK(f.client->stats().registration_requests == 0);
        CHECK(issuer.stats().registrations == 0);
    }
    SUBCASE("client metadata the provider refuses: oauth_error") {
        // (The wire test checks that the message names the code; a callback carries only the code.)
        test::test_issuer issuer; // signs with ES256 only
        client_fixture f;
        auto request = app_registration();
        request.id_token_signed_response_alg = "RS256";
        CHECK(code_of([&] { f.client->register_client(issuer.issuer(), request); }) == oidc_errc::oauth_error);
        request = app_registration();
        request.redirect_uris.clear();
        CHECK(code_of([&] { f.client->register_client(issuer.issuer(), request); }) == oidc_errc::oauth_error);
        CHECK(issuer.stats().registrations == 0);
        CHECK(f.client->stats().registration_requests == 2);
    }
    SUBCASE("a redirect URI the client would refuse to send is never sent") {
        test::test_issuer issuer;
        client_fixture f;
        auto request = app_registration();
        request.redirect_uris = {"http://127.0.0.1:7/cb#fragment"};
        CHECK(code_of([&] { f.client->register_client(issuer.issuer(), request); }) == http_errc::invalid_url);
        CHECK(f.client->stats().registration_requests == 0);
    }
    SUBCASE("a provider that fails: server_error") {
        test::test_issuer issuer;
        client_fixture f;
        f.client->discover(issuer.issuer());
        issuer.set_faults({.server_error = true});
        CHECK(code_of([&] { f.client->register_client(issuer.issuer(), app_registration()); }) ==
              oidc_errc::server_error);
    }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("revoke: a revoked refresh token is then invalid_grant") {
    struct row {
        std::vector<std::string> advertised;
        oidc::client_info client;
    };
    const std::vector<row> rows{
        {{"client_secret_basic", "client_secret_post", "none"},
         {"app", "s3cret:with%odd+chars", oidc::client_type::dynamic}},
        {{"client_secret_post", "none"}, {"app", "s3cret:with%odd+chars", oidc::client_type::dynamic}},
        {{"client_secret_basic", "none"}, {"public-app", std::nullopt, oidc::client_type::dynamic}},
    };
    for (const auto& r : rows) {
        CAPTURE(r.client.client_id);
        CAPTURE(r.advertised.front());
        test::test_issuer issuer({.token_endpoint_auth_methods = r.advertised});
        issuer.add_client({r.client.client_id, r.client.client_secret, std::nullopt});
        client_fixture f;
        const auto rt = issuer.mint_refresh_token(r.client.client_id, webid);
        REQUIRE(issuer.refresh_token_valid(rt));

        f.client->revoke(issuer.issuer(), r.client, rt, "refresh_token");
        CHECK(issuer.stats().revocation_requests == 1);
        CHECK(issuer.stats().tokens_revoked == 1);
        CHECK(f.client->stats().revocation_requests == 1);
        CHECK_FALSE(issuer.refresh_token_valid(rt));
        try {
            f.client->refresh(issuer.issuer(), r.client, rt, std::nullopt);
            FAIL("a revoked refresh token was redeemed");
        } catch (const multisession::error& e) {
            CHECK(e.code() == oidc_errc::invalid_grant);
            CHECK(std::string(e.what()).find(rt) == std::string::npos);
        }
        CHECK(issuer.stats().refresh_reuses == 0);
    }
}

TEST_CASE("revoke: async form, unknown tokens, and what else can happen") {
    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret", std::nullopt});
    const oidc::client_info app{"app", std::string("s3cret"), oidc::client_type::static_client};
    client_fixture f;

    SUBCASE("async_revoke reports true; the other token of the pair is untouched") {
        const auto rt = issuer.mint_refresh_token("app", webid);
        const auto other = issuer.mint_refresh_token("app", webid);
        std::promise<std::pair<std::error_code, bool>> result;
        f.client->async_revoke(issuer.issuer(), app, rt, "refresh_token",
                               [&](std::error_code ec, bool revoked) { result.set_value({ec, revoked}); });
        auto answer = result.get_future();
        REQUIRE(answer.wait_for(10s) == std::future_status::ready);
        const auto [ec, revoked] = answer.get();
        CHECK_FALSE(ec);
        CHECK(revoked);
        CHECK_FALSE(issuer.refresh_token_valid(rt));
        CHECK(issuer.refresh_token_valid(other));
    }
    SUBCASE("an unknown token is answered 200 and revokes nothing (RFC 7009 section 2.2)") {
        CHECK_NOTHROW(f.client->revoke(issuer.issuer(), app, "no-such-token", "refresh_token"));
        CHECK(issuer.stats().revocation_requests == 1);
        CHECK(issuer.stats().tokens_revoked == 0);
    }
    SUBCASE("an access token") {
        const auto tokens =
            f.client->refresh(issuer.issuer(), app, issuer.mint_refresh_token("app", webid), std::nullopt);
        f.client->revoke(issuer.issuer(), app, tokens.access_token, "access_token");
        CHECK(issuer.stats().tokens_revoked == 1);
        const auto answer = f.client->fetch({"GET", issuer.resource_url("/a"), {}, {}},
                                            oidc::resource_credentials{tokens.access_token, "Bearer", std::nullopt});
        CHECK(answer.status == 401);
    }
    SUBCASE("a wrong secret is invalid_client, and the token stays valid") {
        const auto rt = issuer.mint_refresh_token("app", webid);
        const oidc::client_info wrong{"app", std::string("not-it"), oidc::client_type::static_client};
        CHECK(code_of([&] { f.client->revoke(issuer.issuer(), wrong, rt, "refresh_token"); }) ==
              oidc_errc::invalid_client);
        CHECK(issuer.refresh_token_valid(rt));
    }
    SUBCASE("a failing provider is server_error") {
        f.client->discover(issuer.issuer());
        issuer.set_faults({.server_error = true});
        CHECK(code_of([&] { f.client->revoke(issuer.issuer(), app, "t", "refresh_token"); }) ==
              oidc_errc::server_error);
    }
    SUBCASE("an empty token is refused before any request") {
        CHECK(code_of([&] { f.client->revoke(issuer.issuer(), app, "", "refresh_token"); }) ==
              oidc_errc::invalid_request);
        CHECK(f.client->stats().revocation_requests == 0);
    }
}

TEST_CASE("revoke: unsupported_feature when the provider does not advertise revocation") {
    test::test_issuer issuer({.advertise_revocation = false});
    issuer.add_client({"app", "s3cret", std::nullopt});
    const oidc::client_info app{"app", std::string("s3cret"), oidc::client_type::static_client};
    client_fixture f;
    const auto rt = issuer.mint_refresh_token("app", webid);
    bool called = false;
    std::error_code seen;
    f.client->async_revoke(issuer.issuer(), app, rt, "refresh_token", [&](std::error_code ec, bool revoked) {
        called = true;
        seen = ec;
        CHECK_FALSE(revoked);
    });
    // The discovery round trip runs on the I/O thread; the blocking form waits for it.
    CHECK(code_of([&] { f.client->revoke(issuer.issuer(), app, rt, "refresh_token"); }) ==
          oidc_errc::unsupported_feature);
    CHECK(called);
    CHECK(seen == oidc_errc::unsupported_feature);
    CHECK(f.client->stats().revocation_requests == 0);
    CHECK(issuer.stats().revocation_requests == 0);
    CHECK(issuer.refresh_token_valid(rt));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("the browser legs: authorization_url, the redirect, the code exchange, logout") {
    test::test_issuer issuer;
    client_fixture f;
    const auto registered = f.client->register_client(issuer.issuer(), app_registration());
    const auto metadata = f.client->discover(issuer.issuer());
    const auto pkce = oidc::make_pkce();
    oidc::authorization_request request;
    request.client_id = registered.client_id;
    request.redirect_uri = callback_uri;
    request.scope = "openid offline_access webid";
    request.state = oidc::random_urlsafe();
    request.code_challenge = pkce.challenge;
    request.prompt = "consent";
    request.extra_parameters = {{"nonce", "n-0S6_WzA2Mj"}};

    SUBCASE("the user consents") {
        issuer.set_authorize_user(webid);
        const auto answer = f.browse(oidc::authorization_url(*metadata, request));
        REQUIRE(answer.status == 302);
        const auto query = issuer.last_authorize_query();
        REQUIRE(query);
        CHECK(query->at("code_challenge_method") == "S256");
        CHECK(query->at("prompt") == "consent");
        CHECK(query->at("nonce") == "n-0S6_WzA2Mj");
        CHECK(query->at("redirect_uri") == callback_uri);

        const auto location = answer.header_value("Location");
        REQUIRE(location);
        const auto back = oidc::parse_authorization_response(*location);
        CHECK(back.state == request.state);
        CHECK(back.iss == issuer.issuer());
        CHECK_FALSE(back.error);
        REQUIRE(back.code);
        const auto tokens = f.client->authorization_code(issuer.issuer(), info_of(registered), *back.code,
                                                         callback_uri, pkce.verifier, std::nullopt);
        REQUIRE(tokens.id_token);
        CHECK(oidc::webid_from_claims(f.client->verify_jwt(issuer.issuer(), registered.client_id, *tokens.id_token)) ==
              webid);
        // The code is single use, and the verifier is what binds it.
        CHECK(code_of([&] {
                  f.client->authorization_code(issuer.issuer(), info_of(registered), *back.code, callback_uri,
                                               pkce.verifier, std::nullopt);
              }) == oidc_errc::invalid_grant);

        // Logout: the provider gets the hint and sends the user agent back with the state.
        oidc::end_session_request bye;
        bye.id_token_hint = *tokens.id_token;
        bye.client_id = registered.client_id;
        bye.post_logout_redirect_uri = "http://127.0.0.1:7/bye";
        bye.state = "s-bye";
        const auto logout = f.browse(oidc::end_session_url(*metadata, bye));
        CHECK(logout.status == 302);
        CHECK(logout.header_value("Location") == "http://127.0.0.1:7/bye?state=s-bye");
        const auto seen = issuer.last_end_session_query();
        REQUIRE(seen);
        CHECK(seen->at("id_token_hint") == *tokens.id_token);
        CHECK(seen->at("client_id") == registered.client_id);
    }
    SUBCASE("the user refuses: an error response with state and iss") {
        issuer.set_authorize_user(std::nullopt);
        const auto answer = f.browse(oidc::authorization_url(*metadata, request));
        REQUIRE(answer.status == 302);
        const auto location = answer.header_value("Location");
        REQUIRE(location);
        const auto back = oidc::parse_authorization_response(*location);
        CHECK(back.error == "access_denied");
        CHECK_FALSE(back.code);
        CHECK(back.state == request.state);
        CHECK(back.iss == issuer.issuer());
    }
    SUBCASE("a provider without end_session_endpoint") {
        test::test_issuer quiet({.advertise_end_session = false});
        const auto md = f.client->discover(quiet.issuer());
        CHECK_FALSE(md->end_session_endpoint);
        CHECK(code_of([&] { (void)oidc::end_session_url(*md, {}); }) == oidc_errc::unsupported_feature);
    }
}
