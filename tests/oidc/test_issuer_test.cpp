// The embedded test issuer, exercised through the library's real client pieces: the Beast
// transport, the discovery and token-request builders, DPoP proofs and JWT verification. Other
// suites trust this fixture to refuse what a provider refuses; these cases prove that it does,
// and that every fault switch changes what a client sees.
#include "http/beast_transport.hpp"
#include "oidc/base64url.hpp"
#include "oidc/dpop.hpp"
#include "oidc/jwk.hpp"
#include "oidc/jwt.hpp"
#include "oidc/wire_challenge.hpp"
#include "oidc/wire_discovery.hpp"
#include "oidc/wire_form.hpp"
#include "oidc/wire_token.hpp"

#include "../support/manual_clock.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_ca.hpp"
#include "../support/test_issuer.hpp"
#include "../support/transport_thread.hpp"

#include <multisession/error.hpp>


#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace http = multisession::http;
namespace oidc = multisession::oidc;
namespace test = multisession::test;
using multisession::http_errc;
using multisession::oidc_errc;
using json = nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

const std::string alice = "https://alice.example/profile#me";
const std::string redirect_uri = "http://127.0.0.1:9/callback";

/// What the transport delivered for one request.
struct exchange {
    std::error_code ec;
    http::response res;
    steady::duration took{};
};

http::client_options loopback_options() {
    http::client_options options;
    options.allow_insecure_loopback = true;
    return options;
}

/// The real client transport on an I/O thread of its own, timing each exchange.
class client_thread {
public:
    explicit client_thread(http::client_options options = loopback_options()) : io_(std::move(options)) {}

    exchange send(http::request req) {
        const auto started = steady::now();
        auto [ec, res] = io_.send(std::move(req));
        return exchange{ec, std::move(res), steady::now() - started};
    }

private:
    test::transport_thread io_;
};

/// The oidc error `action` throws; fails the test when it throws nothing or something else.
std::error_code error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const multisession::error& e) {
        return e.code();
    } catch (const std::exception& e) {
        FAIL("unexpected exception type: " << e.what());
    }
    FAIL("no exception");
    return {};
}

std::int64_t epoch_seconds(std::chrono::system_clock::time_point when) {
    return std::chrono::duration_cast<std::chrono::seconds>(when.time_since_epoch()).count();
}

json claims_of(const std::string& jwt) { return oidc::parse_compact_jws(jwt).payload; }

/// base64url(SHA-256(verifier)), computed here with OpenSSL directly rather than with the code
/// under test.
std::string s256(const std::string& verifier) {
    std::array<unsigned char, 32> digest{};
    unsigned int size = 0;
    REQUIRE(EVP_Digest(verifier.data(), verifier.size(), digest.data(), &size, EVP_sha256(), nullptr) == 1);
    return oidc::base64url_encode(std::string(reinterpret_cast<const char*>(digest.data()), size));
}

std::string error_code_of(const http::response& res) {
    const auto details = oidc::parse_oauth_error(res);
    return details ? details->error : std::string("(no OAuth error body)");
}

std::string description_of(const http::response& res) {
    const auto details = oidc::parse_oauth_error(res);
    return details ? details->description : std::string{};
}

std::optional<std::string_view> view(const std::optional<std::string>& text) {
    return text ? std::optional<std::string_view>(*text) : std::nullopt;
}

const oidc::client_info confidential{"app", std::string("s3cret"), oidc::client_type::static_client};
const oidc::client_info public_client{"https://app.example/id", std::nullopt, oidc::client_type::solid_oidc};

/// An issuer with a confidential client (WebID alice) and a public one, discovered by a client.
struct issuer_fixture {
    test::test_issuer issuer;
    client_thread client;
    oidc::discovery_options discovery{true};
    oidc::provider_metadata metadata;

    explicit issuer_fixture(test::test_issuer_options options = {},
                            http::client_options client_options = loopback_options())
        : issuer(std::move(options)), client(std::move(client_options)) {
        issuer.add_client({confidential.client_id, confidential.client_secret, alice});
        issuer.add_client({public_client.client_id, std::nullopt, std::nullopt});
        metadata = discover();
    }

    oidc::provider_metadata discover() {
        const auto out = client.send(oidc::discovery_request(issuer.issuer(), discovery));
        REQUIRE_FALSE(out.ec);
        return oidc::parse_discovery(issuer.issuer(), out.res, discovery);
    }

    http::response send(http::request req) {
        auto out = client.send(std::move(req));
        REQUIRE_MESSAGE(!out.ec, out.ec.message());
        return std::move(out.res);
    }

    http::response get(const std::string& url, std::vector<http::header> headers = {}) {
        return send({"GET", url, std::move(headers), {}});
    }

    oidc::jwks keys() { return oidc::jwks::parse(std::string_view(get(issuer.issuer() + "/jwks").body)); }

    json verify_id_token(const std::string& token, const std::string& audience) {
        oidc::jwt_expectations expected;
        expected.issuer = issuer.issuer();
        expected.audience = audience;
        return oidc::verify_jwt(token, keys(), expected);
    }

    std::string token_url() const { return issuer.issuer() + "/token"; }

    std::string proof(const oidc::dpop_key& key, std::optional<std::string> nonce = std::nullopt,
                      std::string_view htm = "POST", std::optional<std::string> url = std::nullopt) {
        return oidc::make_dpop_proof(key, htm, url.value_or(token_url()), std::chrono::system_clock::now(),
                                     view(nonce));
    }

    http::response refresh(const oidc::client_info& who, const std::string& refresh_token,
                           std::optional<std::string> proof = std::nullopt) {
        const auto auth =
            who.client_secret ? oidc::client_auth_method::client_secret_basic : oidc::client_auth_method::none;
        return send(oidc::refresh_token_request(metadata, who, auth, refresh_token, std::nullopt, view(proof)));
    }

    http::response client_credentials(std::optional<std::string> proof = std::nullopt,
                                      oidc::client_auth_method auth = oidc::client_auth_method::client_secret_basic,
                                      const oidc::client_info& who = confidential) {
        return send(
            oidc::client_credentials_request(metadata, who, auth, oidc::default_client_credentials_scope, view(proof)));
    }
};

// --- DPoP proofs made by hand, for the defects make_dpop_proof never produces ----------------------

struct proof_parts {
    json header;
    json claims;
};

proof_parts proof_template(const oidc::dpop_key& key, const std::string& htu) {
    static std::atomic<int> counter{0};
    return {json{{"typ", "dpop+jwt"}, {"jwk", key.public_jwk()}},
            json{{"htm", "POST"},
                 {"htu", htu},
                 {"iat", epoch_seconds(std::chrono::system_clock::now())},
                 {"jti", "hand-made-" + std::to_string(++counter)}}};
}

std::string sign_proof(const proof_parts& parts, const oidc::dpop_key& key) {
    return oidc::sign_compact_jws(parts.header, parts.claims, key.native_handle(), oidc::jws_algorithm::es256);
}

// --- the interactive-login endpoints, driven by plain HTTP requests -------------------------------

using params = std::vector<std::pair<std::string_view, std::string_view>>;
using decoded_query = std::map<std::string, std::string>;

/// One form-decoded query component ('+' a space, %XX a byte); a broken escape fails the test.
std::string form_decoded(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            CHECK_MESSAGE(text[i] != '%', "a broken %-escape in " << text);
            out += text[i];
        }
    }
    return out;
}

/// The query of `url` decoded: the parameters a redirect carries back to the client.
decoded_query query_params(std::string_view url) {
    decoded_query out;
    const auto question = url.find('?');
    if (question == std::string_view::npos) return out;
    auto rest = url.substr(question + 1);
    while (!rest.empty()) {
        const auto amp = rest.find('&');
        const auto pair = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        const auto eq = pair.find('=');
        const bool fresh = out.emplace(form_decoded(pair.substr(0, eq)),
                                       eq == std::string_view::npos ? std::string{} : form_decoded(pair.substr(eq + 1)))
                               .second;
        CHECK_MESSAGE(fresh, "a parameter repeats in " << url);
    }
    return out;
}

std::string value_of(const decoded_query& query, const std::string& name) {
    const auto it = query.find(name);
    return it == query.end() ? std::string("(absent)") : it->second;
}

/// A PKCE verifier of 43+ characters, different for each `seed`.
std::string verifier_for(char seed) { return oidc::base64url_encode(std::string(40, seed)) + "-v"; }

