// The sans-I/O wire formats of the login and the client's life cycle (src/oidc/wire_login.hpp):
// PKCE, the authorization request URL and response, dynamic client registration, token
// revocation and RP-initiated logout.
#include "oidc/wire_login.hpp"

#include "oidc/base64url.hpp"
#include "oidc/wire_form.hpp"
#include "oidc/wire_http.hpp"

#include <multisession/error.hpp>

#include "../support/expect_error.hpp"

#include <nlohmann/json.hpp>

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace multisession;
using namespace multisession::oidc;

namespace {

using multisession::test::error_of;

http::response json_response(int status, std::string body) {
    return http::response{status, {{"Content-Type", "application/json"}}, std::move(body)};
}

provider_metadata metadata(std::vector<std::string> auth_methods = {"client_secret_basic", "client_secret_post",
                                                                     "none"}) {
    provider_metadata md;
    md.issuer = "https://op.example.com";
    md.token_endpoint = "https://op.example.com/token";
    md.authorization_endpoint = "https://op.example.com/auth";
    md.registration_endpoint = "https://op.example.com/reg";
    md.revocation_endpoint = "https://op.example.com/token/revocation";
    md.end_session_endpoint = "https://op.example.com/session/end";
    md.token_endpoint_auth_methods_supported = std::move(auth_methods);
    return md;
}

authorization_request login_request() {
    authorization_request r;
    r.client_id = "https://app.example/id";
    r.redirect_uri = "https://app.example/callback";
    r.scope = "openid offline_access webid";
    r.state = "st-1";
    r.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    return r;
}

bool has_header(const http::request& r, std::string_view name) {
    for (const auto& h : r.headers)
        if (http::header_name_equals(h.name, name)) return true;
    return false;
}

bool url_safe(std::string_view text) {
    for (const char c : text) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '_';
        if (!ok) return false;
    }
    return true;
}

} // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("pkce_challenge: the RFC 7636 appendix B vector") {
    CHECK(pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
          "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    // 43 to 128 unreserved characters (section 4.1), and never the verifier in the message.
    const std::string too_short(42, 'a');
    CHECK(error_of([&] { (void)pkce_challenge(too_short); }, oidc_errc::invalid_request).find(too_short) ==
          std::string::npos);
    error_of([] { (void)pkce_challenge(std::string(129, 'a')); }, oidc_errc::invalid_request);
    error_of([] { (void)pkce_challenge(std::string(42, 'a') + "/"); }, oidc_errc::invalid_request);
    CHECK(pkce_challenge(std::string(128, '~')).size() == 43);
    CHECK(pkce_challenge(std::string(43, '.')).size() == 43);
}

