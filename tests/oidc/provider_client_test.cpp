// The provider client against the embedded test issuer: caches (discovery, JWKS, DPoP nonces),
// token grants with rotation, the nonce retry at the token endpoint and at a resource server, ID
// token verification with key rotation, every failure the issuer can stage, HTTPS, and the Asio
// completion-token forms. All traffic goes to 127.0.0.1.
#include "oidc/provider_client.hpp"
#include "oidc/provider_client_asio.hpp"

#include "http/beast_transport.hpp"
#include "oidc/jwt.hpp"
#include "oidc/wire_url.hpp"

#include "../support/manual_clock.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_ca.hpp"
#include "../support/test_issuer.hpp"
#include "../support/transport_thread.hpp"

#include <multisession/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

namespace http = multisession::http;
namespace oidc = multisession::oidc;
namespace test = multisession::test;
using multisession::http_errc;
using multisession::oidc_errc;
using multisession::test::code_of;
using namespace std::chrono_literals;

namespace {

const std::string webid = "https://alice.example/profile/card#me";

struct pki {
    test::temp_dir dir;
    test::test_ca ca;
    test::test_ca stranger{"an untrusted CA"};
    std::string ca_file = ca.write_cert(dir.path()).string();
};

const pki& shared_pki() {
    static const pki p;
    return p;
}

/// A transport on its own I/O thread and a provider client over it.
struct client_fixture {
    test::transport_thread io;
    std::shared_ptr<oidc::provider_client> client;
    boost::asio::io_context& ioc = io.context();

    explicit client_fixture(oidc::provider_client_options options = {}, http::client_options http_options = {})
        : io(loopback(std::move(http_options))) {
        options.allow_insecure_loopback = true;
        client = oidc::provider_client::create(io.transport(), std::move(options));
    }

    static http::client_options loopback(http::client_options options) {
        options.allow_insecure_loopback = true;
        if (options.read_timeout == http::client_options{}.read_timeout) options.read_timeout = 2s;
        return options;
    }
};

oidc::client_info confidential(std::string id = "app", std::string secret = "s3cret:with%odd+chars") {
    return {std::move(id), std::move(secret), oidc::client_type::static_client};
}

} // namespace

TEST_CASE("discovery is fetched once per issuer and refetched after its TTL") {
    test::manual_clock clock;
    test::test_issuer issuer({.clock = clock.function()});
    client_fixture f({.discovery_ttl = 60s, .clock = clock.function()});

    auto first = f.client->discover(issuer.issuer());
    auto second = f.client->discover(issuer.issuer() + "/");
    CHECK(first == second); // one shared document, and "a" and "a/" are one issuer
    CHECK(first->issuer == issuer.issuer());
    CHECK(first->token_endpoint == issuer.issuer() + "/token");
    CHECK(issuer.stats().discovery_requests == 1);

    clock.advance(61s);
    auto third = f.client->discover(issuer.issuer());
    CHECK(third != first);
    CHECK(issuer.stats().discovery_requests == 2);
    CHECK(f.client->stats().discovery_fetches == 2);
}

TEST_CASE("concurrent callers share one discovery request") {
    test::test_issuer issuer;
    issuer.set_faults({.delay = 200ms});
    client_fixture f;
    constexpr int callers = 32;
    std::atomic<int> ok{0};
    std::promise<void> all;
    std::atomic<int> left{callers};
    for (int i = 0; i < callers; ++i) {
        f.client->async_discover(issuer.issuer(), [&](std::error_code ec, oidc::provider_client::metadata_ptr md) {
            if (!ec && md) ++ok;
            if (--left == 0) all.set_value();
        });
    }
    REQUIRE(all.get_future().wait_for(10s) == std::future_status::ready);
    CHECK(ok == callers);
    CHECK(issuer.stats().discovery_requests == 1);
}