/// Authorization request parameters that succeed, with `changes` replacing or adding some (an
/// empty value removes the parameter).
std::string authorize_query(const std::string& client_id, const std::string& redirect, const std::string& verifier,
                            const params& changes = {}) {
    const auto challenge = s256(verifier);
    std::map<std::string_view, std::string_view> fields{
        {"response_type", "code"},
        {"client_id", client_id},
        {"redirect_uri", redirect},
        {"scope", "openid offline_access webid"},
        {"state", "st&te=1 x"},
        {"code_challenge", challenge},
        {"code_challenge_method", "S256"},
    };
    for (const auto& [name, value] : changes)
        fields.insert_or_assign(name, value);
    params ordered;
    for (const auto& [name, value] : fields)
        if (!value.empty()) ordered.emplace_back(name, value);
    return oidc::form_body(ordered);
}

/// The Location a 302 answer names; fails the test for any other answer.
std::string location_of(const http::response& res) {
    CHECK(res.status == 302);
    return std::string(res.header_value("Location").value_or(""));
}

oidc::detail::shared_pkey rsa_key() {
    EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
    REQUIRE(raw != nullptr);
    return oidc::detail::shared_pkey(raw, oidc::detail::pkey_free{});
}

} // namespace

TEST_SUITE("test_issuer") {

    TEST_CASE("discovery names the endpoints and the capabilities") {
        SUBCASE("defaults") {
            issuer_fixture f;
            const auto& m = f.metadata;
            const auto base = f.issuer.issuer();
            CHECK(base.starts_with("http://127.0.0.1:"));
            CHECK(m.issuer == base);
            CHECK(m.token_endpoint == base + "/token");
            CHECK(m.jwks_uri == base + "/jwks");
            CHECK(m.authorization_endpoint == base + "/authorize");
            CHECK(m.token_endpoint_auth_methods_supported ==
                  std::vector<std::string>{"client_secret_basic", "client_secret_post", "none"});
            CHECK(m.dpop_signing_alg_values_supported == std::vector<std::string>{"ES256"});
            CHECK(m.id_token_signing_alg_values_supported == std::vector<std::string>{"ES256"});
            CHECK(m.grant_types_supported ==
                  std::vector<std::string>{"authorization_code", "refresh_token", "client_credentials"});
            CHECK(m.response_types_supported == std::vector<std::string>{"code"});
            CHECK(m.scopes_supported == std::vector<std::string>{"openid", "offline_access", "webid"});
            CHECK(m.code_challenge_methods_supported == std::vector<std::string>{"S256"});
            const auto raw = json::parse(f.get(base + "/.well-known/openid-configuration").body);
            CHECK(raw.at("subject_types_supported") == json::array({"public"}));
            CHECK(raw.at("registration_endpoint") == base + "/register");
            CHECK(raw.at("revocation_endpoint") == base + "/revoke");
            CHECK(raw.at("end_session_endpoint") == base + "/logout");
            CHECK(f.issuer.stats().discovery_requests == 2);
            // The endpoints exist: without a client_id the authorization endpoint shows a page.
            CHECK(f.get(base + "/authorize").status == 400);
            CHECK(f.get(base + "/logout").status == 200);
        }
        SUBCASE("from the options") {
            test::test_issuer_options options;
            options.host = "localhost";
            options.token_endpoint_auth_methods = {"client_secret_post"};
            options.advertise_dpop = false;
            options.signing_algorithm = "EdDSA";
            issuer_fixture f(std::move(options));
            CHECK(f.issuer.issuer().starts_with("http://localhost:"));
            CHECK(f.metadata.token_endpoint == f.issuer.issuer() + "/token");
            CHECK(f.metadata.token_endpoint_auth_methods_supported == std::vector<std::string>{"client_secret_post"});
            CHECK(f.metadata.dpop_signing_alg_values_supported.empty());
            CHECK(f.metadata.id_token_signing_alg_values_supported == std::vector<std::string>{"EdDSA"});
            CHECK(f.issuer.resource_url("/a") == f.issuer.issuer() + "/resource/a");
        }
    }

    TEST_CASE("the JWKS holds the current key only, and rotation replaces it") {
        issuer_fixture f;
        const auto document = json::parse(f.get(f.issuer.issuer() + "/jwks").body);
        REQUIRE(document.at("keys").size() == 1);
        const auto& jwk = document["keys"][0];
        CHECK(jwk.at("kid") == f.issuer.signing_kid());
        CHECK(jwk.at("alg") == "ES256");
        CHECK(jwk.at("use") == "sig");
        CHECK_FALSE(jwk.contains("d"));
        CHECK(f.issuer.stats().jwks_requests == 1);

        const auto claims = R"({"aud":"app","sub":"x","exp":4102444800})";
        const auto before = f.issuer.sign_token(claims);
        CHECK(f.verify_id_token(before, "app").at("iss") == f.issuer.issuer());
        CHECK(error_of([&] { f.verify_id_token(f.issuer.sign_token(claims, "elsewhere"), "app"); }) ==
              oidc_errc::unknown_key);

        const auto old_kid = f.issuer.signing_kid();
        f.issuer.rotate_signing_key();
        CHECK(f.issuer.signing_kid() != old_kid);
        const auto keys = f.keys();
        REQUIRE(keys.keys().size() == 1);
        CHECK(keys.keys()[0].kid == f.issuer.signing_kid());
        CHECK(error_of([&] { f.verify_id_token(before, "app"); }) == oidc_errc::unknown_key);
        CHECK(f.verify_id_token(f.issuer.sign_token(claims), "app").at("sub") == "x");
    }

    TEST_CASE("ID and access tokens verify with the JWKS for every signing algorithm") {
        for (const std::string alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
            CAPTURE(alg);
            test::test_issuer_options options;
            options.signing_algorithm = alg;
            issuer_fixture f(std::move(options));
            CHECK(f.metadata.id_token_signing_alg_values_supported == std::vector<std::string>{alg});

            const auto res = f.client_credentials();
            REQUIRE(res.status == 200);
            const auto tokens = oidc::parse_token_response(res, std::nullopt).tokens;
            CHECK(tokens.token_type == "Bearer");
            CHECK(tokens.expires_in == std::chrono::seconds(300));
            CHECK_FALSE(tokens.refresh_token.has_value());
            REQUIRE(tokens.id_token.has_value());
            CHECK(oidc::parse_compact_jws(*tokens.id_token).header.at("alg") == alg);

            const auto id = f.verify_id_token(*tokens.id_token, confidential.client_id);
            CHECK(oidc::webid_from_claims(id) == alice);
            CHECK(id.at("azp") == confidential.client_id);

            const auto access = f.verify_id_token(tokens.access_token, "solid");
            CHECK(access.at("client_id") == confidential.client_id);
            CHECK(access.at("webid") == alice);
            CHECK_FALSE(access.contains("cnf"));
        }
    }

    TEST_CASE("client_credentials gives an ID token only to a client with a WebID") {
        issuer_fixture f;
        f.issuer.add_client({"no-webid", std::string("pw"), std::nullopt});
        const oidc::client_info who{"no-webid", std::string("pw"), oidc::client_type::static_client};
        const auto res = f.client_credentials(std::nullopt, oidc::client_auth_method::client_secret_post, who);
        REQUIRE(res.status == 200);
        const auto tokens = oidc::parse_token_response(res, std::nullopt).tokens;
        CHECK_FALSE(tokens.id_token.has_value());
        CHECK(claims_of(tokens.access_token).at("sub") == "no-webid");
    }

    TEST_CASE("refresh tokens rotate, and a rotated-away token is refused and counted") {
        issuer_fixture f;
        const auto first = f.issuer.mint_refresh_token(public_client.client_id, alice);
        CHECK(first.size() == 43); // 256 bits in base64url
        CHECK(f.issuer.refresh_token_valid(first));

        const auto r1 = f.refresh(public_client, first);
        REQUIRE(r1.status == 200);
        const auto t1 = oidc::parse_token_response(r1, first).tokens;
        CHECK(t1.refresh_token_rotated);
        REQUIRE(t1.refresh_token.has_value());
        CHECK(*t1.refresh_token != first);
        CHECK(t1.token_type == "Bearer");
        REQUIRE(t1.id_token.has_value());
        CHECK(oidc::webid_from_claims(f.verify_id_token(*t1.id_token, public_client.client_id)) == alice);
        CHECK_FALSE(f.issuer.refresh_token_valid(first));
        CHECK(f.issuer.refresh_token_valid(*t1.refresh_token));

        const auto r2 = f.refresh(public_client, *t1.refresh_token);
        REQUIRE(r2.status == 200);
        const auto t2 = oidc::parse_token_response(r2, t1.refresh_token).tokens;
        CHECK(t2.refresh_token_rotated);

        const auto reused = f.refresh(public_client, first);
        CHECK(reused.status == 400);
        CHECK(error_code_of(reused) == "invalid_grant");
        CHECK(error_of([&] { (void)oidc::parse_token_response(reused, first); }) == oidc_errc::invalid_grant);

        const auto stats = f.issuer.stats();
        CHECK(stats.refresh_reuses == 1);
        CHECK(stats.token_requests == 3);
        CHECK(stats.tokens_issued == 2);
        const auto records = f.issuer.recent_token_requests(2);
        REQUIRE(records.size() == 2);
        CHECK(records[0].status == 200);
        CHECK(records[1].grant_type == "refresh_token");
        CHECK(records[1].auth_method == "none");
        CHECK(records[1].status == 400);
        CHECK(records[1].error == "invalid_grant");
        CHECK_FALSE(records[1].had_dpop_proof);

        // Another client cannot redeem it, and that is no reuse.
        CHECK(error_code_of(f.refresh(confidential, *t2.refresh_token)) == "invalid_grant");
        CHECK(f.issuer.stats().refresh_reuses == 1);
        f.issuer.reset_counters();
        CHECK(f.issuer.stats().token_requests == 0);
    }

    TEST_CASE("without rotation the refresh token stays and responses carry none") {
        test::test_issuer_options options;
        options.rotate_refresh_tokens = false;
        issuer_fixture f(std::move(options));
        const auto token = f.issuer.mint_refresh_token(public_client.client_id, alice);
        for (int i = 0; i < 2; ++i) {
            const auto res = f.refresh(public_client, token);
            REQUIRE(res.status == 200);
            CHECK_FALSE(json::parse(res.body).contains("refresh_token"));
            CHECK(f.issuer.refresh_token_valid(token));
        }
        CHECK(f.issuer.stats().refresh_reuses == 0);
    }

    TEST_CASE("the clock option dates tokens and expires refresh tokens") {
        test::manual_clock clock;
        test::test_issuer_options options;
        options.clock = clock.function();
        options.refresh_token_lifetime = 60s;
        options.access_token_lifetime = 120s;
        issuer_fixture f(std::move(options));
        const auto token = f.issuer.mint_refresh_token(public_client.client_id, alice);

        const auto res = f.refresh(public_client, token);
        REQUIRE(res.status == 200);
        const auto tokens = oidc::parse_token_response(res, token).tokens;
        const auto access = claims_of(tokens.access_token);
        CHECK(access.at("iat") == epoch_seconds(clock.now()));
        CHECK(access.at("exp") == epoch_seconds(clock.now()) + 120);
        CHECK(tokens.expires_in == 120s);

        clock.advance(61s);
        CHECK_FALSE(f.issuer.refresh_token_valid(*tokens.refresh_token));
        const auto late = f.refresh(public_client, *tokens.refresh_token);
        CHECK(error_code_of(late) == "invalid_grant");
        CHECK(f.issuer.stats().refresh_reuses == 0);
    }

    TEST_CASE("a DPoP-bound refresh token needs a fresh proof by its own key") {
        issuer_fixture f;
        const auto key = oidc::dpop_key::generate();
        const auto stranger = oidc::dpop_key::generate();
        const auto token = f.issuer.mint_refresh_token(public_client.client_id, alice, key.thumbprint());

        SUBCASE("refusals leave the token valid") {
            const auto no_proof = f.refresh(public_client, token);
            CHECK(no_proof.status == 400);
            CHECK(error_code_of(no_proof) == "invalid_dpop_proof");
            CHECK(f.issuer.stats().dpop_rejections == 1);

            const auto other_key = f.refresh(public_client, token, f.proof(stranger));
            CHECK(other_key.status == 400);
            CHECK(error_code_of(other_key) == "invalid_grant");

            const auto wrong_htu =
                f.refresh(public_client, token, f.proof(key, {}, "POST", f.issuer.issuer() + "/tokens"));
            CHECK(error_code_of(wrong_htu) == "invalid_dpop_proof");
            CHECK(description_of(wrong_htu).find("htu") != std::string::npos);

            const auto wrong_htm = f.refresh(public_client, token, f.proof(key, {}, "GET"));
            CHECK(error_code_of(wrong_htm) == "invalid_dpop_proof");
            CHECK(description_of(wrong_htm).find("htm") != std::string::npos);

            CHECK(f.issuer.stats().dpop_rejections == 3);
            CHECK(f.issuer.refresh_token_valid(token));
            const auto records = f.issuer.recent_token_requests();
            REQUIRE(records.size() == 4);
            CHECK_FALSE(records[0].had_dpop_proof);
            CHECK(records[1].had_dpop_proof);
        }
        SUBCASE("a proof by the key is accepted once, and binds what it gets") {
            const auto proof = f.proof(key);
            const auto ok = f.refresh(public_client, token, proof);
            REQUIRE(ok.status == 200);
            const auto tokens = oidc::parse_token_response(ok, token).tokens;
            CHECK(tokens.token_type == "DPoP");
            CHECK(claims_of(tokens.access_token).at("cnf").at("jkt") == key.thumbprint());
            REQUIRE(tokens.refresh_token.has_value());

            // The same proof again (with the rotated token): a replay.
            const auto replay = f.refresh(public_client, *tokens.refresh_token, proof);
            CHECK(error_code_of(replay) == "invalid_dpop_proof");
            CHECK(description_of(replay).find("jti") != std::string::npos);

            // The successor inherits the binding.
            CHECK(error_code_of(f.refresh(public_client, *tokens.refresh_token)) == "invalid_dpop_proof");
            CHECK(f.refresh(public_client, *tokens.refresh_token, f.proof(key)).status == 200);
        }
    }

    TEST_CASE("defective DPoP proofs are refused for the right reason") {
        issuer_fixture f;
        const auto key = oidc::dpop_key::generate();
        const auto other = oidc::dpop_key::generate();
        const auto url = f.token_url();

        auto expect_refusal = [&](const std::string& proof, const std::string& reason) {
            CAPTURE(reason);
            const auto before = f.issuer.stats().dpop_rejections;
            const auto res = f.client_credentials(proof);
            CHECK(res.status == 400);
            CHECK(error_code_of(res) == "invalid_dpop_proof");
            CHECK(description_of(res).find(reason) != std::string::npos);
            CHECK(f.issuer.stats().dpop_rejections == before + 1);
        };

        // The control: the hand-made template itself passes.
        const auto control = f.client_credentials(sign_proof(proof_template(key, url), key));
        CHECK(control.status == 200);
        CHECK(json::parse(control.body).at("token_type") == "DPoP");

        auto parts = proof_template(key, url);
        parts.header["typ"] = "JWT";
        expect_refusal(sign_proof(parts, key), "typ");

        parts = proof_template(key, url);
        expect_refusal(oidc::sign_compact_jws(parts.header, parts.claims, rsa_key().get(), oidc::jws_algorithm::rs256),
                       "alg");

        parts = proof_template(key, url);
        parts.header["jwk"] = json::parse(key.private_jwk_json());
        expect_refusal(sign_proof(parts, key), "private");

        parts = proof_template(key, url);
        parts.header["jwk"] = other.public_jwk();
        expect_refusal(sign_proof(parts, key), "signature");

        auto tampered = sign_proof(proof_template(key, url), key);
        auto& c = tampered[tampered.size() - 10];
        c = c == 'A' ? 'B' : 'A';
        expect_refusal(tampered, "signature");

        for (const auto shift : {-300, 300}) {
            parts = proof_template(key, url);
            parts.claims["iat"] = parts.claims["iat"].get<std::int64_t>() + shift;
            expect_refusal(sign_proof(parts, key), "iat");
        }

        parts = proof_template(key, url);
        parts.claims.erase("jti");
        expect_refusal(sign_proof(parts, key), "jti");

        parts = proof_template(key, url + "?x=1");
        expect_refusal(sign_proof(parts, key), "htu");

        expect_refusal("not.a.jws", "compact JWS");

        // Two DPoP headers.
        auto req =
            oidc::client_credentials_request(f.metadata, confidential, oidc::client_auth_method::client_secret_basic,
                                             oidc::default_client_credentials_scope, f.proof(key));
        req.headers.push_back({"DPoP", f.proof(key)});
        const auto twice = f.send(std::move(req));
        CHECK(error_code_of(twice) == "invalid_dpop_proof");
        CHECK(description_of(twice).find("more than one") != std::string::npos);
    }

    TEST_CASE("a demanded DPoP nonce is challenged, then accepted") {
        issuer_fixture f;
        const auto key = oidc::dpop_key::generate();
        const auto token = f.issuer.mint_refresh_token(public_client.client_id, alice, key.thumbprint());

        SUBCASE("no nonce demanded: none sent") {
            const auto res = f.refresh(public_client, token, f.proof(key));
            CHECK(res.status == 200);
            CHECK_FALSE(res.header_value("DPoP-Nonce").has_value());
        }
        SUBCASE("demanded") {
            f.issuer.set_faults({.require_dpop_nonce = true});
            const auto challenged = f.refresh(public_client, token, f.proof(key));
            CHECK(challenged.status == 400);
            CHECK(error_code_of(challenged) == "use_dpop_nonce");
            CHECK(oidc::needs_dpop_nonce(challenged));
            const auto nonce = oidc::dpop_nonce_of(challenged);
            REQUIRE(nonce.has_value());
            CHECK(f.issuer.stats().nonce_challenges == 1);
            CHECK(f.issuer.refresh_token_valid(token));

            const auto wrong = f.refresh(public_client, token, f.proof(key, "not-the-nonce"));
            CHECK(error_code_of(wrong) == "use_dpop_nonce");

            const auto ok = f.refresh(public_client, token, f.proof(key, *nonce));
            REQUIRE(ok.status == 200);
            CHECK(oidc::dpop_nonce_of(ok) == nonce);
            const auto tokens = oidc::parse_token_response(ok, token);
            CHECK(tokens.dpop_nonce == nonce);
            CHECK(f.issuer.recent_token_requests(1).at(0).proof_nonce == nonce);

            f.issuer.rotate_nonce();
            const auto stale = f.refresh(public_client, *tokens.tokens.refresh_token, f.proof(key, *nonce));
            CHECK(error_code_of(stale) == "use_dpop_nonce");
            const auto fresh = oidc::dpop_nonce_of(stale);
            REQUIRE(fresh.has_value());
            CHECK(*fresh != *nonce);
            CHECK(f.refresh(public_client, *tokens.tokens.refresh_token, f.proof(key, *fresh)).status == 200);
            CHECK(f.issuer.stats().nonce_challenges == 3);
            CHECK(f.issuer.stats().dpop_rejections == 0);
        }
    }

    TEST_CASE("client authentication: Basic with reserved characters, post, none; wrong ones are refused") {
        issuer_fixture f;
        const oidc::client_info odd{"odd client:1", std::string("p:a%s+s w/ord=&"), oidc::client_type::static_client};
        f.issuer.add_client({odd.client_id, odd.client_secret, alice});
        using method = oidc::client_auth_method;

        SUBCASE("client_secret_basic encodes both parts") {
            const auto res = f.client_credentials(std::nullopt, method::client_secret_basic, odd);
            CHECK(res.status == 200);
            CHECK(f.issuer.recent_token_requests(1).at(0).auth_method == "client_secret_basic");

            // The same credentials without the form encoding RFC 6749 section 2.3.1 asks for.
            auto raw = oidc::client_credentials_request(f.metadata, odd, method::client_secret_basic);
            for (auto& h : raw.headers)
                if (h.name == "Authorization")
                    h.value = "Basic " + oidc::base64_encode(odd.client_id + ":" + odd.client_secret->str());
            const auto refused = f.send(std::move(raw));
            CHECK(refused.status == 401);
            CHECK(error_code_of(refused) == "invalid_client");
        }
        SUBCASE("client_secret_post") {
            CHECK(f.client_credentials(std::nullopt, method::client_secret_post, odd).status == 200);
            CHECK(f.issuer.recent_token_requests(1).at(0).auth_method == "client_secret_post");
        }
        SUBCASE("wrong secret, unknown client, missing secret") {
            const oidc::client_info wrong{"app", std::string("s3cret!"), oidc::client_type::static_client};
            const auto res = f.client_credentials(std::nullopt, method::client_secret_basic, wrong);
            CHECK(res.status == 401);
            CHECK(error_code_of(res) == "invalid_client");
            CHECK(res.header_value("WWW-Authenticate").value_or("").starts_with("Basic"));
            CHECK(error_of([&] { (void)oidc::parse_token_response(res, std::nullopt); }) == oidc_errc::invalid_client);
            CHECK(f.issuer.recent_token_requests(1).at(0).error == "invalid_client");

            const oidc::client_info unknown{"nobody", std::string("x"), oidc::client_type::static_client};
            CHECK(error_code_of(f.client_credentials(std::nullopt, method::client_secret_post, unknown)) ==
                  "invalid_client");

            const oidc::client_info no_secret{"app", std::nullopt, oidc::client_type::static_client};
            CHECK(error_code_of(f.client_credentials(std::nullopt, method::none, no_secret)) == "invalid_client");
        }
        SUBCASE("a public client may not use client_credentials") {
            const auto res = f.client_credentials(std::nullopt, method::none, public_client);
            CHECK(res.status == 400);
            CHECK(error_code_of(res) == "unauthorized_client");
            CHECK(f.issuer.recent_token_requests(1).at(0).auth_method == "none");
        }
    }

    TEST_CASE("authorization_code with PKCE S256 is single use and binds the refresh token") {
        issuer_fixture f;
        const auto key = oidc::dpop_key::generate();
        const std::string verifier = oidc::base64url_encode(std::string(40, '\x5a')) + "-verifier";
        const auto code =
            f.issuer.mint_authorization_code(public_client.client_id, alice, redirect_uri, s256(verifier));
        auto redeem = [&](const std::string& c, const std::string& uri, const std::string& v,
                          std::optional<std::string> proof) {
            return f.send(oidc::authorization_code_request(f.metadata, public_client, oidc::client_auth_method::none, c,
                                                           uri, v, view(proof)));
        };

        SUBCASE("success, then reuse") {
            const auto res = redeem(code, redirect_uri, verifier, f.proof(key));
            REQUIRE(res.status == 200);
            const auto tokens = oidc::parse_token_response(res, std::nullopt).tokens;
            CHECK(tokens.token_type == "DPoP");
            REQUIRE(tokens.id_token.has_value());
            CHECK(oidc::webid_from_claims(f.verify_id_token(*tokens.id_token, public_client.client_id)) == alice);
            REQUIRE(tokens.refresh_token.has_value());
            CHECK(error_code_of(f.refresh(public_client, *tokens.refresh_token)) == "invalid_dpop_proof");
            CHECK(f.refresh(public_client, *tokens.refresh_token, f.proof(key)).status == 200);

            CHECK(error_code_of(redeem(code, redirect_uri, verifier, f.proof(key))) == "invalid_grant");
            CHECK(f.issuer.recent_token_requests(1).at(0).grant_type == "authorization_code");
        }
        SUBCASE("wrong verifier") {
            CHECK(error_code_of(redeem(code, redirect_uri, verifier + "x", std::nullopt)) == "invalid_grant");
        }
        SUBCASE("wrong redirect_uri") {
            CHECK(error_code_of(redeem(code, redirect_uri + "/x", verifier, std::nullopt)) == "invalid_grant");
        }
        SUBCASE("without DPoP: a Bearer token and an unbound refresh token") {
            const auto res = redeem(code, redirect_uri, verifier, std::nullopt);
            REQUIRE(res.status == 200);
            const auto tokens = oidc::parse_token_response(res, std::nullopt).tokens;
            CHECK(tokens.token_type == "Bearer");
            CHECK(f.refresh(public_client, *tokens.refresh_token).status == 200);
        }
    }

    TEST_CASE("the authorization endpoint redirects with a code that redeems once, with its verifier") {
        issuer_fixture f;
        const oidc::client_info web{"web-app", std::nullopt, oidc::client_type::static_client};
        f.issuer.add_client({web.client_id, std::nullopt, std::nullopt, {redirect_uri}});
        f.issuer.set_authorize_user(alice);
        const auto verifier = verifier_for('a');
        const auto authorize = [&](const params& changes = {}) {
            return f.get(f.issuer.issuer() + "/authorize?" +
                         authorize_query(web.client_id, redirect_uri, verifier, changes));
        };
        const auto redeem = [&](const std::string& code, const std::string& v) {
            return f.send(oidc::authorization_code_request(f.metadata, web, oidc::client_auth_method::none, code,
                                                           redirect_uri, v));
        };

        const auto location = location_of(authorize({{"prompt", "consent"}, {"nonce", "n-0S6"}}));
        CHECK(location.starts_with(redirect_uri + "?code="));
        const auto answer = query_params(location);
        CHECK(answer.size() == 3);
        CHECK(value_of(answer, "state") == "st&te=1 x");
        CHECK(value_of(answer, "iss") == f.issuer.issuer());
        const auto code = value_of(answer, "code");
        CHECK(code.size() == 43);

        const auto recorded = f.issuer.last_authorize_query();
        REQUIRE(recorded.has_value());
        CHECK(value_of(*recorded, "code_challenge_method") == "S256");
        CHECK(value_of(*recorded, "code_challenge") == s256(verifier));
        CHECK(value_of(*recorded, "prompt") == "consent");
        CHECK(value_of(*recorded, "state") == "st&te=1 x");
        CHECK(f.issuer.stats().authorize_requests == 1);

        SUBCASE("the right verifier: tokens for the user, then the code is spent") {
            const auto res = redeem(code, verifier);
            REQUIRE(res.status == 200);
            const auto tokens = oidc::parse_token_response(res, std::nullopt).tokens;
            REQUIRE(tokens.id_token.has_value());
            const auto id = f.verify_id_token(*tokens.id_token, web.client_id);
            CHECK(oidc::webid_from_claims(id) == alice);
            CHECK(id.at("azp") == web.client_id);
            CHECK(id.at("nonce") == "n-0S6");
            CHECK(json::parse(res.body).at("scope") == "openid offline_access webid");
            REQUIRE(tokens.refresh_token.has_value());
            CHECK(f.issuer.refresh_token_valid(*tokens.refresh_token));
            CHECK(error_code_of(redeem(code, verifier)) == "invalid_grant");
        }
        SUBCASE("a wrong verifier spends the code") {
            CHECK(error_code_of(redeem(code, verifier_for('b'))) == "invalid_grant");
            CHECK(error_code_of(redeem(code, verifier)) == "invalid_grant");
        }
        SUBCASE("without offline_access: no refresh token, and unknown scopes are dropped") {
            const auto narrow = query_params(location_of(authorize({{"scope", "openid webid profile"}})));
            const auto res = redeem(value_of(narrow, "code"), verifier);
            REQUIRE(res.status == 200);
            const auto body = json::parse(res.body);
            CHECK(body.at("scope") == "openid webid");
            CHECK_FALSE(body.contains("refresh_token"));
            CHECK(body.contains("id_token"));
            CHECK_FALSE(f.issuer.last_authorize_query()->contains("nonce"));
        }
        SUBCASE("a redirect URI with a query keeps it; state is optional") {
            const std::string with_query = "http://127.0.0.1:9/cb?from=app";
            f.issuer.add_client({"any-uri", std::nullopt, std::nullopt});
            const auto other = location_of(f.get(f.issuer.issuer() + "/authorize?" +
                                                 authorize_query("any-uri", with_query, verifier, {{"state", ""}})));
            CHECK(other.starts_with(with_query + "&code="));
            const auto q = query_params(other);
            CHECK(value_of(q, "from") == "app");
            CHECK_FALSE(q.contains("state"));
            CHECK(value_of(q, "iss") == f.issuer.issuer());
        }
    }

    TEST_CASE("the authorization endpoint redirects errors, and shows a page for an untrusted redirect URI") {
        issuer_fixture f;
        f.issuer.add_client({"web-app", std::nullopt, std::nullopt, {redirect_uri}});
        const auto verifier = verifier_for('c');
        const auto authorize = [&](const params& changes = {}, const std::string& uri = redirect_uri) {
            return f.get(f.issuer.issuer() + "/authorize?" + authorize_query("web-app", uri, verifier, changes));
        };
        const auto error_redirect = [&](const http::response& res) {
            const auto location = location_of(res);
            CHECK(location.starts_with(redirect_uri + "?error="));
            const auto q = query_params(location);
            CHECK_FALSE(q.contains("code"));
            CHECK(value_of(q, "state") == "st&te=1 x");
            CHECK(value_of(q, "iss") == f.issuer.issuer());
            return value_of(q, "error");
        };

        SUBCASE("no user: access_denied, until one is set") {
            CHECK(error_redirect(authorize()) == "access_denied");
            f.issuer.set_authorize_user(alice);
            CHECK(query_params(location_of(authorize())).contains("code"));
            f.issuer.set_authorize_user(std::nullopt);
            CHECK(error_redirect(authorize()) == "access_denied");
        }
        SUBCASE("bad requests from a trusted client") {
            f.issuer.set_authorize_user(alice);
            CHECK(error_redirect(authorize({{"code_challenge_method", "plain"}})) == "invalid_request");
            CHECK(error_redirect(authorize({{"code_challenge_method", ""}})) == "invalid_request");
            CHECK(error_redirect(authorize({{"code_challenge", ""}})) == "invalid_request");
            CHECK(error_redirect(authorize({{"code_challenge", "not-a-sha256"}})) == "invalid_request");
            CHECK(error_redirect(authorize({{"response_type", "token"}})) == "invalid_request");
            CHECK(error_redirect(authorize({{"scope", "webid offline_access"}})) == "invalid_scope");
            f.issuer.set_faults({.authorize_error = std::string("temporarily_unavailable")});
            CHECK(error_redirect(authorize()) == "temporarily_unavailable");
            f.issuer.set_faults({.wrong_issuer = true});
            CHECK(value_of(query_params(location_of(authorize())), "iss") == "https://evil.example");
            f.issuer.set_faults({});
            CHECK(query_params(location_of(authorize())).contains("code"));
            CHECK(f.issuer.stats().authorize_requests == 9);
        }
        SUBCASE("an untrusted client or redirect URI gets a page, not a redirect") {
            f.issuer.set_authorize_user(alice);
            for (const auto& res : {authorize({}, "http://127.0.0.1:9/elsewhere"), authorize({}, redirect_uri + "/x"),
                                    authorize({{"client_id", "nobody"}}), authorize({{"redirect_uri", ""}}),
                                    f.get(f.issuer.issuer() + "/authorize?client_id=web-app&client_id=web-app")}) {
                CHECK(res.status == 400);
                CHECK_FALSE(res.header_value("Location").has_value());
            }
            // Even an injected error is not sent to an unregistered URI.
            f.issuer.set_faults({.authorize_error = std::string("server_error")});
            CHECK(authorize({}, "http://127.0.0.1:9/elsewhere").status == 400);
            const auto recorded = f.issuer.last_authorize_query();
            REQUIRE(recorded.has_value());
            CHECK(value_of(*recorded, "redirect_uri") == "http://127.0.0.1:9/elsewhere");
            CHECK(f.issuer.stats().authorize_requests == 6);
            f.issuer.reset_counters();
            CHECK(f.issuer.stats().authorize_requests == 0);
        }
    }

    TEST_CASE("dynamic registration makes a client the other endpoints know") {
        test::manual_clock clock;
        test::test_issuer_options options;
        options.clock = clock.function();
        options.registration_secret_lifetime = 60s;
        issuer_fixture f(std::move(options));
        f.issuer.set_authorize_user(alice);
        const auto register_url = f.issuer.issuer() + "/register";
        const auto register_client = [&](const json& metadata) {
            return f.send({"POST", register_url, {{"Content-Type", "application/json"}}, metadata.dump()});
        };
        const std::string callback = "http://127.0.0.1:9/registered";

        const auto res = register_client({{"redirect_uris", {callback}},
                                          {"client_name", "Demo"},
                                          {"token_endpoint_auth_method", "client_secret_post"},
                                          {"grant_types", {"authorization_code", "refresh_token"}},
                                          {"scope", "openid offline_access webid"},
                                          {"application_type", "web"},
                                          {"id_token_signed_response_alg", "ES256"},
                                          {"logo_uri", "http://127.0.0.1:9/logo.png"}});
        REQUIRE(res.status == 201);
        CHECK(res.header_value("Cache-Control") == "no-store");
        const auto body = json::parse(res.body);
        const oidc::client_info registered{body.at("client_id").get<std::string>(),
                                           body.at("client_secret").get<std::string>(), oidc::client_type::dynamic};
        CHECK(registered.client_id.size() >= 16);
        CHECK(registered.client_secret->size() == 43);
        CHECK(body.at("client_id_issued_at") == epoch_seconds(clock.now()));
        CHECK(body.at("client_secret_expires_at") == epoch_seconds(clock.now()) + 60);
        CHECK(body.at("redirect_uris") == json::array({callback}));
        CHECK(body.at("client_name") == "Demo");
        CHECK(body.at("token_endpoint_auth_method") == "client_secret_post");
        CHECK(body.at("grant_types") == json::array({"authorization_code", "refresh_token"}));
        CHECK(body.at("response_types") == json::array({"code"}));
        CHECK(body.at("application_type") == "web");
        CHECK_FALSE(body.contains("logo_uri"));
        CHECK(f.issuer.stats().registrations == 1);

        // The authorization endpoint holds it to its redirect URIs; the token endpoint to its secret.
        const auto verifier = verifier_for('r');
        const auto authorize = [&](const std::string& uri) {
            return f.get(f.issuer.issuer() + "/authorize?" + authorize_query(registered.client_id, uri, verifier));
        };
        CHECK(authorize(redirect_uri).status == 400);
        const auto code = value_of(query_params(location_of(authorize(callback))), "code");
        const auto redeem = [&](const oidc::client_info& who) {
            return f.send(oidc::authorization_code_request(
                f.metadata, who, oidc::client_auth_method::client_secret_post, code, callback, verifier));
        };
        const oidc::client_info wrong{registered.client_id, std::string("guess"), oidc::client_type::dynamic};
        CHECK(error_code_of(redeem(wrong)) == "invalid_client");
        const auto tokens = redeem(registered);
        REQUIRE(tokens.status == 200);
        CHECK(oidc::webid_from_claims(claims_of(json::parse(tokens.body).at("id_token").get<std::string>())) == alice);

        SUBCASE("the secret expires") {
            CHECK(
                f.client_credentials(std::nullopt, oidc::client_auth_method::client_secret_basic, registered).status ==
                200);
            clock.advance(61s);
            const auto late =
                f.client_credentials(std::nullopt, oidc::client_auth_method::client_secret_basic, registered);
            CHECK(late.status == 401);
            CHECK(error_code_of(late) == "invalid_client");
        }
        SUBCASE("every client gets its own id; a public one gets no secret") {
            const auto second = json::parse(
                register_client({{"redirect_uris", {callback}}, {"token_endpoint_auth_method", "none"}}).body);
            CHECK(second.at("client_id") != registered.client_id);
            CHECK(second.at("grant_types") == json::array({"authorization_code"}));
            CHECK_FALSE(second.contains("client_secret"));
            CHECK_FALSE(second.contains("client_secret_expires_at"));
            CHECK(f.issuer.stats().registrations == 2);
        }
        SUBCASE("without a lifetime a secret never expires") {
            issuer_fixture g;
            const auto forever = json::parse(
                g.send({"POST", g.issuer.issuer() + "/register", {}, json{{"redirect_uris", {callback}}}.dump()}).body);
            CHECK(forever.at("client_secret_expires_at") == 0);
            CHECK(forever.at("token_endpoint_auth_method") == "client_secret_basic");
        }
    }

    TEST_CASE("registration refuses bad metadata") {
        issuer_fixture f;
        const auto url = f.issuer.issuer() + "/register";
        const std::vector<std::pair<std::string, std::string>> cases{
            {"not json", "invalid_client_metadata"},
            {"[]", "invalid_client_metadata"},
            {"{}", "invalid_redirect_uri"},
            {R"({"redirect_uris":[]})", "invalid_redirect_uri"},
            {R"({"redirect_uris":"http://127.0.0.1:9/cb"})", "invalid_redirect_uri"},
            {R"({"redirect_uris":[7]})", "invalid_redirect_uri"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb#frag"]})", "invalid_redirect_uri"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"private_key_jwt"})",
             "invalid_client_metadata"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb"],"grant_types":["implicit"]})", "invalid_client_metadata"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb"],"response_types":["token"]})", "invalid_client_metadata"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb"],"id_token_signed_response_alg":"RS256"})",
             "invalid_client_metadata"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb"],"application_type":"desktop"})", "invalid_client_metadata"},
            {R"({"redirect_uris":["http://127.0.0.1:9/cb"],"client_name":5})", "invalid_client_metadata"},
        };
        for (const auto& [metadata, expected] : cases) {
            CAPTURE(metadata);
            const auto res = f.send({"POST", url, {{"Content-Type", "application/json"}}, metadata});
            CHECK(res.status == 400);
            CHECK(error_code_of(res) == expected);
        }
        CHECK(f.issuer.stats().registrations == 0);
        // The control: the first refusals' redirect URIs are fine on their own.
        CHECK(f.send({"POST", url, {}, R"({"redirect_uris":["http://127.0.0.1:9/cb"]})"}).status == 201);
        CHECK(f.get(url).status == 405);
        CHECK(f.issuer.stats().registrations == 1);
    }

    TEST_CASE("revocation retires refresh and access tokens of the authenticated client only") {
        issuer_fixture f;
        const auto revoke_url = f.issuer.issuer() + "/revoke";
        using method = oidc::client_auth_method;
        const auto revoke = [&](const std::string& token, const oidc::client_info& who, method auth,
                                std::optional<std::string> hint = std::nullopt) {
            params fields;
            if (!token.empty()) fields.emplace_back("token", token);
            if (hint) fields.emplace_back("token_type_hint", *hint);
            http::request req{"POST", revoke_url, {{"Content-Type", "application/x-www-form-urlencoded"}}, {}};
            if (auth == method::client_secret_basic)
                req.headers.push_back(
                    {"Authorization", oidc::client_secret_basic_credential(who.client_id, *who.client_secret)});
            if (auth != method::client_secret_basic) fields.emplace_back("client_id", who.client_id);
            if (auth == method::client_secret_post) fields.emplace_back("client_secret", *who.client_secret);
            req.body = oidc::form_body(fields);
            return f.send(std::move(req));
        };
        const auto token = f.issuer.mint_refresh_token(public_client.client_id, alice);
        const auto bystander = f.issuer.mint_refresh_token(public_client.client_id, alice);

        SUBCASE("a refresh token: refused afterwards, and that is no reuse") {
            const auto res = revoke(token, public_client, method::none, "refresh_token");
            CHECK(res.status == 200);
            CHECK(res.body.empty());
            CHECK(res.header_value("Cache-Control") == "no-store");
            CHECK_FALSE(f.issuer.refresh_token_valid(token));
            CHECK(f.issuer.refresh_token_valid(bystander));
            const auto refused = f.refresh(public_client, token);
            CHECK(refused.status == 400);
            CHECK(error_code_of(refused) == "invalid_grant");
            CHECK(description_of(refused).find("revoked") != std::string::npos);
            CHECK(f.refresh(public_client, bystander).status == 200);
            // Again: still 200, nothing more revoked.
            CHECK(revoke(token, public_client, method::none).status == 200);
            const auto stats = f.issuer.stats();
            CHECK(stats.refresh_reuses == 0);
            CHECK(stats.revocation_requests == 2);
            CHECK(stats.tokens_revoked == 1);
        }
        SUBCASE("an access token: the resource refuses it afterwards") {
            const auto issue = [&] {
                return oidc::parse_token_response(f.client_credentials(), std::nullopt).tokens.access_token;
            };
            const auto at = issue(), other = issue();
            const auto url = f.issuer.resource_url("/a");
            const auto use = [&](const std::string& t) { return f.get(url, {{"Authorization", "Bearer " + t}}); };
            CHECK(use(at).status == 200);
            CHECK(revoke(at, confidential, method::client_secret_basic, "access_token").status == 200);
            const auto refused = use(at);
            CHECK(refused.status == 401);
            CHECK(refused.header_value("WWW-Authenticate").value_or("").find("invalid_token") != std::string::npos);
            CHECK(use(other).status == 200);
            CHECK(f.issuer.stats().tokens_revoked == 1);
        }
        SUBCASE("client authentication as at the token endpoint") {
            const oidc::client_info wrong{"app", std::string("s3cret!"), oidc::client_type::static_client};
            const auto basic = revoke(token, wrong, method::client_secret_basic);
            CHECK(basic.status == 401);
            CHECK(error_code_of(basic) == "invalid_client");
            CHECK(basic.header_value("WWW-Authenticate").value_or("").starts_with("Basic"));
            CHECK(error_code_of(revoke(token, wrong, method::client_secret_post)) == "invalid_client");
            const oidc::client_info no_secret{"app", std::nullopt, oidc::client_type::static_client};
            CHECK(error_code_of(revoke(token, no_secret, method::none)) == "invalid_client");
            const auto anonymous = f.send({"POST", revoke_url, {}, "token=" + token});
            CHECK(anonymous.status == 401);
            f.issuer.add_client({"lapsed", std::string("pw"), std::nullopt, {}, std::chrono::system_clock::now() - 1s});
            const oidc::client_info lapsed{"lapsed", std::string("pw"), oidc::client_type::static_client};
            CHECK(error_code_of(revoke(token, lapsed, method::client_secret_post)) == "invalid_client");
            CHECK(error_code_of(f.client_credentials(std::nullopt, method::client_secret_post, lapsed)) ==
                  "invalid_client");
            CHECK(f.issuer.refresh_token_valid(token));
            CHECK(f.issuer.stats().tokens_revoked == 0);
            // The control: the right secret by either method is accepted.
            CHECK(revoke(token, confidential, method::client_secret_post).status == 200);
            CHECK(revoke(token, confidential, method::client_secret_basic).status == 200);
        }
        SUBCASE("unknown and foreign tokens: 200, and nothing revoked") {
            CHECK(revoke("no-such-token", public_client, method::none).status == 200);
            CHECK(revoke(token, confidential, method::client_secret_basic).status == 200);
            CHECK(f.issuer.refresh_token_valid(token));
            CHECK(f.issuer.stats().tokens_revoked == 0);
        }
        SUBCASE("no token: invalid_request") {
            const auto res = revoke("", public_client, method::none);
            CHECK(res.status == 400);
            CHECK(error_code_of(res) == "invalid_request");
            CHECK(f.get(revoke_url).status == 405);
            CHECK(f.issuer.stats().revocation_requests == 2);
        }
    }

    TEST_CASE("the end-session endpoint records its query and redirects back when asked") {
        issuer_fixture f;
        const auto logout_url = f.issuer.issuer() + "/logout";
        CHECK_FALSE(f.issuer.last_end_session_query().has_value());

        const auto back = f.get(logout_url + "?" +
                                oidc::form_body({{"id_token_hint", "a.b.c"},
                                                 {"post_logout_redirect_uri", "http://127.0.0.1:9/bye"},
                                                 {"state", "s 1"}}));
        CHECK(location_of(back) == "http://127.0.0.1:9/bye?state=s%201");
        auto recorded = f.issuer.last_end_session_query();
        REQUIRE(recorded.has_value());
        CHECK(value_of(*recorded, "id_token_hint") == "a.b.c");
        CHECK(value_of(*recorded, "state") == "s 1");

        const auto plain = f.get(logout_url + "?client_id=app");
        CHECK(plain.status == 200);
        CHECK(plain.body == "logged out");
        recorded = f.issuer.last_end_session_query();
        REQUIRE(recorded.has_value());
        CHECK(*recorded == decoded_query{{"client_id", "app"}});
    }

    TEST_CASE("switched-off endpoints leave discovery and answer 404") {
        test::test_issuer_options options;
        options.advertise_registration = false;
        options.advertise_revocation = false;
        options.advertise_end_session = false;
        issuer_fixture f(std::move(options));
        const auto base = f.issuer.issuer();
        const auto raw = json::parse(f.get(base + "/.well-known/openid-configuration").body);
        CHECK(raw.at("authorization_endpoint") == base + "/authorize");
        for (const char* member : {"registration_endpoint", "revocation_endpoint", "end_session_endpoint"}) {
            CAPTURE(member);
            CHECK_FALSE(raw.contains(member));
        }
        CHECK(f.send({"POST", base + "/register", {}, R"({"redirect_uris":["http://127.0.0.1:9/cb"]})"}).status == 404);
        CHECK(f.send({"POST", base + "/revoke", {}, "token=x&client_id=" + public_client.client_id}).status == 404);
        CHECK(f.get(base + "/logout").status == 404);
        CHECK_FALSE(f.issuer.last_end_session_query().has_value());
        const auto stats = f.issuer.stats();
        CHECK(stats.registrations == 0);
        CHECK(stats.revocation_requests == 0);
    }

    TEST_CASE("every fault switch changes the answer") {
        issuer_fixture f;
        const auto discovery_url = f.issuer.issuer() + "/.well-known/openid-configuration";
        const auto discovery = [&] { return oidc::discovery_request(f.issuer.issuer(), f.discovery); };
        const auto parse_discovery = [&](const http::response& res) {
            (void)oidc::parse_discovery(f.issuer.issuer(), res, f.discovery);
        };
        const auto token = f.issuer.mint_refresh_token(public_client.client_id, alice);

        SUBCASE("delay") {
            f.issuer.set_faults({.delay = 300ms});
            const auto out = f.client.send(discovery());
            CHECK_FALSE(out.ec);
            CHECK(out.took >= 300ms);
            f.issuer.set_faults({});
            CHECK(f.client.send(discovery()).took < 300ms);
        }
        SUBCASE("byte_interval") {
            f.issuer.set_faults({.byte_interval = 20ms});
            const auto out = f.client.send({"GET", f.issuer.resource_url("/x"), {}, {}});
            REQUIRE_FALSE(out.ec);
            CHECK(out.res.status == 401);
            CHECK(out.took >= 20ms * static_cast<int>(out.res.body.size() - 1));
            CHECK(out.res.body.size() > 10);
        }
        SUBCASE("server_error") {
            f.issuer.set_faults({.server_error = true});
            const auto res = f.send(discovery());
            CHECK(res.status == 500);
            CHECK(res.header_value("Content-Type") == "text/plain");
            CHECK(error_of([&] { parse_discovery(res); }) == oidc_errc::server_error);
            CHECK(f.get(f.issuer.issuer() + "/jwks").status == 500);
            CHECK(f.refresh(public_client, token).status == 500);
            CHECK(f.get(f.issuer.resource_url("/x")).status == 500);
            CHECK(f.issuer.refresh_token_valid(token));
        }
        SUBCASE("token_server_error") {
            f.issuer.set_faults({.token_server_error = true});
            CHECK(f.send(discovery()).status == 200);
            const auto res = f.refresh(public_client, token);
            CHECK(res.status == 500);
            CHECK(error_code_of(res) == "server_error");
            CHECK(error_of([&] { (void)oidc::parse_token_response(res, token); }) == oidc_errc::server_error);
            CHECK(f.issuer.refresh_token_valid(token));
            CHECK(f.issuer.stats().tokens_issued == 0);
        }
        SUBCASE("malformed_json") {
            f.issuer.set_faults({.malformed_json = true});
            CHECK(error_of([&] { parse_discovery(f.send(discovery())); }) == oidc_errc::malformed_response);
            CHECK(error_of([&] {
                      (void)oidc::jwks::parse(std::string_view(f.get(f.issuer.issuer() + "/jwks").body));
                  }) == oidc_errc::malformed_response);
            const auto res = f.refresh(public_client, token);
            CHECK(res.status == 200);
            CHECK(error_of([&] { (void)oidc::parse_token_response(res, token); }) == oidc_errc::malformed_response);
        }
        SUBCASE("huge_body_bytes") {
            f.issuer.set_faults({.huge_body_bytes = 200000});
            const auto res = f.send(discovery());
            CHECK(res.status == 200);
            CHECK(res.body.size() == 200000);
            f.issuer.set_faults({.huge_body_bytes = 4u << 20});
            CHECK(f.client.send(discovery()).ec == http_errc::body_too_large);
        }
        SUBCASE("close_mid_body") {
            f.issuer.set_faults({.close_mid_body = true});
            const auto out = f.client.send(discovery());
            CHECK(out.ec == http_errc::connection_closed);
        }
        SUBCASE("never_answer") {
            auto options = loopback_options();
            options.read_timeout = 300ms;
            client_thread impatient(options);
            f.issuer.set_faults({.never_answer = true});
            const auto out = impatient.send(discovery());
            CHECK(out.ec == http_errc::timeout);
            CHECK(f.issuer.server().request_count() >= 2);
        }
        SUBCASE("wrong_issuer") {
            f.issuer.set_faults({.wrong_issuer = true});
            CHECK(error_of([&] { parse_discovery(f.send(discovery())); }) == oidc_errc::issuer_mismatch);
            const auto tokens = oidc::parse_token_response(f.client_credentials(), std::nullopt).tokens;
            CHECK(claims_of(*tokens.id_token).at("iss") == "https://evil.example");
            CHECK(claims_of(tokens.access_token).at("iss") == "https://evil.example");
            CHECK(error_of([&] { f.verify_id_token(*tokens.id_token, confidential.client_id); }) ==
                  oidc_errc::issuer_mismatch);
        }
        SUBCASE("ID token faults") {
            struct fault_case {
                const char* name;
                test::issuer_faults faults;
                oidc_errc expected;
            };
            const fault_case cases[] = {
                {"expired", {.expired_id_token = true}, oidc_errc::token_expired},
                {"future", {.future_id_token = true}, oidc_errc::token_not_yet_valid},
                {"bad signature", {.bad_id_token_signature = true}, oidc_errc::invalid_token},
                {"alg none", {.id_token_alg_none = true}, oidc_errc::unsupported_algorithm},
                {"audience", {.id_token_audience = std::string("someone-else")}, oidc_errc::audience_mismatch},
            };
            for (const auto& c : cases) {
                CAPTURE(c.name);
                f.issuer.set_faults(c.faults);
                const auto tokens = oidc::parse_token_response(f.client_credentials(), std::nullopt).tokens;
                REQUIRE(tokens.id_token.has_value());
                CHECK(error_of([&] { f.verify_id_token(*tokens.id_token, confidential.client_id); }) == c.expected);
            }
            f.issuer.set_faults({});
            const auto tokens = oidc::parse_token_response(f.client_credentials(), std::nullopt).tokens;
            CHECK(oidc::webid_from_claims(f.verify_id_token(*tokens.id_token, confidential.client_id)) == alice);
        }
        SUBCASE("omit_refresh_token") {
            f.issuer.set_faults({.omit_refresh_token = true});
            const auto res = f.refresh(public_client, token);
            REQUIRE(res.status == 200);
            CHECK_FALSE(json::parse(res.body).contains("refresh_token"));
            CHECK(f.issuer.refresh_token_valid(token));
        }
        SUBCASE("token_type") {
            f.issuer.set_faults({.token_type = std::string("dpop")});
            const auto res = f.refresh(public_client, token);
            CHECK(json::parse(res.body).at("token_type") == "dpop");
        }
        SUBCASE("oauth_error") {
            f.issuer.set_faults({.oauth_error = std::string("temporarily_unavailable")});
            const auto res = f.refresh(public_client, token);
            CHECK(res.status == 400);
            CHECK(error_code_of(res) == "temporarily_unavailable");
            CHECK(f.issuer.refresh_token_valid(token));
            CHECK(f.issuer.recent_token_requests(1).at(0).error == "temporarily_unavailable");
            CHECK(f.issuer.faults().oauth_error == "temporarily_unavailable");
            f.issuer.set_faults({});
            CHECK(f.refresh(public_client, token).status == 200);
        }
    }

    TEST_CASE("the resource accepts valid DPoP and Bearer requests and refuses the rest") {
        issuer_fixture f;
        const auto key = oidc::dpop_key::generate();
        const auto other = oidc::dpop_key::generate();
        const auto bound_res = f.client_credentials(f.proof(key));
        REQUIRE(bound_res.status == 200);
        const std::string at = oidc::parse_token_response(bound_res, std::nullopt).tokens.access_token;
        const auto url = f.issuer.resource_url("/a");
        const auto proof = [&](const oidc::dpop_key& k, const std::string& for_url,
                               std::optional<std::string> nonce = {},
                               std::optional<std::string> access_token = std::nullopt) {
            return oidc::make_dpop_proof(
                k, "GET", for_url, std::chrono::system_clock::now(), view(nonce),
                view(access_token.has_value() ? access_token : std::optional<std::string>(at)));
        };
        const auto dpop_get = [&](const std::string& for_url, const std::string& p) {
            return f.get(for_url, {{"Authorization", "DPoP " + at}, {"DPoP", p}});
        };
        const auto error_param = [](const http::response& res) {
            const auto challenges = oidc::challenges_of(res);
            return challenges.empty() ? std::string("(no challenge)")
                                      : std::string(challenges.front().param("error").value_or("(no error)"));
        };

        SUBCASE("valid") {
            const auto res = dpop_get(url, proof(key, url));
            CHECK(res.status == 200);
            CHECK(res.body == "hello " + alice);
            const auto with_query = f.issuer.resource_url("/a?x=1");
            CHECK(dpop_get(with_query, proof(key, with_query)).status == 200);
            CHECK(f.issuer.stats().resource_authorized == 2);
            CHECK(f.issuer.stats().resource_requests == 2);
        }
        SUBCASE("missing ath") {
            const auto res = dpop_get(url, oidc::make_dpop_proof(key, "GET", url, std::chrono::system_clock::now()));
            CHECK(res.status == 401);
            CHECK(error_param(res) == "invalid_dpop_proof");
            CHECK(f.issuer.stats().dpop_rejections == 1);
            CHECK(f.issuer.stats().resource_authorized == 0);
        }
        SUBCASE("refusals") {
            CHECK(error_param(dpop_get(url, proof(other, url))) == "invalid_dpop_proof");
            CHECK(error_param(dpop_get(url, proof(key, f.issuer.resource_url("/b")))) == "invalid_dpop_proof");
            CHECK(error_param(dpop_get(url, proof(key, url, std::nullopt, at + "x"))) == "invalid_dpop_proof");
            const auto p = proof(key, url);
            CHECK(dpop_get(url, p).status == 200);
            CHECK(error_param(dpop_get(url, p)) == "invalid_dpop_proof"); // replayed

            const auto no_auth = f.get(url);
            CHECK(no_auth.status == 401);
            const auto challenges = oidc::challenges_of(no_auth);
            REQUIRE_FALSE(challenges.empty());
            CHECK(challenges.front().scheme == "DPoP");

            const auto as_bearer = f.get(url, {{"Authorization", "Bearer " + at}});
            CHECK(as_bearer.status == 401);
            CHECK(error_param(as_bearer) == "invalid_token");

            auto forged = at;
            forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
            CHECK(error_param(f.get(url, {{"Authorization", "DPoP " + forged},
                                          {"DPoP", proof(key, url, std::nullopt, forged)}})) == "invalid_token");
            CHECK(f.issuer.stats().resource_authorized == 1);
        }
        SUBCASE("an unbound token as a Bearer token") {
            const std::string bearer = oidc::parse_token_response(f.client_credentials(), std::nullopt).tokens.access_token;
            const auto res = f.get(url, {{"Authorization", "Bearer " + bearer}});
            CHECK(res.status == 200);
            CHECK(res.body == "hello " + alice);
            CHECK(error_param(f.get(url, {{"Authorization", "DPoP " + bearer},
                                          {"DPoP", proof(key, url, {}, bearer)}})) == "invalid_token");
        }
        SUBCASE("nonce") {
            f.issuer.set_faults({.require_dpop_nonce = true});
            const auto challenged = dpop_get(url, proof(key, url));
            CHECK(challenged.status == 401);
            CHECK(error_param(challenged) == "use_dpop_nonce");
            CHECK(oidc::needs_dpop_nonce(challenged));
            const auto nonce = oidc::dpop_nonce_of(challenged);
            REQUIRE(nonce.has_value());
            const auto ok = dpop_get(url, proof(key, url, *nonce));
            CHECK(ok.status == 200);
            CHECK(oidc::dpop_nonce_of(ok) == nonce);
            CHECK(f.issuer.stats().nonce_challenges == 1);
        }
        SUBCASE("after a signing key rotation old access tokens fail") {
            f.issuer.rotate_signing_key();
            CHECK(error_param(dpop_get(url, proof(key, url))) == "invalid_token");
        }
    }

    TEST_CASE("HTTPS with a test CA identity") {
        test::temp_dir dir;
        test::test_ca ca;
        test::test_issuer_options options;
        options.tls = ca.issue_localhost();
        options.host = "localhost";
        options.signing_algorithm = "PS256";
        http::client_options client_options;
        client_options.ca_file = ca.write_cert(dir.path()).string();
        issuer_fixture f(std::move(options), client_options);
        f.discovery.allow_insecure_loopback = false;

        CHECK(f.issuer.issuer().starts_with("https://localhost:"));
        CHECK(f.issuer.server().tls());
        CHECK(f.discover().token_endpoint == f.issuer.issuer() + "/token");
        const auto key = oidc::dpop_key::generate();
        const auto res = f.client_credentials(f.proof(key));
        REQUIRE(res.status == 200);
        const auto tokens = oidc::parse_token_response(res, std::nullopt).tokens;
        CHECK(oidc::webid_from_claims(f.verify_id_token(*tokens.id_token, confidential.client_id)) == alice);
        const auto url = f.issuer.resource_url("/secure");
        const auto ok = f.get(url, {{"Authorization", "DPoP " + tokens.access_token.str()},
                                    {"DPoP", oidc::make_dpop_proof(key, "GET", url, std::chrono::system_clock::now(),
                                                                   std::nullopt, tokens.access_token)}});
        CHECK(ok.status == 200);

        // A client that does not trust the CA gets nowhere.
        client_thread stranger(http::client_options{});
        CHECK(stranger.send(oidc::discovery_request(f.issuer.issuer())).ec == http_errc::tls_failed);
    }

} // TEST_SUITE