TEST_CASE("make_pkce and random_urlsafe: sizes, alphabet, freshness") {
    std::set<std::string> seen;
    for (int i = 0; i < 64; ++i) {
        const auto pair = make_pkce();
        CHECK(pair.verifier.size() == 43);
        CHECK(url_safe(pair.verifier));
        CHECK(pair.challenge == pkce_challenge(pair.verifier));
        CHECK(pair.challenge.size() == 43);
        const auto decoded = base64url_decode(pair.verifier);
        REQUIRE(decoded);
        CHECK(decoded->size() == 32);
        CHECK(seen.insert(pair.verifier).second);
    }
    CHECK(random_urlsafe().size() == 43);
    CHECK(random_urlsafe(1).size() == 2);
    CHECK(random_urlsafe(16).size() == 22);
    CHECK(url_safe(random_urlsafe(1024)));
    CHECK(random_urlsafe() != random_urlsafe());
    error_of([] { (void)random_urlsafe(0); }, oidc_errc::invalid_request);
    error_of([] { (void)random_urlsafe(1025); }, oidc_errc::invalid_request);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("form_urldecode") {
    CHECK(form_urldecode("") == "");
    CHECK(form_urldecode("a+b") == "a b");
    CHECK(form_urldecode("a%2Bb%2b") == "a+b+");
    CHECK(form_urldecode("%C3%A9%00") == std::string("\xc3\xa9\0", 3));
    CHECK(form_urldecode("~-._!*") == "~-._!*");
    for (const std::string& s : {std::string("caf\xc3\xa9 & co=1"), std::string("a+b%c"), std::string("\0\xff", 2)})
        CHECK(form_urldecode(form_urlencode(s)) == s);
    for (const char* bad : {"%", "%4", "a%zz", "%4g", "%%41"}) {
        CAPTURE(bad);
        error_of([&] { (void)form_urldecode(bad); }, http_errc::invalid_url);
    }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("authorization_url: parameters, order and escaping") {
    auto md = metadata();
    auto r = login_request();
    CHECK(authorization_url(md, r) ==
          "https://op.example.com/auth?response_type=code&client_id=https%3A%2F%2Fapp.example%2Fid"
          "&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope=openid+offline_access+webid&state=st-1"
          "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256");

    r.prompt = "consent";
    r.state = "a&b=c d";
    r.extra_parameters = {{"login_hint", "alice@example.org"}, {"ui locales", "fr en"}};
    CHECK(authorization_url(md, r) ==
          "https://op.example.com/auth?response_type=code&client_id=https%3A%2F%2Fapp.example%2Fid"
          "&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&scope=openid+offline_access+webid&state=a%26b%3Dc+d"
          "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=consent"
          "&login_hint=alice%40example.org&ui+locales=fr+en");

    SUBCASE("an endpoint with a query keeps it and continues with '&'") {
        md.authorization_endpoint = "https://op.example.com/auth?tenant=x";
        CHECK(authorization_url(md, login_request())
                  .rfind("https://op.example.com/auth?tenant=x&response_type=code&", 0) == 0);
        md.authorization_endpoint = "https://op.example.com/auth?";
        CHECK(authorization_url(md, login_request()).rfind("https://op.example.com/auth?response_type=code&", 0) == 0);
        md.authorization_endpoint = "https://op.example.com/auth?tenant=x&";
        CHECK(authorization_url(md, login_request())
                  .rfind("https://op.example.com/auth?tenant=x&response_type=code&", 0) == 0);
    }
    SUBCASE("the built URL reads back as what went in") {
        const auto url = authorization_url(md, r);
        // Parsed as if it were a redirect: the state (the only response parameter in it) survives.
        CHECK(parse_authorization_response(url).state == "a&b=c d");
    }
}

TEST_CASE("authorization_url: refusals") {
    const auto md = metadata();
    SUBCASE("no authorization endpoint") {
        auto none = md;
        none.authorization_endpoint.reset();
        error_of([&] { (void)authorization_url(none, login_request()); }, oidc_errc::unsupported_feature);
    }
    SUBCASE("extra parameters that repeat a name") {
        for (const std::string name : {"response_type", "client_id", "redirect_uri", "scope", "state",
                                       "code_challenge", "code_challenge_method", "prompt"}) {
            CAPTURE(name);
            auto r = login_request();
            r.extra_parameters = {{name, "x"}};
            CHECK(error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request).find(name) !=
                  std::string::npos);
        }
        auto r = login_request();
        r.prompt = "login";
        r.extra_parameters = {{"prompt", "none"}};
        error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request);
        r = login_request();
        r.extra_parameters = {{"login_hint", "a"}, {"login_hint", "b"}};
        error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request);
        r.extra_parameters = {{"", "a"}};
        error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request);
        // One already in the endpoint's own query.
        auto tenant = md;
        tenant.authorization_endpoint = "https://op.example.com/auth?tenant=x";
        r.extra_parameters = {{"tenant", "y"}};
        error_of([&] { (void)authorization_url(tenant, r); }, oidc_errc::invalid_request);
        // The same name in another case is another name.
        r.extra_parameters = {{"State", "y"}};
        CHECK_NOTHROW((void)authorization_url(md, r));
    }
    SUBCASE("bad redirect URIs") {
        for (const std::string uri : {"", "/callback", "app.example/cb", "ftp://app.example/cb",
                                      "https://app.example/cb#frag", "https://app example/cb",
                                      "com.example.app:/callback"}) {
            CAPTURE(uri);
            auto r = login_request();
            r.redirect_uri = uri;
            error_of([&] { (void)authorization_url(md, r); }, http_errc::invalid_url);
        }
        auto r = login_request();
        r.redirect_uri = "http://127.0.0.1:8080/cb?x=1";
        CHECK_NOTHROW((void)authorization_url(md, r));
    }
    SUBCASE("empty client_id, state or code_challenge") {
        auto r = login_request();
        r.client_id.clear();
        error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request);
        r = login_request();
        r.state.clear();
        error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request);
        r = login_request();
        r.code_challenge.clear();
        error_of([&] { (void)authorization_url(md, r); }, oidc_errc::invalid_request);
    }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("parse_authorization_response: success, error, iss") {
    SUBCASE("code, state and iss, the application's own parameters ignored") {
        const auto r = parse_authorization_response(
            "https://app.example/cb?x=1&code=SplxlOBeZQQYbYS6WxSbIA&state=xyz&iss=https%3A%2F%2Fop.example.com");
        CHECK(r.code == "SplxlOBeZQQYbYS6WxSbIA");
        CHECK(r.state == "xyz");
        CHECK(r.iss == "https://op.example.com");
        CHECK_FALSE(r.error);
        CHECK_FALSE(r.error_description);
    }
    SUBCASE("an error response") {
        const auto r = parse_authorization_response(
            "https://app.example/cb?error=access_denied&error_description=The+user+said+no%21&state=s&error_uri=x");
        CHECK_FALSE(r.code);
        CHECK(r.error == "access_denied");
        CHECK(r.error_description == "The user said no!");
        CHECK(r.state == "s");
    }
    SUBCASE("'+' is a space, %2B a plus, escapes in names too") {
        const auto r = parse_authorization_response("http://127.0.0.1:9/cb?st%61te=a+b%2Bc&code=%7E");
        CHECK(r.state == "a b+c");
        CHECK(r.code == "~");
    }
    SUBCASE("the fragment is ignored, empty values are present, bare names are empty") {
        const auto r = parse_authorization_response("https://app.example/cb?code=&&state#code=evil&state=evil");
        CHECK(r.code == "");
        CHECK(r.state == "");
        CHECK_FALSE(r.iss);
    }
    SUBCASE("no query at all") {
        const auto r = parse_authorization_response("https://app.example/cb");
        CHECK_FALSE(r.code);
        CHECK_FALSE(r.state);
        CHECK_FALSE(r.error);
    }
}