TEST_CASE("discovery failures are typed and not cached") {
    test::test_issuer issuer;
    client_fixture f;

    SUBCASE("wrong issuer") {
        issuer.set_faults({.wrong_issuer = true});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == oidc_errc::issuer_mismatch);
    }
    SUBCASE("malformed JSON") {
        issuer.set_faults({.malformed_json = true});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == oidc_errc::malformed_response);
    }
    SUBCASE("500") {
        issuer.set_faults({.server_error = true});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == oidc_errc::server_error);
    }
    SUBCASE("a 100 MB body") {
        issuer.set_faults({.huge_body_bytes = 100ull << 20});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == http_errc::body_too_large);
    }
    SUBCASE("a slow provider") {
        issuer.set_faults({.delay = 3s});
        const auto start = std::chrono::steady_clock::now();
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == http_errc::timeout);
        CHECK(std::chrono::steady_clock::now() - start < 2900ms); // the 2 s read timeout, not the delay
    }
    SUBCASE("closed mid-body") {
        issuer.set_faults({.close_mid_body = true});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == http_errc::connection_closed);
    }
    // The provider recovers: the failure was not cached.
    issuer.set_faults({});
    CHECK(f.client->discover(issuer.issuer())->issuer == issuer.issuer());
}

TEST_CASE("an issuer URL that is not https is refused unless it is loopback and allowed") {
    test::test_issuer issuer;
    client_fixture f;
    CHECK(code_of([&] { f.client->discover("http://issuer.example"); }) == http_errc::insecure_url_refused);
    CHECK(code_of([&] { f.client->discover("not a url"); }) == http_errc::invalid_url);

    boost::asio::io_context ioc;
    auto strict = oidc::provider_client::create(http::make_beast_transport(ioc.get_executor(), {}), {});
    std::error_code seen;
    strict->async_discover(issuer.issuer(), [&](std::error_code ec, auto) { seen = ec; });
    CHECK(seen == http_errc::insecure_url_refused); // refused before any I/O, on this thread
    CHECK(issuer.stats().discovery_requests == 0);
}

TEST_CASE("refresh rotates a DPoP-bound refresh token; the old one is then invalid_grant") {
    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    client_fixture f;
    auto key = oidc::dpop_key::generate();
    const auto rt0 = issuer.mint_refresh_token("app", webid, key.thumbprint());

    auto t1 = f.client->refresh(issuer.issuer(), confidential(), rt0, key);
    CHECK(t1.token_type == "DPoP");
    REQUIRE(t1.refresh_token);
    CHECK(*t1.refresh_token != rt0);
    CHECK(t1.refresh_token_rotated);
    CHECK(t1.expires_in == std::chrono::seconds(300));
    CHECK_FALSE(t1.access_token.empty());
    REQUIRE(t1.id_token);

    auto t2 = f.client->refresh(issuer.issuer(), confidential(), *t1.refresh_token, key);
    REQUIRE(t2.refresh_token);
    CHECK(*t2.refresh_token != *t1.refresh_token);

    // The rotated-away token: a typed invalid_grant, and the message holds no token.
    try {
        f.client->refresh(issuer.issuer(), confidential(), rt0, key);
        FAIL("a rotated-away refresh token was accepted");
    } catch (const multisession::error& e) {
        CHECK(e.code() == oidc_errc::invalid_grant);
        CHECK(std::string(e.what()).find(rt0) == std::string::npos);
    }
    CHECK(issuer.stats().refresh_reuses == 1);
    CHECK(issuer.stats().discovery_requests == 1);

    // Bound to the key: another key cannot redeem it.
    auto other = oidc::dpop_key::generate();
    CHECK(code_of([&] { f.client->refresh(issuer.issuer(), confidential(), *t2.refresh_token, other); }) != std::error_code{});
    CHECK(issuer.refresh_token_valid(*t2.refresh_token));
}

