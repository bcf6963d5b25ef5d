// The sans-I/O wire formats of src/oidc: form encoding, discovery, client authentication, token
// requests and responses, WWW-Authenticate, URLs.
#include "oidc/wire_challenge.hpp"
#include "oidc/wire_discovery.hpp"
#include "oidc/wire_form.hpp"
#include "oidc/wire_http.hpp"
#include "oidc/wire_json.hpp"
#include "oidc/wire_token.hpp"
#include "oidc/wire_url.hpp"

#include <multisession/error.hpp>

#include "../support/expect_error.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <string>

using namespace multisession;
using namespace multisession::oidc;

namespace {

using multisession::test::error_of;

http::response json_response(int status, std::string body, std::vector<http::header> headers = {}) {
    headers.push_back({"Content-Type", "application/json"});
    return http::response{status, std::move(headers), std::move(body)};
}

const std::string issuer = "https://op.example.com";

// The shape of oidc-provider's document (trimmed lists, same member set).
const std::string oidc_provider_document = R"({
  "acr_values_supported": ["urn:mace:incommon:iap:silver"],
  "authorization_endpoint": "https://op.example.com/auth",
  "device_authorization_endpoint": "https://op.example.com/device/auth",
  "claims_parameter_supported": false,
  "claims_supported": ["sub", "webid", "email", "sid", "auth_time", "iss"],
  "code_challenge_methods_supported": ["S256"],
  "end_session_endpoint": "https://op.example.com/session/end",
  "grant_types_supported": ["implicit", "authorization_code", "refresh_token", "client_credentials"],
  "id_token_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
  "issuer": "https://op.example.com",
  "jwks_uri": "https://op.example.com/jwks",
  "registration_endpoint": "https://op.example.com/reg",
  "response_modes_supported": ["form_post", "fragment", "query"],
  "response_types_supported": ["code id_token", "code", "id_token", "none"],
  "scopes_supported": ["openid", "offline_access", "webid"],
  "subject_types_supported": ["public"],
  "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_jwt", "client_secret_post", "private_key_jwt", "none"],
  "token_endpoint_auth_signing_alg_values_supported": ["HS256", "RS256", "PS256", "ES256", "EdDSA"],
  "token_endpoint": "https://op.example.com/token",
  "request_object_signing_alg_values_supported": ["HS256", "RS256", "ES256"],
  "request_parameter_supported": false,
  "request_uri_parameter_supported": true,
  "require_request_uri_registration": true,
  "userinfo_endpoint": "https://op.example.com/me",
  "introspection_endpoint": "https://op.example.com/token/introspection",
  "revocation_endpoint": "https://op.example.com/token/revocation",
  "claim_types_supported": ["normal"],
  "dpop_signing_alg_values_supported": ["ES256", "RS256", "PS256"],
  "authorization_response_iss_parameter_supported": true
})";

provider_metadata minimal_metadata(std::vector<std::string> auth_methods = {"client_secret_basic"}) {
    provider_metadata md;
    md.issuer = issuer;
    md.token_endpoint = "https://op.example.com/token";
    md.token_endpoint_auth_methods_supported = std::move(auth_methods);
    return md;
}

bool has_header(const http::request& r, std::string_view name) {
    for (const auto& h : r.headers)
        if (http::header_name_equals(h.name, name)) return true;
    return false;
}

const std::string proof = "eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJodG0iOiJQT1NUIn0.c2ln";

} // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("form_urlencode: unreserved kept, space as '+', the rest %XX upper-case") {
    CHECK(form_urlencode("") == "");
    CHECK(form_urlencode("AZaz09-._~") == "AZaz09-._~");
    CHECK(form_urlencode("a b") == "a+b");
    CHECK(form_urlencode("a+b") == "a%2Bb");
    CHECK(form_urlencode("100%") == "100%25");
    CHECK(form_urlencode("a:b") == "a%3Ab");
    CHECK(form_urlencode("/?#&=") == "%2F%3F%23%26%3D");
    CHECK(form_urlencode("\xc3\xa9") == "%C3%A9"); // é
    CHECK(form_urlencode(std::string_view("\0\xff", 2)) == "%00%FF");
    CHECK(form_urlencode("openid offline_access webid") == "openid+offline_access+webid");
}

TEST_CASE("form_body joins encoded pairs in order") {
    CHECK(form_body({{"a b", "c&d"}, {"e", ""}}) == "a+b=c%26d&e=");
    CHECK(form_body({}) == "");
}

TEST_CASE("base64_encode: RFC 4648 test vectors") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode("\xfb\xff") == "+/8=");
}