TEST_CASE("parse_authorization_response: duplicates and bad URLs") {
    for (const std::string name : {"code", "state", "iss", "error", "error_description", "error_uri"}) {
        CAPTURE(name);
        const auto url = "https://app.example/cb?" + name + "=a&code2=x&" + name + "=a";
        CHECK(error_of([&] { (void)parse_authorization_response(url); }, oidc_errc::invalid_request).find(name) !=
              std::string::npos);
    }
    // Spelled differently, still the same name.
    error_of([] { (void)parse_authorization_response("https://app.example/cb?state=a&st%61te=b"); },
             oidc_errc::invalid_request);
    // The application's own parameters may repeat.
    CHECK(parse_authorization_response("https://app.example/cb?x=1&x=2&code=c").code == "c");

    const std::string code = "SECRETCODE123";
    for (const std::string& url :
         {"/cb?code=" + code, "app.example/cb?code=" + code, "urn:x?code=" + code,
          "https://app.example/cb?code=" + code + "%zz", "https://app.example/cb?code=" + code + "%4",
          "https://app.example/cb?code=" + code + " x", "https://user@app.example/cb?code=" + code}) {
        CAPTURE(url);
        const auto what = error_of([&] { (void)parse_authorization_response(url); }, http_errc::invalid_url);
        CHECK(what.find(code) == std::string::npos);
    }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("registration_http_request") {
    const auto md = metadata();
    registration_request r;
    r.redirect_uris = {"https://app.example/callback", "http://127.0.0.1:7000/cb"};
    r.client_name = "My \"app\" \xc3\xa9";

    auto req = registration_http_request(md, r);
    CHECK(req.method == "POST");
    CHECK(req.url == "https://op.example.com/reg");
    REQUIRE(req.headers.size() == 2);
    CHECK(req.headers[0].name == "Content-Type");
    CHECK(req.headers[0].value == "application/json");
    CHECK(req.headers[1].name == "Accept");
    CHECK(req.headers[1].value == "application/json");
    auto body = nlohmann::json::parse(req.body);
    CHECK(body == nlohmann::json::parse(R"({
        "redirect_uris": ["https://app.example/callback", "http://127.0.0.1:7000/cb"],
        "client_name": "My \"app\" \u00e9",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scope": "openid offline_access webid",
        "application_type": "web"
    })"));

    SUBCASE("optional fields") {
        r.client_name.clear();
        r.token_endpoint_auth_method = "none";
        r.id_token_signed_response_alg = "ES256";
        r.application_type = "native";
        r.redirect_uris.clear();
        body = nlohmann::json::parse(registration_http_request(md, r).body);
        CHECK_FALSE(body.contains("client_name"));
        CHECK(body["token_endpoint_auth_method"] == "none");
        CHECK(body["id_token_signed_response_alg"] == "ES256");
        CHECK(body["application_type"] == "native");
        CHECK(body["redirect_uris"] == nlohmann::json::array());
    }
    SUBCASE("refusals") {
        auto none = md;
        none.registration_endpoint.reset();
        error_of([&] { (void)registration_http_request(none, r); }, oidc_errc::unsupported_feature);
        auto bad = r;
        bad.token_endpoint_auth_method = "private_key_jwt";
        error_of([&] { (void)registration_http_request(md, bad); }, oidc_errc::invalid_request);
        bad = r;
        bad.redirect_uris.push_back("https://app.example/cb#x");
        error_of([&] { (void)registration_http_request(md, bad); }, http_errc::invalid_url);
        bad = r;
        bad.redirect_uris = {"not a url"};
        error_of([&] { (void)registration_http_request(md, bad); }, http_errc::invalid_url);
        bad = r;
        bad.client_name = "\xff\xfe";
        error_of([&] { (void)registration_http_request(md, bad); }, oidc_errc::invalid_request);
    }
}

TEST_CASE("parse_registration_response: good answers") {
    registration_request r;
    SUBCASE("201 with a secret and everything") {
        const auto c = parse_registration_response(
            json_response(201, R"({"client_id":"c1","client_secret":"sec","client_secret_expires_at":1700000000,
                "token_endpoint_auth_method":"client_secret_post","id_token_signed_response_alg":"ES256",
                "redirect_uris":["https://app.example/cb"],"registration_access_token":"rat"})"),
            r);
        CHECK(c.client_id == "c1");
        CHECK(c.client_secret == "sec");
        CHECK(c.client_secret_expires_at == 1700000000);
        CHECK(c.token_endpoint_auth_method == "client_secret_post");
        CHECK(c.id_token_signed_response_alg == "ES256");
    }
    SUBCASE("200, defaults from the request") {
        r.token_endpoint_auth_method = "none";
        r.id_token_signed_response_alg = "RS256";
        const auto c =
            parse_registration_response(json_response(200, R"({"client_id":"pub","client_secret":null})"), r);
        CHECK(c.client_id == "pub");
        CHECK_FALSE(c.client_secret);
        CHECK(c.client_secret_expires_at == 0);
        CHECK(c.token_endpoint_auth_method == "none");
        CHECK(c.id_token_signed_response_alg == "RS256");
    }
    SUBCASE("expiry as a string, as a float, as zero") {
        CHECK(parse_registration_response(
                  json_response(201, R"({"client_id":"c","client_secret":"s","client_secret_expires_at":"42"})"), r)
                  .client_secret_expires_at == 42);
        CHECK(parse_registration_response(
                  json_response(201, R"({"client_id":"c","client_secret":"s","client_secret_expires_at":42.0})"), r)
                  .client_secret_expires_at == 42);
        CHECK(parse_registration_response(
                  json_response(201, R"({"client_id":"c","client_secret":"s","client_secret_expires_at":0})"), r)
                  .client_secret_expires_at == 0);
    }
}