TEST_CASE("refresh of a Bearer token, and what the responses may leave out") {
    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    client_fixture f;
    const auto rt0 = issuer.mint_refresh_token("app", webid);

    auto t1 = f.client->refresh(issuer.issuer(), confidential(), rt0, std::nullopt);
    CHECK(t1.token_type == "Bearer");
    CHECK(issuer.recent_token_requests(1).at(0).had_dpop_proof == false);

    SUBCASE("no refresh_token in the response keeps the old one") {
        issuer.set_faults({.omit_refresh_token = true});
        auto t2 = f.client->refresh(issuer.issuer(), confidential(), *t1.refresh_token, std::nullopt);
        CHECK(t2.refresh_token == t1.refresh_token);
        CHECK_FALSE(t2.refresh_token_rotated);
    }
    SUBCASE("token_type in any case") {
        issuer.set_faults({.token_type = std::string("bEaReR")});
        CHECK(f.client->refresh(issuer.issuer(), confidential(), *t1.refresh_token, std::nullopt).token_type ==
              "Bearer");
    }
    SUBCASE("5xx is server_error, not invalid_grant") {
        issuer.set_faults({.token_server_error = true});
        CHECK(code_of([&] { f.client->refresh(issuer.issuer(), confidential(), *t1.refresh_token, std::nullopt); }) ==
              oidc_errc::server_error);
        CHECK(issuer.refresh_token_valid(*t1.refresh_token));
    }
    SUBCASE("an OAuth error code maps to its own value") {
        issuer.set_faults({.oauth_error = std::string("invalid_scope")});
        CHECK(code_of([&] { f.client->refresh(issuer.issuer(), confidential(), *t1.refresh_token, std::nullopt); }) ==
              oidc_errc::invalid_scope);
    }
    SUBCASE("a wrong client secret is invalid_client") {
        CHECK(code_of([&] {
                  f.client->refresh(issuer.issuer(), confidential("app", "wrong"), *t1.refresh_token, std::nullopt);
              }) == oidc_errc::invalid_client);
    }
    SUBCASE("the provider is unreachable: a transport error") {
        const auto iss = issuer.issuer();
        f.client->discover(iss);
        issuer.set_faults({.never_answer = true});
        CHECK(code_of([&] { f.client->refresh(iss, confidential(), *t1.refresh_token, std::nullopt); }) ==
              http_errc::timeout);
    }
}

TEST_CASE("client authentication follows what the provider advertises") {
    struct row {
        std::vector<std::string> advertised;
        oidc::client_info client;
        std::string expected;
    };
    const std::vector<row> rows{
        {{"client_secret_basic", "client_secret_post"}, confidential(), "client_secret_basic"},
        {{"client_secret_post"}, confidential(), "client_secret_post"},
        {{"client_secret_basic", "none"}, {"public-app", std::nullopt, oidc::client_type::dynamic}, "none"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.expected);
        test::test_issuer issuer({.token_endpoint_auth_methods = r.advertised});
        issuer.add_client({r.client.client_id, r.client.client_secret, std::nullopt});
        client_fixture f;
        const auto rt = issuer.mint_refresh_token(r.client.client_id, webid);
        f.client->refresh(issuer.issuer(), r.client, rt, std::nullopt);
        CHECK(issuer.recent_token_requests(1).at(0).auth_method == r.expected);
    }
}

TEST_CASE("client credentials for a confidential client") {
    test::test_issuer issuer;
    issuer.add_client({"service", "service-secret", webid});
    client_fixture f;
    auto key = oidc::dpop_key::generate();
    auto t = f.client->client_credentials(issuer.issuer(), confidential("service", "service-secret"), key);
    CHECK(t.token_type == "DPoP");
    CHECK_FALSE(t.access_token.empty());
    REQUIRE(t.id_token);
    auto claims = f.client->verify_jwt(issuer.issuer(), "service", *t.id_token);
    CHECK(oidc::webid_from_claims(claims) == webid);
    CHECK(issuer.recent_token_requests(1).at(0).grant_type == "client_credentials");
}

TEST_CASE("DPoP nonces: one retry at the token endpoint, then the cached nonce is reused") {
    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    issuer.set_faults({.require_dpop_nonce = true});
    client_fixture f;
    auto key = oidc::dpop_key::generate();
    const auto origin = oidc::origin_of(issuer.issuer());

    auto t1 = f.client->refresh(issuer.issuer(), confidential(), issuer.mint_refresh_token("app", webid, key.thumbprint()), key);
    CHECK(issuer.stats().nonce_challenges == 1);
    CHECK(f.client->stats().nonce_retries == 1);
    CHECK(f.client->stats().token_requests == 2);
    REQUIRE(f.client->cached_nonce(origin));

    // The cached nonce goes with the next request: no challenge.
    auto t2 = f.client->refresh(issuer.issuer(), confidential(), *t1.refresh_token, key);
    CHECK(issuer.stats().nonce_challenges == 1);
    CHECK(f.client->stats().token_requests == 3);
    CHECK(issuer.recent_token_requests(1).at(0).proof_nonce == f.client->cached_nonce(origin));

    // A stale nonce: challenged again, retried once, succeeds.
    issuer.rotate_nonce();
    auto t3 = f.client->refresh(issuer.issuer(), confidential(), *t2.refresh_token, key);
    CHECK(issuer.stats().nonce_challenges == 2);
    CHECK(f.client->stats().nonce_retries == 2);
    CHECK(t3.refresh_token != t2.refresh_token);
}