TEST_CASE("client_secret_basic_credential form-encodes id and secret before base64") {
    // RFC 6749 2.3.1 example: "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW" for s6BhdRkqt3 / gX1fBat3bV.
    CHECK(client_secret_basic_credential("s6BhdRkqt3", "gX1fBat3bV") == "Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW");
    // id "a:b%" -> "a%3Ab%25"; secret "s e:\xc3\xa9" -> "s+e%3A%C3%A9"
    CHECK(client_secret_basic_credential("a:b%", "s e:\xc3\xa9") ==
          "Basic " + base64_encode("a%3Ab%25:s+e%3A%C3%A9"));
    CHECK(base64_encode("a%3Ab%25:s+e%3A%C3%A9") == "YSUzQWIlMjU6cytlJTNBJUMzJUE5");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("response::header_value is case-insensitive and returns the first match") {
    http::response r{200, {{"X-A", "1"}, {"dpop-nonce", "n1"}, {"DPoP-Nonce", "n2"}}, ""};
    CHECK(r.header_value("DPOP-NONCE") == "n1");
    CHECK(r.header_value("x-a") == "1");
    CHECK_FALSE(r.header_value("x-b"));
    CHECK_FALSE(r.header_value("x-a "));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("discovery_request") {
    for (const auto& configured : {std::string("https://op.example.com"), std::string("https://op.example.com/")}) {
        const auto r = discovery_request(configured);
        CHECK(r.method == "GET");
        CHECK(r.url == "https://op.example.com/.well-known/openid-configuration");
        REQUIRE(r.headers.size() == 1);
        CHECK(r.headers[0].name == "Accept");
        CHECK(r.headers[0].value == "application/json");
        CHECK(r.body.empty());
    }
    CHECK(discovery_request("https://op.example.com/tenant/").url ==
          "https://op.example.com/tenant/.well-known/openid-configuration");
    error_of([] { (void)discovery_request("http://op.example.com"); }, http_errc::insecure_url_refused);
    error_of([] { (void)discovery_request("http://localhost:3000/"); }, http_errc::insecure_url_refused);
    CHECK(discovery_request("http://localhost:3000/", {.allow_insecure_loopback = true}).url ==
          "http://localhost:3000/.well-known/openid-configuration");
    error_of([] { (void)discovery_request("https://op.example.com/?x=1"); }, http_errc::invalid_url);
    error_of([] { (void)discovery_request("https://op.example.com/#f"); }, http_errc::invalid_url);
    error_of([] { (void)discovery_request("op.example.com"); }, http_errc::invalid_url);
}

TEST_CASE("parse_discovery: an oidc-provider document") {
    const auto md = parse_discovery(issuer, json_response(200, oidc_provider_document));
    CHECK(md.issuer == "https://op.example.com");
    CHECK(md.token_endpoint == "https://op.example.com/token");
    CHECK(md.authorization_endpoint == "https://op.example.com/auth");
    CHECK(md.jwks_uri == "https://op.example.com/jwks");
    CHECK(md.registration_endpoint == "https://op.example.com/reg");
    CHECK(md.revocation_endpoint == "https://op.example.com/token/revocation");
    CHECK(md.end_session_endpoint == "https://op.example.com/session/end");
    CHECK(md.userinfo_endpoint == "https://op.example.com/me");
    CHECK(md.token_endpoint_auth_methods_supported.size() == 5);
    CHECK(md.dpop_signing_alg_values_supported == std::vector<std::string>{"ES256", "RS256", "PS256"});
    CHECK(md.id_token_signing_alg_values_supported.size() == 4);
    CHECK(md.grant_types_supported.size() == 4);
    CHECK(md.scopes_supported == std::vector<std::string>{"openid", "offline_access", "webid"});
    CHECK(md.response_types_supported.size() == 4);
    CHECK(md.code_challenge_methods_supported == std::vector<std::string>{"S256"});
    CHECK(md.claims_supported.size() == 6);
}

TEST_CASE("parse_discovery: absent optional fields take the specified defaults") {
    const auto md = parse_discovery(
        issuer, json_response(200, R"({"issuer":"https://op.example.com","token_endpoint":"https://op.example.com/t",
                                       "jwks_uri":null,"x-unknown":{"deep":[1,2,3]}})"));
    CHECK(md.token_endpoint == "https://op.example.com/t");
    CHECK_FALSE(md.authorization_endpoint);
    CHECK_FALSE(md.jwks_uri);
    CHECK_FALSE(md.registration_endpoint);
    CHECK_FALSE(md.revocation_endpoint);
    CHECK_FALSE(md.end_session_endpoint);
    CHECK_FALSE(md.userinfo_endpoint);
    CHECK(md.token_endpoint_auth_methods_supported == std::vector<std::string>{"client_secret_basic"});
    CHECK(md.grant_types_supported == std::vector<std::string>{"authorization_code", "implicit"});
    CHECK(md.dpop_signing_alg_values_supported.empty());
    CHECK(md.id_token_signing_alg_values_supported.empty());
    CHECK(md.scopes_supported.empty());
    CHECK(md.response_types_supported.empty());
    CHECK(md.code_challenge_methods_supported.empty());
    CHECK(md.claims_supported.empty());
}

TEST_CASE("parse_discovery: issuer comparison") {
    const auto doc = [](const std::string& iss) {
        return json_response(200, R"({"issuer":")" + iss + R"(","token_endpoint":"https://op.example.com/t"})");
    };
    CHECK(parse_discovery("https://op.example.com/", doc("https://op.example.com/")).issuer == "https://op.example.com/");
    // One trailing slash either way names the same provider; the document's spelling is kept.
    CHECK(parse_discovery("https://op.example.com", doc("https://op.example.com/")).issuer == "https://op.example.com/");
    CHECK(parse_discovery("https://op.example.com/", doc("https://op.example.com")).issuer == "https://op.example.com");
    error_of([&] { (void)parse_discovery(issuer, doc("https://evil.example.com")); }, oidc_errc::issuer_mismatch);
    error_of([&] { (void)parse_discovery(issuer, doc("https://op.example.com//")); }, oidc_errc::issuer_mismatch);
    error_of([&] { (void)parse_discovery(issuer, doc("https://OP.example.com")); }, oidc_errc::issuer_mismatch);
    error_of([&] { (void)parse_discovery(issuer, doc("https://op.example.com/tenant")); }, oidc_errc::issuer_mismatch);
    error_of([&] { (void)parse_discovery(issuer, doc("")); }, oidc_errc::issuer_mismatch);
}

TEST_CASE("parse_discovery: endpoint security") {
    const auto doc = [](const std::string& iss, const std::string& token) {
        return json_response(200, R"({"issuer":")" + iss + R"(","token_endpoint":")" + token + R"("})");
    };
    error_of([&] { (void)parse_discovery(issuer, doc(issuer, "http://op.example.com/token")); },
             http_errc::insecure_url_refused);
    error_of(
        [&] {
            (void)parse_discovery(issuer, json_response(200, R"({"issuer":"https://op.example.com",
              "token_endpoint":"https://op.example.com/t","jwks_uri":"http://op.example.com/jwks"})"));
        },
        http_errc::insecure_url_refused);
    // Loopback over http needs the flag, and then only for loopback hosts.
    const std::string local = "http://localhost:3000/";
    error_of([&] { (void)parse_discovery(local, doc(local, "http://localhost:3000/token")); },
             http_errc::insecure_url_refused);
    const discovery_options loopback{.allow_insecure_loopback = true};
    CHECK(parse_discovery(local, doc(local, "http://localhost:3000/token"), loopback).token_endpoint ==
          "http://localhost:3000/token");
    CHECK(parse_discovery(local, doc(local, "http://127.0.0.1:3000/token"), loopback).token_endpoint ==
          "http://127.0.0.1:3000/token");
    CHECK(parse_discovery(local, doc(local, "http://[::1]:3000/token"), loopback).token_endpoint ==
          "http://[::1]:3000/token");
    error_of([&] { (void)parse_discovery(local, doc(local, "http://10.0.0.1:3000/token"), loopback); },
             http_errc::insecure_url_refused);
    error_of([&] { (void)parse_discovery(local, doc(local, "http://localhost.evil.com/token"), loopback); },
             http_errc::insecure_url_refused);
    // Not a URL at all, or one with userinfo / a fragment: a malformed document.
    error_of([&] { (void)parse_discovery(issuer, doc(issuer, "/token")); }, oidc_errc::malformed_response);
    error_of([&] { (void)parse_discovery(issuer, doc(issuer, "https://u:p@op.example.com/t")); },
             oidc_errc::malformed_response);
    error_of([&] { (void)parse_discovery(issuer, doc(issuer, "https://op.example.com/t#x")); },
             oidc_errc::malformed_response);
    error_of([&] { (void)parse_discovery(issuer, doc(issuer, "ftp://op.example.com/t")); },
             oidc_errc::malformed_response);
}

TEST_CASE("parse_discovery: wrong types, non-JSON and bad statuses") {
    const auto bad = [](const std::string& body) {
        error_of([&] { (void)parse_discovery(issuer, json_response(200, body)); }, oidc_errc::malformed_response);
    };
    bad(R"({"token_endpoint":"https://op.example.com/t"})");                      // no issuer
    bad(R"({"issuer":"https://op.example.com"})");                                // no token endpoint
    bad(R"({"issuer":42,"token_endpoint":"https://op.example.com/t"})");
    bad(R"({"issuer":"https://op.example.com","token_endpoint":["https://op.example.com/t"]})");
    bad(R"({"issuer":"https://op.example.com","token_endpoint":"https://op.example.com/t","jwks_uri":7})");
    bad(R"({"issuer":"https://op.example.com","token_endpoint":"https://op.example.com/t",
            "scopes_supported":"openid"})");
    bad(R"({"issuer":"https://op.example.com","token_endpoint":"https://op.example.com/t",
            "dpop_signing_alg_values_supported":["ES256", 1]})");
    bad(R"({"issuer":"https://op.example.com","token_endpoint":"https://op.example.com/t",
            "claims_supported":{"sub":true}})");
    bad("<html>not json</html>");
    bad("");
    bad("[]");
    bad(R"("just a string")");
    bad(R"({"issuer":"https://op.example.com")");                     // truncated
    bad("{\"issuer\":\"https://op.example.com\xff\",\"token_endpoint\":\"https://op.example.com/t\"}"); // not UTF-8
    bad(std::string(100000, '[') + std::string(100000, ']'));        // deep nesting
    bad(R"({"a":)" + std::string(40, '[') + std::string(40, ']') + "}");

    const auto& doc = oidc_provider_document;
    error_of([&] { (void)parse_discovery(issuer, json_response(500, doc)); }, oidc_errc::server_error);
    error_of([&] { (void)parse_discovery(issuer, json_response(503, "<html>down</html>")); }, oidc_errc::server_error);
    error_of([&] { (void)parse_discovery(issuer, json_response(404, "not found")); }, oidc_errc::unexpected_status);
    error_of([&] { (void)parse_discovery(issuer, json_response(302, doc)); }, oidc_errc::unexpected_status);
    error_of([&] { (void)parse_discovery(issuer, json_response(0, doc)); }, oidc_errc::unexpected_status);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("choose_client_auth matrix") {
    const client_info public_client{"https://app.example/id", std::nullopt, client_type::solid_oidc};
    const client_info no_secret{"abc", std::nullopt, client_type::static_client};
    const client_info with_secret{"abc", std::string("s3cr3t"), client_type::dynamic};
    const client_info solid_with_secret{"https://app.example/id", std::string("s"), client_type::solid_oidc};

    const auto all = minimal_metadata({"client_secret_basic", "client_secret_post", "none"});
    const auto post_only = minimal_metadata({"client_secret_post", "none"});
    const auto basic_only = minimal_metadata({"client_secret_basic"});
    const auto none_only = minimal_metadata({"none", "private_key_jwt"});
    const auto nothing = minimal_metadata({});

    for (const auto* md : {&all, &post_only, &basic_only, &none_only, &nothing}) {
        CHECK(choose_client_auth(*md, public_client) == client_auth_method::none);
        CHECK(choose_client_auth(*md, no_secret) == client_auth_method::none);
        CHECK(choose_client_auth(*md, solid_with_secret) == client_auth_method::none);
    }
    CHECK(choose_client_auth(all, with_secret) == client_auth_method::client_secret_basic);
    CHECK(choose_client_auth(basic_only, with_secret) == client_auth_method::client_secret_basic);
    CHECK(choose_client_auth(nothing, with_secret) == client_auth_method::client_secret_basic);
    CHECK(choose_client_auth(post_only, with_secret) == client_auth_method::client_secret_post);
    const auto what = error_of([&] { (void)choose_client_auth(none_only, with_secret); }, oidc_errc::invalid_client);
    CHECK(what.find("none, private_key_jwt") != std::string::npos);
    CHECK(what.find("s3cr3t") == std::string::npos);

    CHECK(to_string(client_auth_method::none) == "none");
    CHECK(to_string(client_auth_method::client_secret_basic) == "client_secret_basic");
    CHECK(to_string(client_auth_method::client_secret_post) == "client_secret_post");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("refresh_token_request") {
    const auto md = minimal_metadata();
    const client_info pub{"https://app.example/id", std::nullopt, client_type::solid_oidc};
    const client_info conf{"my client", std::string("s:e cret"), client_type::static_client};

    SUBCASE("auth none, DPoP proof") {
        const auto r = refresh_token_request(md, pub, client_auth_method::none, "rt+/=1", std::nullopt, proof);
        CHECK(r.method == "POST");
        CHECK(r.url == "https://op.example.com/token");
        REQUIRE(r.headers.size() == 3);
        CHECK(r.headers[0].name == "Content-Type");
        CHECK(r.headers[0].value == "application/x-www-form-urlencoded");
        CHECK(r.headers[1].name == "Accept");
        CHECK(r.headers[1].value == "application/json");
        CHECK(r.headers[2].name == "DPoP");
        CHECK(r.headers[2].value == proof);
        CHECK(r.body == "grant_type=refresh_token&refresh_token=rt%2B%2F%3D1&client_id=https%3A%2F%2Fapp.example%2Fid");
    }
    SUBCASE("client_secret_basic, scope, no proof") {
        const auto r = refresh_token_request(md, conf, client_auth_method::client_secret_basic, "rt", "openid webid");
        REQUIRE(r.headers.size() == 3);
        CHECK(r.headers[2].name == "Authorization");
        CHECK(r.headers[2].value == "Basic " + base64_encode("my+client:s%3Ae+cret"));
        CHECK_FALSE(has_header(r, "DPoP"));
        CHECK(r.body == "grant_type=refresh_token&refresh_token=rt&scope=openid+webid");
    }
    SUBCASE("client_secret_post") {
        const auto r = refresh_token_request(md, conf, client_auth_method::client_secret_post, "rt", std::nullopt, proof);
        REQUIRE(r.headers.size() == 3);
        CHECK(r.headers[2].name == "DPoP");
        CHECK_FALSE(has_header(r, "Authorization"));
        CHECK(r.body == "grant_type=refresh_token&refresh_token=rt&client_id=my+client&client_secret=s%3Ae+cret");
    }
    SUBCASE("a secret-based method for a client without a secret") {
        error_of([&] { (void)refresh_token_request(md, pub, client_auth_method::client_secret_basic, "rt"); },
                 oidc_errc::invalid_client);
    }
    SUBCASE("a proof that would inject a header") {
        error_of([&] {
            (void)refresh_token_request(md, pub, client_auth_method::none, "rt", std::nullopt, "a.b.c\r\nX-Evil: 1");
        }, oidc_errc::invalid_request);
        error_of([&] { (void)refresh_token_request(md, pub, client_auth_method::none, "rt", std::nullopt, "abc"); },
                 oidc_errc::invalid_request);
    }
}

TEST_CASE("client_credentials_request") {
    const auto md = minimal_metadata();
    const client_info conf{"id", std::string("secret"), client_type::static_client};
    const auto r = client_credentials_request(md, conf, client_auth_method::client_secret_basic);
    CHECK(r.method == "POST");
    CHECK(r.url == "https://op.example.com/token");
    REQUIRE(r.headers.size() == 3);
    CHECK(r.headers[0].value == "application/x-www-form-urlencoded");
    CHECK(r.headers[1].value == "application/json");
    CHECK(r.headers[2].name == "Authorization");
    CHECK(r.headers[2].value == "Basic aWQ6c2VjcmV0");
    CHECK(r.body == "grant_type=client_credentials&scope=openid+offline_access+webid");

    const auto p = client_credentials_request(md, conf, client_auth_method::client_secret_post, "webid", proof);
    REQUIRE(p.headers.size() == 3);
    CHECK(p.headers[2].name == "DPoP");
    CHECK(p.body == "grant_type=client_credentials&scope=webid&client_id=id&client_secret=secret");
}

TEST_CASE("authorization_code_request") {
    const auto md = minimal_metadata();
    const client_info pub{"https://app.example/id", std::nullopt, client_type::solid_oidc};
    const auto r = authorization_code_request(md, pub, client_auth_method::none, "c0de", "https://app.example/cb?x=1",
                                              "verifier-._~", proof);
    CHECK(r.method == "POST");
    CHECK(r.url == "https://op.example.com/token");
    REQUIRE(r.headers.size() == 3);
    CHECK(r.headers[0].name == "Content-Type");
    CHECK(r.headers[1].name == "Accept");
    CHECK(r.headers[2].name == "DPoP");
    CHECK(r.body == "grant_type=authorization_code&code=c0de&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1"
                    "&code_verifier=verifier-._~&client_id=https%3A%2F%2Fapp.example%2Fid");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("parse_token_response: full success") {
    const auto r = json_response(200, R"({"access_token":"at","token_type":"DPoP","expires_in":300,
        "refresh_token":"rt2","id_token":"h.p.s","scope":"openid webid offline_access"})",
                                 {{"DPoP-Nonce", "eyJ7S_zG.eyJH0-Z.HX4w-7v"}});
    const auto out = parse_token_response(r, std::string_view("rt1"));
    CHECK(out.tokens.access_token == "at");
    CHECK(out.tokens.token_type == "DPoP");
    CHECK(out.tokens.expires_in == std::chrono::seconds(300));
    CHECK(out.tokens.refresh_token == "rt2");
    CHECK(out.tokens.refresh_token_rotated);
    CHECK(out.tokens.id_token == "h.p.s");
    CHECK(out.tokens.scope == "openid webid offline_access");
    CHECK(out.dpop_nonce == "eyJ7S_zG.eyJH0-Z.HX4w-7v");
}

TEST_CASE("parse_token_response: refresh token kept, echoed, or absent") {
    const auto omitted = json_response(200, R"({"access_token":"at","token_type":"Bearer"})");
    auto out = parse_token_response(omitted, std::string_view("old"));
    CHECK(out.tokens.refresh_token == "old");
    CHECK_FALSE(out.tokens.refresh_token_rotated);
    CHECK_FALSE(out.tokens.expires_in);
    CHECK_FALSE(out.tokens.id_token);
    CHECK_FALSE(out.tokens.scope);
    CHECK_FALSE(out.dpop_nonce);

    out = parse_token_response(omitted, std::nullopt);
    CHECK_FALSE(out.tokens.refresh_token);
    CHECK_FALSE(out.tokens.refresh_token_rotated);

    const auto same = json_response(200, R"({"access_token":"at","token_type":"Bearer","refresh_token":"old"})");
    out = parse_token_response(same, std::string_view("old"));
    CHECK(out.tokens.refresh_token == "old");
    CHECK_FALSE(out.tokens.refresh_token_rotated);

    out = parse_token_response(same, std::nullopt); // first login: a new token
    CHECK(out.tokens.refresh_token_rotated);

    const auto null_rt = json_response(200, R"({"access_token":"at","token_type":"Bearer","refresh_token":null})");
    CHECK(parse_token_response(null_rt, std::string_view("old")).tokens.refresh_token == "old");
}

TEST_CASE("parse_token_response: token_type and expires_in") {
    const auto with = [](const std::string& members) {
        return json_response(200, R"({"access_token":"at",)" + members + "}");
    };
    CHECK(parse_token_response(with(R"("token_type":"dpop")"), std::nullopt).tokens.token_type == "DPoP");
    CHECK(parse_token_response(with(R"("token_type":"BEARER")"), std::nullopt).tokens.token_type == "Bearer");
    error_of([&] { (void)parse_token_response(with(R"("token_type":"mac")"), std::nullopt); },
             oidc_errc::malformed_response);
    error_of([&] { (void)parse_token_response(with(R"("token_type":1)"), std::nullopt); },
             oidc_errc::malformed_response);
    error_of([&] { (void)parse_token_response(with(R"("expires_in":1)"), std::nullopt); },
             oidc_errc::malformed_response); // no token_type

    const auto expiry = [&](const std::string& value) {
        return parse_token_response(with(R"("token_type":"Bearer","expires_in":)" + value), std::nullopt)
            .tokens.expires_in;
    };
    CHECK(expiry("3600") == std::chrono::seconds(3600));
    CHECK(expiry(R"("3600")") == std::chrono::seconds(3600));
    CHECK(expiry("0") == std::chrono::seconds(0));
    CHECK(expiry("60.0") == std::chrono::seconds(60));
    CHECK_FALSE(expiry("null"));
    for (const auto* bad : {"-1", R"("-1")", "1e300", "99999999999999999999999", "18446744073709551615",
                            R"("")", R"("12a")", R"("9999999999999")", "true", "[1]", "-0.5", "315360001"}) {
        const std::string shown = bad;
        CAPTURE(shown);
        error_of([&] { (void)expiry(bad); }, oidc_errc::malformed_response);
    }
}

TEST_CASE("parse_token_response: malformed 2xx bodies") {
    for (const auto* body : {"", "not json", "<html></html>", "[]", R"({"token_type":"Bearer"})",
                             R"({"access_token":"","token_type":"Bearer"})",
                             R"({"access_token":5,"token_type":"Bearer"})",
                             R"({"access_token":"at","token_type":"Bearer","refresh_token":7})",
                             R"({"access_token":"at","token_type":"Bearer","refresh_token":""})",
                             R"({"access_token":"at","token_type":"Bearer","id_token":{}})",
                             R"({"access_token":"at","token_type":"Bearer","scope":["openid"]})"}) {
        const std::string shown = body;
        CAPTURE(shown);
        error_of([&] { (void)parse_token_response(json_response(200, body), std::nullopt); },
                 oidc_errc::malformed_response);
    }
}

TEST_CASE("parse_token_response: every OAuth error code") {
    const std::pair<const char*, oidc_errc> table[] = {
        {"invalid_grant", oidc_errc::invalid_grant},
        {"invalid_client", oidc_errc::invalid_client},
        {"unauthorized_client", oidc_errc::unauthorized_client},
        {"invalid_request", oidc_errc::invalid_request},
        {"invalid_scope", oidc_errc::invalid_scope},
        {"unsupported_grant_type", oidc_errc::unsupported_grant_type},
        {"invalid_dpop_proof", oidc_errc::invalid_dpop_proof},
        {"use_dpop_nonce", oidc_errc::use_dpop_nonce},
        {"server_error", oidc_errc::server_error},
        {"temporarily_unavailable", oidc_errc::server_error},
        {"access_denied", oidc_errc::oauth_error},
        {"INVALID_GRANT", oidc_errc::oauth_error},
    };
    for (const auto& [code, errc] : table) {
        const std::string shown = code;
        CAPTURE(shown);
        const auto what = error_of(
            [&] {
                (void)parse_token_response(json_response(400, std::string(R"({"error":")") + code + "\"}"),
                                           std::string_view("rt"));
            },
            errc);
        CHECK(what.find(code) != std::string::npos);
        CHECK(what.find("400") != std::string::npos);
        CHECK(oauth_error_code(code) == errc);
    }
    // A 2xx error body (some providers) is still an error.
    error_of([] { (void)parse_token_response(json_response(200, R"({"error":"invalid_grant"})"), std::nullopt); },
             oidc_errc::invalid_grant);
    // The status does not matter once there is an OAuth body; 5xx with one maps by code.
    error_of([] { (void)parse_token_response(json_response(503, R"({"error":"invalid_client"})"), std::nullopt); },
             oidc_errc::invalid_client);
}

TEST_CASE("parse_token_response: hostile error bodies stay out of messages") {
    const std::string token = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXJlZnJlc2g.SIG";
    const auto body = R"({"error":"invalid_grant","error_description":"refresh token )" + token +
                      R"( was reused","error_uri":"https://op.example.com/)" + token + R"("})";
    const auto what = error_of([&] { (void)parse_token_response(json_response(400, body), std::string_view("x")); },
                               oidc_errc::invalid_grant);
    CHECK(what.find(token) == std::string::npos);
    CHECK(what.find("reused") == std::string::npos);
    CHECK(what.find("invalid_grant") != std::string::npos);

    const auto details = parse_oauth_error(json_response(400, body));
    REQUIRE(details);
    CHECK(details->error == "invalid_grant");
    CHECK(details->description.find(token) != std::string::npos);
    CHECK(details->uri == "https://op.example.com/" + token);

    // An error code with forbidden characters is not echoed, and does not map to a known code.
    auto w = error_of(
        [] { (void)parse_token_response(json_response(400, R"({"error":"invalid_grant\"\n secret"})"), std::nullopt); },
        oidc_errc::oauth_error);
    CHECK(w.find("secret") == std::string::npos);
    // A long one is cut at 64 characters.
    const std::string long_code(100, 'x');
    w = error_of([&] { (void)parse_token_response(json_response(400, R"({"error":")" + long_code + "\"}"), std::nullopt); },
                 oidc_errc::oauth_error);
    CHECK(w.find(std::string(64, 'x')) != std::string::npos);
    CHECK(w.find(std::string(65, 'x')) == std::string::npos);
    // The body of an unclassified answer is never echoed.
    w = error_of([&] { (void)parse_token_response(json_response(400, "token=" + token), std::nullopt); },
                 oidc_errc::unexpected_status);
    CHECK(w.find(token) == std::string::npos);
    w = error_of([&] { (void)parse_token_response(json_response(200, "{\"access_token\":\"" + token + "\"}"), std::nullopt); },
                 oidc_errc::malformed_response);
    CHECK(w.find(token) == std::string::npos);
}

TEST_CASE("parse_token_response: statuses without an OAuth body") {
    error_of([] { (void)parse_token_response(json_response(502, "<html><body>Bad gateway</body></html>"), std::nullopt); },
             oidc_errc::server_error);
    error_of([] { (void)parse_token_response(json_response(500, R"({"message":"oops"})"), std::nullopt); },
             oidc_errc::server_error);
    error_of([] { (void)parse_token_response(json_response(401, ""), std::nullopt); }, oidc_errc::unexpected_status);
    error_of([] { (void)parse_token_response(json_response(404, "<html/>"), std::nullopt); },
             oidc_errc::unexpected_status);
    error_of([] { (void)parse_token_response(json_response(400, R"({"error":42})"), std::nullopt); },
             oidc_errc::unexpected_status);
    error_of([] { (void)parse_token_response(json_response(302, ""), std::nullopt); }, oidc_errc::unexpected_status);
    CHECK_FALSE(parse_oauth_error(json_response(400, R"({"error":42})")));
    CHECK_FALSE(parse_oauth_error(json_response(400, "nope")));
}

TEST_CASE("dpop_nonce_of validates the header") {
    CHECK(dpop_nonce_of(http::response{400, {{"dpop-nonce", "abc!~"}}, ""}) == "abc!~");
    CHECK_FALSE(dpop_nonce_of(http::response{400, {{"DPoP-Nonce", "a b"}}, ""}));
    CHECK_FALSE(dpop_nonce_of(http::response{400, {{"DPoP-Nonce", "a\"b"}}, ""}));
    CHECK_FALSE(dpop_nonce_of(http::response{400, {{"DPoP-Nonce", ""}}, ""}));
    CHECK_FALSE(dpop_nonce_of(http::response{400, {}, ""}));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("parse_www_authenticate") {
    SUBCASE("DPoP with escaped quotes") {
        const auto c = parse_www_authenticate(
            R"(DPoP error="use_dpop_nonce", error_description="Resource server requires \"nonce\" in DPoP proof", algs="ES256 PS256")");
        REQUIRE(c.size() == 1);
        CHECK(c[0].scheme == "DPoP");
        REQUIRE(c[0].params.size() == 3);
        CHECK(c[0].param("error") == "use_dpop_nonce");
        CHECK(c[0].param("error_description") == R"(Resource server requires "nonce" in DPoP proof)");
        CHECK(c[0].param("algs") == "ES256 PS256");
        CHECK_FALSE(c[0].token68);
    }
    SUBCASE("multiple challenges, unquoted tokens, upper-case names") {
        const auto c = parse_www_authenticate(
            R"(Bearer realm="x", error=invalid_token, DPoP algs="ES256", Error="use_dpop_nonce" ,Basic realm="a,b=c")");
        REQUIRE(c.size() == 3);
        CHECK(c[0].scheme == "Bearer");
        CHECK(c[0].param("realm") == "x");
        CHECK(c[0].param("error") == "invalid_token");
        CHECK(c[1].scheme == "DPoP");
        CHECK(c[1].param("algs") == "ES256");
        CHECK(c[1].param("error") == "use_dpop_nonce");
        CHECK(c[2].scheme == "Basic");
        CHECK(c[2].param("realm") == "a,b=c");
    }
    SUBCASE("bare schemes, token68, empty elements, empty quoted value") {
        // "error=" alone is a token68 by the grammar, not a parameter without a value.
        CHECK(parse_www_authenticate("DPoP error=").at(0).token68 == "error=");
        const auto c = parse_www_authenticate(R"(, Negotiate, Basic dG9rZW42OA==  ,, DPoP  realm="" )");
        REQUIRE(c.size() == 3);
        CHECK(c[0].scheme == "Negotiate");
        CHECK(c[0].params.empty());
        CHECK(c[1].scheme == "Basic");
        CHECK(c[1].token68 == "dG9rZW42OA==");
        CHECK(c[2].param("realm") == "");
        CHECK(parse_www_authenticate("").empty());
    }
    SUBCASE("garbage") {
        for (const auto* bad : {R"(DPoP error="unterminated)", R"(DPoP realm="x", error=)", R"(DPoP ="x")", R"(="x")",
                                "DPoP error=\"a\x01\"", R"(DPoP error="a" junk)", R"(DPoP error "a")",
                                R"(Bearer realm="x"error="y")", R"(DPoP error="x\)", "@@@", "DPoP a=b=c"}) {
            const std::string shown = bad;
        CAPTURE(shown);
            error_of([&] { (void)parse_www_authenticate(bad); }, oidc_errc::malformed_response);
        }
    }
}

TEST_CASE("needs_dpop_nonce") {
    const http::header nonce{"DPoP-Nonce", "n-1"};
    const http::header challenge{"WWW-Authenticate", R"(DPoP error="use_dpop_nonce", error_description="nonce")"};
    CHECK(needs_dpop_nonce(http::response{401, {challenge, nonce}, ""}));
    CHECK(needs_dpop_nonce(
        http::response{401, {{"www-authenticate", R"(Bearer realm="x")"}, {"WWW-Authenticate", R"(dpop error="use_dpop_nonce")"}, nonce}, ""}));
    CHECK_FALSE(needs_dpop_nonce(http::response{401, {challenge}, ""}));           // no nonce to use
    CHECK_FALSE(needs_dpop_nonce(http::response{403, {challenge, nonce}, ""}));
    CHECK_FALSE(needs_dpop_nonce(
        http::response{401, {{"WWW-Authenticate", R"(Bearer error="use_dpop_nonce")"}, nonce}, ""}));
    CHECK_FALSE(needs_dpop_nonce(http::response{401, {{"WWW-Authenticate", R"(DPoP error="invalid_token")"}, nonce}, ""}));
    CHECK_FALSE(needs_dpop_nonce(http::response{401, {{"WWW-Authenticate", R"(DPoP error="use_dpop_nonce)"}, nonce}, ""}));
    // Token endpoint form.
    CHECK(needs_dpop_nonce(json_response(400, R"({"error":"use_dpop_nonce","error_description":"x"})", {nonce})));
    CHECK_FALSE(needs_dpop_nonce(json_response(400, R"({"error":"use_dpop_nonce"})")));
    CHECK_FALSE(needs_dpop_nonce(json_response(400, R"({"error":"invalid_grant"})", {nonce})));
    CHECK_FALSE(needs_dpop_nonce(json_response(400, "garbage", {nonce})));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("parse_url, origin_of, htu_of") {
    auto u = parse_url("HTTPS://Op.Example.COM:8443/a/b?x=1&y=%2F#frag");
    CHECK(u.scheme == "https");
    CHECK(u.host == "op.example.com");
    CHECK(u.port == 8443);
    CHECK(u.path == "/a/b");
    CHECK(u.has_query);
    CHECK(u.query == "x=1&y=%2F");
    CHECK(u.target == "/a/b?x=1&y=%2F");

    u = parse_url("http://example.org");
    CHECK(u.port == 80);
    CHECK(u.path == "/");
    CHECK(u.target == "/");
    CHECK_FALSE(u.has_query);
    u = parse_url("https://[::1]/?");
    CHECK(u.host == "[::1]");
    CHECK(u.port == 443);
    CHECK(u.has_query);
    CHECK(u.target == "/?");

    CHECK(origin_of("https://pod.example/alice/profile/card#me") == "https://pod.example:443");
    CHECK(origin_of("http://LOCALHOST:3000/x") == "http://localhost:3000");
    CHECK(origin_of("https://[::1]:65535") == "https://[::1]:65535");

    CHECK(htu_of("https://pod.example/a/b?q=1#f") == "https://pod.example/a/b");
    CHECK(htu_of("https://pod.example/a#f?x") == "https://pod.example/a");
    CHECK(htu_of("https://pod.example") == "https://pod.example");

    for (const auto* bad : {"", "pod.example/x", "//pod.example/x", "ftp://pod.example/", "https://",
                            "https:///path", "https://user@pod.example/", "https://u:p@pod.example/",
                            "https://pod example/", "https://pod.example/a b", "https://pod.example/\x01",
                            "https://pod.example/\x7f", "https://p\xc3\xa9.example/", "https://pod.example/\\x",
                            "https://pod.example:/", "https://pod.example:abc/", "https://pod.example:0/",
                            "https://pod.example:65536/", "https://pod.example:99999999999999999999/",
                            "https://pod.example:-1/", "https://pod.example:+80/", "https://[::1/",
                            "https://[]/", "https://[::1]x/", "https://[fe80::1%25eth0]/",
                            "https://pod.example/%zz", "https://pod.example/%4", "https://pod.example/<script>",
                            "https://pod.example/?a=\"b\"", "https://pod.exa_mple:80:80/"}) {
        const std::string shown = bad;
        CAPTURE(shown);
        error_of([&] { (void)parse_url(bad); }, http_errc::invalid_url);
        error_of([&] { (void)htu_of(bad); }, http_errc::invalid_url);
        error_of([&] { (void)origin_of(bad); }, http_errc::invalid_url);
    }
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("[::1]"));
    CHECK_FALSE(is_loopback_host("127.0.0.2.evil"));
    CHECK_FALSE(is_loopback_host("::1"));
}

TEST_CASE("check_endpoint_url") {
    CHECK(check_endpoint_url("https://op.example/token?tenant=1", false).query == "tenant=1");
    error_of([] { (void)check_endpoint_url("https://op.example/token#x", false); }, http_errc::invalid_url);
    error_of([] { (void)check_endpoint_url("http://op.example/token", true); }, http_errc::insecure_url_refused);
    error_of([] { (void)check_endpoint_url("http://127.0.0.1/token", false); }, http_errc::insecure_url_refused);
    CHECK(check_endpoint_url("http://127.0.0.1/token", true).host == "127.0.0.1");
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("hostile input: mutated documents only ever throw multisession::error") {
    // Deterministic byte mutations of valid inputs; every parser must either succeed or throw
    // multisession::error (error_of-style checks would be too strict: some mutants stay valid).
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    const auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    const std::string seeds[] = {
        oidc_provider_document,
        R"({"access_token":"at","token_type":"DPoP","expires_in":"300","refresh_token":"rt","scope":""})",
        R"({"error":"invalid_grant","error_description":"x"})",
        R"(Bearer realm="x", error="invalid_token", DPoP algs="ES256", error="use_dpop_nonce", Basic abc==)",
        "https://[::1]:8443/a/b?x=%2F#f",
    };
    const char specials[] = "{}[]\",:\\=# %@?\x00\xff\x7f\n";
    int parsed = 0;
    for (int round = 0; round < 3000; ++round) {
        std::string text = seeds[static_cast<std::size_t>(round) % std::size(seeds)];
        const auto edits = 1 + next() % 4;
        for (std::uint64_t e = 0; e < edits && !text.empty(); ++e) {
            const auto at = next() % text.size();
            switch (next() % 3) {
            case 0: text[at] = specials[next() % (sizeof specials - 1)]; break;
            case 1: text.erase(at, 1 + next() % 8); break;
            default: text.insert(at, std::string(1 + next() % 3, specials[next() % (sizeof specials - 1)])); break;
            }
        }
        const auto attempt = [&](const std::function<void()>& f) {
            try {
                f();
                ++parsed;
            } catch (const multisession::error&) {
            } catch (const std::exception& e) {
                FAIL("non-library exception: " << e.what());
            }
        };
        attempt([&] { (void)parse_discovery(issuer, json_response(200, text)); });
        attempt([&] { (void)parse_token_response(json_response(200, text), std::string_view("old")); });
        attempt([&] { (void)parse_token_response(json_response(400, text), std::nullopt); });
        attempt([&] { (void)parse_www_authenticate(text); });
        attempt([&] { (void)parse_url(text); });
        (void)needs_dpop_nonce(http::response{401, {{"WWW-Authenticate", text}, {"DPoP-Nonce", "n"}}, ""});
        (void)parse_oauth_error(json_response(400, text));
    }
    CHECK(parsed > 0);
}

TEST_CASE("try_parse_json_object refuses an object that names a member twice, at any depth") {
    using multisession::oidc::detail::try_parse_json_object;
    CHECK(try_parse_json_object(R"({"a":1,"b":{"c":2,"d":[{"c":3},{"c":4}]}})"));
    CHECK(try_parse_json_object(R"({"a":{"x":1},"b":{"x":1}})")); // the same name in two objects
    CHECK_FALSE(try_parse_json_object(R"({"a":1,"a":1})"));
    CHECK_FALSE(try_parse_json_object(R"({"a":1,"b":{"c":2,"c":3}})"));
    CHECK_FALSE(try_parse_json_object(R"({"a":[{"c":2},{"c":3,"c":3}]})"));
    CHECK_FALSE(try_parse_json_object(R"({"alg":"ES256","typ":"JWT","alg":"none"})"));
}