TEST_CASE("parse_registration_response: malformed answers never echo the body or the secret") {
    const registration_request r;
    const std::string secret = "TOPSECRET-9f8e7d";
    const std::vector<std::string> bodies{
        R"({"client_secret":")" + secret + R"("})",                                   // no client_id
        R"({"client_id":"","client_secret":")" + secret + R"("})",                    // empty client_id
        R"({"client_id":42,"client_secret":")" + secret + R"("})",                    // not a string
        R"({"client_id":["c"],"client_secret":")" + secret + R"("})",
        R"({"client_id":"c","client_secret":17})",                                    // secret not a string
        R"({"client_id":"c","client_secret":""})",                                    // empty secret
        R"({"client_id":"c"})",                                                       // basic without a secret
        R"({"client_id":"c","client_secret":")" + secret + R"(","client_secret_expires_at":-1})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","client_secret_expires_at":"12a"})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","client_secret_expires_at":"-1"})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","client_secret_expires_at":1e300})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","client_secret_expires_at":18446744073709551615})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","client_secret_expires_at":true})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","token_endpoint_auth_method":3})",
        R"({"client_id":"c","client_secret":")" + secret + R"(","id_token_signed_response_alg":{}})",
        R"(["client_id","c"])",
        "client_id=c&client_secret=" + secret,
        "",
    };
    for (const auto& body : bodies) {
        CAPTURE(body);
        const auto what = error_of([&] { (void)parse_registration_response(json_response(201, body), r); },
                                   oidc_errc::malformed_response);
        CHECK(what.find(secret) == std::string::npos);
    }
}