TEST_CASE("a resource request carries the token and proof, and retries once on a nonce challenge") {
    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    client_fixture f;
    auto key = oidc::dpop_key::generate();
    auto t = f.client->refresh(issuer.issuer(), confidential(), issuer.mint_refresh_token("app", webid, key.thumbprint()), key);

    oidc::resource_credentials cred{t.access_token, t.token_type, key};
    http::request req{"GET", issuer.resource_url("/notes?x=1"), {}, {}};
    auto ok = f.client->fetch(req, cred);
    CHECK(ok.status == 200);
    CHECK(ok.body == "hello " + webid);

    issuer.set_faults({.require_dpop_nonce = true});
    const auto before = f.client->stats().resource_requests;
    auto retried = f.client->fetch(req, cred);
    CHECK(retried.status == 200);
    CHECK(f.client->stats().resource_requests == before + 2);
    CHECK(issuer.stats().nonce_challenges >= 1);

    // Without credentials the resource answers 401: a response, not an error.
    CHECK(f.client->fetch(req, std::nullopt).status == 401);
    // A DPoP token without its key cannot be presented.
    CHECK(code_of([&] { f.client->fetch(req, oidc::resource_credentials{t.access_token, "DPoP", std::nullopt}); }) ==
          oidc_errc::invalid_request);
}

TEST_CASE("ID tokens verify for every signing algorithm, and bad ones are refused with their reason") {
    for (const std::string alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
        CAPTURE(alg);
        test::test_issuer issuer({.signing_algorithm = alg});
        issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
        client_fixture f;
        auto t = f.client->refresh(issuer.issuer(), confidential(), issuer.mint_refresh_token("app", webid), std::nullopt);
        REQUIRE(t.id_token);
        auto claims = f.client->verify_jwt(issuer.issuer(), "app", *t.id_token);
        CHECK(oidc::webid_from_claims(claims) == webid);
    }

    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    client_fixture f;
    auto rt = issuer.mint_refresh_token("app", webid);
    auto next_id_token = [&](test::issuer_faults faults) {
        issuer.set_faults(std::move(faults));
        auto t = f.client->refresh(issuer.issuer(), confidential(), rt, std::nullopt);
        rt = *t.refresh_token;
        issuer.set_faults({});
        return *t.id_token;
    };
    auto verify = [&](const std::string& token) {
        return code_of([&] { f.client->verify_jwt(issuer.issuer(), "app", token); });
    };
    CHECK(verify(next_id_token({.expired_id_token = true})) == oidc_errc::token_expired);
    CHECK(verify(next_id_token({.future_id_token = true})) == oidc_errc::token_not_yet_valid);
    CHECK(verify(next_id_token({.bad_id_token_signature = true})) == oidc_errc::invalid_token);
    CHECK(verify(next_id_token({.id_token_alg_none = true})) == oidc_errc::unsupported_algorithm);
    CHECK(verify(next_id_token({.id_token_audience = std::string("someone-else")})) == oidc_errc::audience_mismatch);
    CHECK(verify(issuer.sign_token(R"({"iss":"https://evil.example","aud":"app","sub":"x","exp":9999999999})")) ==
          oidc_errc::issuer_mismatch);
    CHECK(verify(next_id_token({})) == std::error_code{});
}

TEST_CASE("JWKS: refetched when the provider rotates its key, rate-limited for unknown kids") {
    test::manual_clock clock;
    test::test_issuer issuer({.clock = clock.function()});
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    client_fixture f({.jwks_refetch_interval = 60s, .clock = clock.function()});
    auto rt = issuer.mint_refresh_token("app", webid);
    auto refresh = [&] {
        auto t = f.client->refresh(issuer.issuer(), confidential(), rt, std::nullopt);
        rt = *t.refresh_token;
        return *t.id_token;
    };

    f.client->verify_jwt(issuer.issuer(), "app", refresh());
    f.client->verify_jwt(issuer.issuer(), "app", refresh());
    CHECK(issuer.stats().jwks_requests == 1);

    // Key rotation: the new kid is unknown, the set is refetched once, and the token verifies.
    clock.advance(61s);
    issuer.rotate_signing_key();
    CHECK(f.client->verify_jwt(issuer.issuer(), "app", refresh()).at("webid") == webid);
    CHECK(issuer.stats().jwks_requests == 2);

    // Tokens naming kids nobody has: unknown_key, and no more than one refetch per interval.
    const auto bogus = issuer.sign_token(R"({"aud":"app","sub":"x","exp":9999999999})", "no-such-kid");
    for (int i = 0; i < 5; ++i) {
        CHECK(code_of([&] { f.client->verify_jwt(issuer.issuer(), "app", bogus); }) == oidc_errc::unknown_key);
    }
    CHECK(issuer.stats().jwks_requests == 2); // the rotation refetch was less than 60 s ago
    clock.advance(61s);
    CHECK(code_of([&] { f.client->verify_jwt(issuer.issuer(), "app", bogus); }) == oidc_errc::unknown_key);
    CHECK(issuer.stats().jwks_requests == 3);
}

TEST_CASE("HTTPS: a private CA is trusted through ca_file; wrong hosts and strangers are refused") {
    const auto& p = shared_pki();
    SUBCASE("trusted") {
        test::test_issuer issuer({.tls = p.ca.issue_localhost(), .host = "localhost"});
        issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
        client_fixture f({}, {.ca_file = p.ca_file});
        CHECK(issuer.issuer().rfind("https://localhost:", 0) == 0);
        auto key = oidc::dpop_key::generate();
        auto t = f.client->refresh(issuer.issuer(), confidential(),
                                   issuer.mint_refresh_token("app", webid, key.thumbprint()), key);
        CHECK(f.client->verify_jwt(issuer.issuer(), "app", *t.id_token).at("webid") == webid);
    }
    SUBCASE("a certificate for another host") {
        test::test_issuer issuer({.tls = p.ca.issue({"DNS:wrong.example"}), .host = "localhost"});
        client_fixture f({}, {.ca_file = p.ca_file});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == http_errc::tls_failed);
    }
    SUBCASE("a certificate from an untrusted CA") {
        test::test_issuer issuer({.tls = p.stranger.issue_localhost(), .host = "localhost"});
        client_fixture f({}, {.ca_file = p.ca_file});
        CHECK(code_of([&] { f.client->discover(issuer.issuer()); }) == http_errc::tls_failed);
    }
}

TEST_CASE("Asio completion tokens: futures, and handlers on their own executor") {
    test::test_issuer issuer;
    issuer.add_client({"app", "s3cret:with%odd+chars", std::nullopt});
    client_fixture f;
    const auto rt = issuer.mint_refresh_token("app", webid);

    auto md = oidc::async_discover(*f.client, f.ioc.get_executor(), issuer.issuer(), boost::asio::use_future);
    CHECK(md.get()->issuer == issuer.issuer());

    // A cache hit still completes through the executor, never inside the initiating call.
    auto strand = boost::asio::make_strand(f.ioc);
    std::promise<bool> in_strand;
    const auto caller = std::this_thread::get_id();
    oidc::async_discover(*f.client, f.ioc.get_executor(), issuer.issuer(),
                         boost::asio::bind_executor(strand, [&](boost::system::error_code ec, auto) {
                             in_strand.set_value(!ec && std::this_thread::get_id() != caller &&
                                                 strand.running_in_this_thread());
                         }));
    CHECK(in_strand.get_future().get());

    auto tokens = oidc::async_refresh(*f.client, f.ioc.get_executor(), issuer.issuer(), confidential(), rt,
                                      std::nullopt, boost::asio::use_future);
    CHECK(tokens.get().refresh_token != rt);

    // Errors reach a future as an exception carrying the code.
    auto failed = oidc::async_refresh(*f.client, f.ioc.get_executor(), issuer.issuer(), confidential(), rt,
                                      std::nullopt, boost::asio::use_future);
    try {
        failed.get();
        FAIL("a rotated-away token was accepted");
    } catch (const boost::system::system_error& e) {
        CHECK(std::error_code(e.code()) == oidc_errc::invalid_grant);
    }
}