TEST_CASE("parse_registration_response: error bodies and statuses") {
    const registration_request r;
    const std::string secret = "TOPSECRET-9f8e7d";
    auto what = error_of([&] {
        (void)parse_registration_response(
            json_response(400, R"({"error":"invalid_redirect_uri","error_description":"bad )" + secret + R"("})"), r);
    }, oidc_errc::oauth_error);
    CHECK(what.find("invalid_redirect_uri") != std::string::npos);
    CHECK(what.find(secret) == std::string::npos);
    what = error_of([&] {
        (void)parse_registration_response(json_response(400, R"({"error":"invalid_client_metadata"})"), r);
    }, oidc_errc::oauth_error);
    CHECK(what.find("invalid_client_metadata") != std::string::npos);
    // A code with forbidden characters is neither echoed nor mapped.
    what = error_of([&] {
        (void)parse_registration_response(json_response(400, R"({"error":"invalid_request\n)" + secret + R"("})"), r);
    }, oidc_errc::oauth_error);
    CHECK(what.find(secret) == std::string::npos);
    // Known codes keep their own value; a 2xx error body is an error.
    error_of([&] { (void)parse_registration_response(json_response(401, R"({"error":"invalid_client"})"), r); },
             oidc_errc::invalid_client);
    error_of([&] { (void)parse_registration_response(json_response(201, R"({"error":"invalid_request"})"), r); },
             oidc_errc::invalid_request);
    error_of(
        [&] { (void)parse_registration_response(json_response(503, R"({"error":"temporarily_unavailable"})"), r); },
        oidc_errc::server_error);
    // Without an OAuth body: by status, and the body is never quoted.
    what = error_of([&] { (void)parse_registration_response(json_response(502, "<html>" + secret + "</html>"), r); },
                    oidc_errc::server_error);
    CHECK(what.find(secret) == std::string::npos);
    error_of([&] { (void)parse_registration_response(json_response(403, ""), r); }, oidc_errc::unexpected_status);
    error_of(
        [&] { (void)parse_registration_response(json_response(202, R"({"client_id":"c","client_secret":"s"})"), r); },
        oidc_errc::unexpected_status);
    error_of([&] { (void)parse_registration_response(json_response(404, R"({"error":7})"), r); },
             oidc_errc::unexpected_status);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("revocation_request per client authentication") {
    const client_info conf{"my client", std::string("s:e cret"), client_type::dynamic};
    const client_info pub{"https://app.example/id", std::nullopt, client_type::solid_oidc};

    SUBCASE("client_secret_basic") {
        const auto r = revocation_request(metadata(), conf, "rt+/=1", "refresh_token");
        CHECK(r.method == "POST");
        CHECK(r.url == "https://op.example.com/token/revocation");
        REQUIRE(r.headers.size() == 3);
        CHECK(r.headers[0].name == "Content-Type");
        CHECK(r.headers[0].value == "application/x-www-form-urlencoded");
        CHECK(r.headers[1].name == "Accept");
        CHECK(r.headers[1].value == "application/json");
        CHECK(r.headers[2].name == "Authorization");
        // base64("my+client:s%3Ae+cret"): id and secret form-encoded first (RFC 6749 2.3.1).
        CHECK(r.headers[2].value == "Basic bXkrY2xpZW50OnMlM0FlK2NyZXQ=");
        CHECK(r.body == "token=rt%2B%2F%3D1&token_type_hint=refresh_token");
    }
    SUBCASE("client_secret_post when only that is advertised") {
        const auto r = revocation_request(metadata({"client_secret_post"}), conf, "at", "access_token");
        REQUIRE(r.headers.size() == 2);
        CHECK_FALSE(has_header(r, "Authorization"));
        CHECK(r.body == "token=at&token_type_hint=access_token&client_id=my+client&client_secret=s%3Ae+cret");
    }
    SUBCASE("none: a public client names itself in the body") {
        const auto r = revocation_request(metadata(), pub, "rt", "");
        REQUIRE(r.headers.size() == 2);
        CHECK_FALSE(has_header(r, "Authorization"));
        CHECK(r.body == "token=rt&client_id=https%3A%2F%2Fapp.example%2Fid");
    }
    SUBCASE("refusals") {
        auto none = metadata();
        none.revocation_endpoint.reset();
        error_of([&] { (void)revocation_request(none, conf, "rt", "refresh_token"); }, oidc_errc::unsupported_feature);
        error_of([&] { (void)revocation_request(metadata(), conf, "", "refresh_token"); }, oidc_errc::invalid_request);
        const auto what = error_of([&] { (void)revocation_request(metadata({"private_key_jwt"}), conf, "rt", ""); },
                                   oidc_errc::invalid_client);
        CHECK(what.find("s:e cret") == std::string::npos);
    }
}

TEST_CASE("check_revocation_response") {
    CHECK_NOTHROW(check_revocation_response(json_response(200, "")));
    CHECK_NOTHROW(check_revocation_response(json_response(200, "{}")));
    const auto what = error_of(
        [] {
            check_revocation_response(
                json_response(400, R"({"error":"unsupported_token_type","error_description":"x"})"));
        },
        oidc_errc::oauth_error);
    CHECK(what.find("unsupported_token_type") != std::string::npos);
    error_of([] { check_revocation_response(json_response(401, R"({"error":"invalid_client"})")); },
             oidc_errc::invalid_client);
    error_of([] { check_revocation_response(json_response(400, R"({"error":"invalid_request"})")); },
             oidc_errc::invalid_request);
    error_of([] { check_revocation_response(json_response(503, R"({"error":"temporarily_unavailable"})")); },
             oidc_errc::server_error);
    error_of([] { check_revocation_response(json_response(500, "oops")); }, oidc_errc::server_error);
    error_of([] { check_revocation_response(json_response(204, "")); }, oidc_errc::unexpected_status);
    error_of([] { check_revocation_response(json_response(404, "<html/>")); }, oidc_errc::unexpected_status);
    error_of([] { check_revocation_response(json_response(302, "")); }, oidc_errc::unexpected_status);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("end_session_url") {
    auto md = metadata();
    const std::string id_token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";
    end_session_request r;
    CHECK(end_session_url(md, r) == "https://op.example.com/session/end");
    r.id_token_hint = id_token;
    r.client_id = "my client";
    r.post_logout_redirect_uri = "https://app.example/bye?x=1";
    r.state = "s&t";
    CHECK(end_session_url(md, r) == "https://op.example.com/session/end?id_token_hint=" + id_token +
                                        "&client_id=my+client&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye"
                                        "%3Fx%3D1&state=s%26t");
    end_session_request only_state;
    only_state.state = "z";
    md.end_session_endpoint = "https://op.example.com/logout?ui=1";
    CHECK(end_session_url(md, only_state) == "https://op.example.com/logout?ui=1&state=z");

    auto bad = r;
    bad.post_logout_redirect_uri = "/bye";
    CHECK(error_of([&] { (void)end_session_url(md, bad); }, http_errc::invalid_url).find(id_token) ==
          std::string::npos);
    md.end_session_endpoint.reset();
    CHECK(error_of([&] { (void)end_session_url(md, r); }, oidc_errc::unsupported_feature).find(id_token) ==
          std::string::npos);
}
