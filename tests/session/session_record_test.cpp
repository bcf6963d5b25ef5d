// The session record and key layout of src/session: every field both ways, the second spelling
// Inrupt's library writes, tolerant and strict parsing, the registered-sessions index, session id
// checks, and a store exactly as Inrupt's library leaves it (fixtures/inrupt_store.json).
#include "session/session_record.hpp"

#include "oidc/jwk.hpp"

#include <multisession/error.hpp>

#include <nlohmann/json.hpp>

#include "../support/expect_error.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef SESSION_FIXTURES
#error "SESSION_FIXTURES must name the fixture directory"
#endif

using namespace multisession;
using namespace multisession::session_detail;
using json = nlohmann::json;

namespace {

/// A value that must never reach an error message.
constexpr const char* secret = "rt-SECRET-123";

using multisession::test::error_of;

std::string corrupt_message(std::string_view id, const std::string& text) {
    return error_of([&] { (void)parse_session_record(id, text); }, storage_errc::corrupt_record);
}

/// A record with every field set, each to a distinct value.
session_record full_record() {
    session_record r;
    r.issuer = "https://issuer.example/";
    r.client_id = "client-1";
    r.client_secret = "cs-1";
    r.client_type = "dynamic";
    r.client_name = "Example App";
    r.id_token_signed_response_alg = "ES256";
    r.client_expires_at = 1798761600;
    r.refresh_token = secret;
    r.dpop = true;
    r.keep_alive = "true";
    r.redirect_url = "https://app.example/callback";
    r.code_verifier = "verifier-1";
    r.webid = "https://pod.example/alice/profile/card#me";
    r.is_logged_in = true;
    r.public_key = R"({"kty":"EC","crv":"P-256","x":"x1","y":"y1","alg":"ES256"})";
    r.private_key = R"({"kty":"EC","crv":"P-256","x":"x1","y":"y1","d":"d1"})";
    r.created_at = 1700000000123;
    r.updated_at = 1700000000456;
    r.access_token_expires_at = 1700000300789;
    r.other_fields = {{"tokenType", "DPoP"}, {"idToken", "header.payload.signature"}};
    return r;
}

json as_json(const std::string& text) { return json::parse(text); }

/// `{"refreshToken":"<secret>","<field>":<raw>}` (the secret alone when `field` is refreshToken):
/// the secret sits in every corrupt record, so no part of the text may reach the message.
std::string record_text(const std::string& field, const std::string& raw) {
    std::string text = "{";
    if (field != "refreshToken") {
        text += R"("refreshToken":")";
        text += secret;
        text += "\",";
    }
    text += '"';
    text += field;
    text += "\":";
    text += raw;
    text += '}';
    return text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE_MESSAGE(in, "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("key helpers") {
    CHECK(record_key("abc") == "solidClientAuthenticationUser:abc");
    CHECK(lease_key("abc") == "multisession:lease:abc");
    CHECK(session_id_of_key("solidClientAuthenticationUser:abc") == std::optional<std::string_view>("abc"));
    CHECK(session_id_of_key(record_key("../x/é")) == std::optional<std::string_view>("../x/é"));
    CHECK(session_id_of_key("solidClientAuthenticationUser:") == std::optional<std::string_view>(""));
    CHECK_FALSE(session_id_of_key("solidClientAuthenticationUser").has_value());
    CHECK_FALSE(session_id_of_key(std::string(registered_sessions_key)).has_value());
    CHECK_FALSE(session_id_of_key("issuerConfig:https://issuer.example/").has_value());
    CHECK_FALSE(session_id_of_key(lease_key("abc")).has_value());
    CHECK_FALSE(session_id_of_key("xsolidClientAuthenticationUser:abc").has_value());
    // Our keys never fall under Inrupt's prefixes.
    CHECK_FALSE(lease_key("abc").starts_with(record_prefix));
    CHECK_FALSE(lease_key("abc").starts_with("solidClientAuthn"));
}

TEST_CASE("check_session_id") {
    SUBCASE("accepted") {
        CHECK_NOTHROW(check_session_id("4cc921a1-8a20-44f7-b3b3-f4c4559ad070"));
        CHECK_NOTHROW(check_session_id("../../etc/passwd"));
        CHECK_NOTHROW(check_session_id("ünïcødé €  𝄞 日本"));
        CHECK_NOTHROW(check_session_id("a b\"c'\\d"));
        CHECK_NOTHROW(check_session_id(std::string(1024, 'x')));
    }
    SUBCASE("empty") {
        const auto what = error_of([] { check_session_id(""); }, storage_errc::invalid_key);
        CHECK(what.find("empty") != std::string::npos);
    }
    SUBCASE("too long, and the message stays short") {
        CHECK_THROWS_AS(check_session_id(std::string(1025, 'x')), multisession::error);
        const auto what = error_of([] { check_session_id(std::string(2000, 'y')); }, storage_errc::invalid_key);
        CHECK(what.find("2000") != std::string::npos);
        CHECK(what.size() < 250);
    }
    SUBCASE("control characters, and the id is not echoed") {
        for (const std::string& id :
             {std::string("secret\x01id"), std::string("secret\nid"), std::string("secret\x7fid"),
              std::string("secret\tid"), std::string("secret\0id", 9),
              std::string("secret\xc2\x85id")}) { // U+0085, a C1 control
            const auto what = error_of([&] { check_session_id(id); }, storage_errc::invalid_key);
            CHECK(what.find("control character") != std::string::npos);
            CHECK(what.find("secret") == std::string::npos);
        }
    }
    SUBCASE("invalid UTF-8") {
        for (const std::string& id : {std::string("secret\xff"), std::string("secret\xc0\xaf"), // overlong '/'
                                      std::string("secret\xe0\x80\xaf"),                        // overlong, 3 bytes
                                      std::string("secret\xf0\x80\x80\xaf"),                    // overlong, 4 bytes
                                      std::string("secret\xed\xa0\x80"),                        // a surrogate
                                      std::string("secret\xe2\x82"),                            // truncated
                                      std::string("secret\xf4\x90\x80\x80"),                    // past U+10FFFF
                                      std::string("secret\x80")}) {
            const auto what = error_of([&] { check_session_id(id); }, storage_errc::invalid_key);
            CHECK(what.find("UTF-8") != std::string::npos);
            CHECK(what.find("secret") == std::string::npos);
        }
    }
}

TEST_CASE("every field is written under its canonical name as a string and read back") {
    const session_record record = full_record();
    const std::string text = serialize_session_record(record);
    const json doc = as_json(text);
    REQUIRE(doc.is_object());
    for (const auto& [name, value] : doc.items())
        CHECK_MESSAGE(value.is_string(), name);

    const std::map<std::string, std::string> expected = {
        {"issuer", "https://issuer.example/"},
        {"clientId", "client-1"},
        {"clientSecret", "cs-1"},
        {"clientType", "dynamic"},
        {"clientName", "Example App"},
        {"idTokenSignedResponseAlg", "ES256"},
        {"expiresAt", "1798761600"},
        {"refreshToken", secret},
        {"dpop", "true"},
        {"keepAlive", "true"},
        {"redirectUrl", "https://app.example/callback"},
        {"codeVerifier", "verifier-1"},
        {"webId", "https://pod.example/alice/profile/card#me"},
        {"isLoggedIn", "true"},
        {"publicKey", *record.public_key},
        {"privateKey", *record.private_key},
        {"multisessionCreatedAt", "1700000000123"},
        {"multisessionUpdatedAt", "1700000000456"},
        {"expirationDate", "1700000300789"},
        {"tokenType", "DPoP"},
        {"idToken", "header.payload.signature"},
    };
    CHECK(doc.size() == expected.size());
    for (const auto& [name, value] : expected) {
        REQUIRE_MESSAGE(doc.contains(name), name);
        CHECK_MESSAGE(doc[name] == value, name);
    }
    CHECK(parse_session_record("s", text) == record);
    CHECK(serialize_session_record(record) == text); // deterministic
    CHECK(text.find('\n') == std::string::npos);     // compact, as JSON.stringify writes
    CHECK(text.find("\": ") == std::string::npos);
    CHECK(text.starts_with("{\"issuer\":")); // a fixed member order
}

TEST_CASE("each field alone, read from Inrupt's spelling") {
    struct one_field {
        const char* name;
        const char* value;
        std::function<bool(const session_record&)> check;
    };
    const std::vector<one_field> fields = {
        {"issuer", "https://i.example/", [](auto& r) { return r.issuer == "https://i.example/"; }},
        {"clientId", "cid", [](auto& r) { return r.client_id == "cid"; }},
        {"clientSecret", "cs", [](auto& r) { return r.client_secret == "cs"; }},
        {"clientType", "static", [](auto& r) { return r.client_type == "static"; }},
        {"clientName", "n", [](auto& r) { return r.client_name == "n"; }},
        {"idTokenSignedResponseAlg", "RS256", [](auto& r) { return r.id_token_signed_response_alg == "RS256"; }},
        {"expiresAt", "1700000000", [](auto& r) { return r.client_expires_at == 1700000000; }},
        {"refreshToken", "rt", [](auto& r) { return r.refresh_token == "rt"; }},
        {"dpop", "true", [](auto& r) { return r.dpop; }},
        {"keepAlive", "false", [](auto& r) { return r.keep_alive == "false"; }},
        {"redirectUrl", "https://a.example/cb", [](auto& r) { return r.redirect_url == "https://a.example/cb"; }},
        {"codeVerifier", "cv", [](auto& r) { return r.code_verifier == "cv"; }},
        {"webId", "https://w.example/#me", [](auto& r) { return r.webid == "https://w.example/#me"; }},
        {"isLoggedIn", "true", [](auto& r) { return r.is_logged_in; }},
        {"publicKey", "{}", [](auto& r) { return r.public_key == "{}"; }},
        {"privateKey", R"({"d":"x"})", [](auto& r) { return r.private_key == R"({"d":"x"})"; }},
        {"multisessionCreatedAt", "1", [](auto& r) { return r.created_at == 1; }},
        {"multisessionUpdatedAt", "2", [](auto& r) { return r.updated_at == 2; }},
        {"expirationDate", "3", [](auto& r) { return r.access_token_expires_at == 3; }},
    };
    for (const auto& field : fields) {
        CAPTURE(field.name);
        const json doc = {{field.name, field.value}};
        const session_record record = parse_session_record("s", doc.dump());
        CHECK(field.check(record));
        CHECK(record.other_fields.empty());
        // Written back under the same name with the same text.
        const json back = as_json(serialize_session_record(record));
        REQUIRE(back.contains(field.name));
        CHECK(back[field.name] == field.value);
    }
    // An empty object: nothing set, the booleans false, and not a session.
    const session_record empty = parse_session_record("s", "{}");
    CHECK(empty == session_record{});
    CHECK_FALSE(empty.is_session());
    CHECK(as_json(serialize_session_record(empty)) == json{{"dpop", "false"}, {"isLoggedIn", "false"}});
}

TEST_CASE("the second spelling Inrupt writes, and which one wins") {
    SUBCASE("clientAppId, clientAppSecret, expirationDate in milliseconds") {
        const auto r = parse_session_record(
            "s",
            R"({"issuer":"https://i/","clientAppId":"cid","clientAppSecret":"cs","expirationDate":"1767225600999"})");
        CHECK(r.client_id == "cid");
        CHECK(r.client_secret == "cs");
        // expirationDate is the access token's expiry (Inrupt's SessionInfoManager), not the client's.
        CHECK_FALSE(r.client_expires_at.has_value());
        CHECK(r.access_token_expires_at == 1767225600999);
        CHECK(r.other_fields.empty());
        const json back = as_json(serialize_session_record(r));
        CHECK(back["clientId"] == "cid");
        CHECK(back["clientSecret"] == "cs");
        CHECK_FALSE(back.contains("expiresAt"));
        CHECK(back["expirationDate"] == "1767225600999");
        CHECK_FALSE(back.contains("clientAppId"));
        CHECK_FALSE(back.contains("clientAppSecret"));
    }
    SUBCASE("expirationDate as a JSON number") {
        const auto r = parse_session_record("s", R"({"expirationDate":1767225600000})");
        CHECK(r.access_token_expires_at == 1767225600000);
    }
    SUBCASE("the canonical spelling wins and the other is dropped") {
        const auto r = parse_session_record(
            "s", R"({"clientId":"new","clientAppId":"old","clientSecret":"new-cs","clientAppSecret":"old-cs",)"
                 R"("expiresAt":"0","expirationDate":"1767225600000"})");
        CHECK(r.client_id == "new");
        CHECK(r.client_secret == "new-cs");
        CHECK(r.client_expires_at == 0);
        CHECK(r.access_token_expires_at == 1767225600000);
        CHECK(r.other_fields.empty());
        const std::string text = serialize_session_record(r);
        CHECK(text.find("old") == std::string::npos);
    }
    SUBCASE("a malformed copy under the other name does not spoil a good record") {
        const auto r = parse_session_record("s", R"({"clientId":"cid","clientAppId":5,"expiresAt":"7"})");
        CHECK(r.client_id == "cid");
        CHECK(r.client_expires_at == 7);
    }
    SUBCASE("but a malformed alternate alone is corrupt") {
        const auto what = corrupt_message("s", R"({"clientAppSecret":5})");
        CHECK(what.find("'clientAppSecret'") != std::string::npos);
    }
}

TEST_CASE("numbers and booleans as JSON types and as strings") {
    SUBCASE("expiresAt") {
        CHECK(parse_session_record("s", R"({"expiresAt":1700000000})").client_expires_at == 1700000000);
        CHECK(parse_session_record("s", R"({"expiresAt":"1700000000"})").client_expires_at == 1700000000);
        CHECK(parse_session_record("s", R"({"expiresAt":"0"})").client_expires_at == 0);
        CHECK(parse_session_record("s", R"({"expiresAt":0})").client_expires_at == 0);
        CHECK(parse_session_record("s", R"({"expiresAt":"253402300799"})").client_expires_at == 253402300799);
        // What Inrupt stores when the provider omits client_secret_expires_at; it reads it as "never".
        CHECK(parse_session_record("s", R"({"expiresAt":"undefined"})").client_expires_at == 0);
        CHECK(parse_session_record("s", R"({"expiresAt":"NaN"})").client_expires_at == 0);
        CHECK_FALSE(parse_session_record("s", R"({"expiresAt":null})").client_expires_at.has_value());
    }
    SUBCASE("our times") {
        const auto r = parse_session_record(
            "s", R"({"multisessionCreatedAt":1700000000123,"multisessionUpdatedAt":"1700000000456",)"
                 R"("expirationDate":"253402300799999"})");
        CHECK(r.created_at == 1700000000123);
        CHECK(r.updated_at == 1700000000456);
        CHECK(r.access_token_expires_at == 253402300799999);
    }
    SUBCASE("dpop and isLoggedIn") {
        CHECK(parse_session_record("s", R"({"dpop":true})").dpop);
        CHECK(parse_session_record("s", R"({"dpop":"true"})").dpop);
        CHECK_FALSE(parse_session_record("s", R"({"dpop":false})").dpop);
        CHECK_FALSE(parse_session_record("s", R"({"dpop":"false"})").dpop);
        CHECK_FALSE(parse_session_record("s", R"({"issuer":"https://i/"})").dpop); // missing: Bearer
        CHECK_FALSE(parse_session_record("s", R"({"dpop":"TRUE"})").dpop);         // Inrupt compares with "true"
        CHECK_FALSE(parse_session_record("s", R"({"dpop":null})").dpop);
        CHECK(parse_session_record("s", R"({"isLoggedIn":true})").is_logged_in);
        CHECK(parse_session_record("s", R"({"isLoggedIn":"true"})").is_logged_in);
        CHECK_FALSE(parse_session_record("s", R"({"isLoggedIn":"false"})").is_logged_in);
        CHECK_FALSE(parse_session_record("s", R"({"isLoggedIn":false})").is_logged_in);
    }
    SUBCASE("keepAlive is kept as written; a JSON boolean becomes its string") {
        CHECK(parse_session_record("s", R"({"keepAlive":true})").keep_alive == "true");
        CHECK(parse_session_record("s", R"({"keepAlive":false})").keep_alive == "false");
        CHECK(parse_session_record("s", R"({"keepAlive":"false"})").keep_alive == "false");
        CHECK(parse_session_record("s", R"({"keepAlive":"maybe"})").keep_alive == "maybe");
    }
    SUBCASE("written as strings") {
        session_record r;
        r.dpop = false;
        r.is_logged_in = true;
        r.client_expires_at = 0;
        const json back = as_json(serialize_session_record(r));
        CHECK(back["dpop"] == "false");
        CHECK(back["isLoggedIn"] == "true");
        CHECK(back["expiresAt"] == "0");
    }
    SUBCASE("an empty issuer is not a session (Inrupt reads \"\" as missing)") {
        CHECK_FALSE(parse_session_record("s", R"({"issuer":""})").is_session());
        CHECK(parse_session_record("s", R"({"issuer":"https://i/"})").is_session());
    }
}

TEST_CASE("corrupt records name the session and the field, never a value") {
    const std::string rt = std::string(R"("refreshToken":")") + secret + "\"";
    SUBCASE("not a JSON object") {
        for (const std::string& text : {std::string(secret), "{" + rt, "[\"" + std::string(secret) + "\"]",
                                        "\"" + std::string(secret) + "\"", std::string("42"), std::string("null"),
                                        std::string(""), std::string("{") + rt + ",}", std::string("\xff{}")}) {
            CAPTURE(text);
            const auto what = corrupt_message("sess-1", text);
            CHECK(what.find("session 'sess-1': record is not a JSON object") == 0);
            CHECK(what.find(secret) == std::string::npos);
        }
    }
    SUBCASE("nested deeper than the bound") {
        std::string deep;
        for (int i = 0; i < 100; ++i)
            deep += "{\"a\":";
        deep += "1";
        for (int i = 0; i < 100; ++i)
            deep += "}";
        CHECK(corrupt_message("sess-1", deep).find("not a JSON object") != std::string::npos);
    }
    SUBCASE("a field of the wrong type") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"refreshToken", "123"},
            {"refreshToken", std::string(R"({"x":")") + secret + "\"}"},
            {"refreshToken", std::string(R"([")") + secret + "\"]"},
            {"refreshToken", "true"},
            {"issuer", "true"},
            {"clientSecret", "1.5"},
            {"privateKey", std::string(R"({"d":")") + secret + "\"}"},
            {"webId", "[]"},
            {"keepAlive", "7"},
            {"dpop", "1"},
            {"dpop", std::string(R"([")") + secret + "\"]"},
            {"isLoggedIn", "{}"},
        };
        for (const auto& [field, value] : cases) {
            CAPTURE(field);
            CAPTURE(value);
            const auto what = corrupt_message("sess-1", record_text(field, value));
            CHECK(what.find("session 'sess-1': field '" + field + "' is not a ") == 0);
            CHECK(what.find(secret) == std::string::npos);
        }
        CHECK(corrupt_message("sess-1", R"({"refreshToken":123})")
                  .starts_with("session 'sess-1': field 'refreshToken' is not a string"));
    }
    SUBCASE("absurd times") {
        const std::vector<std::pair<std::string, std::string>> cases = {
            {"expiresAt", R"("-5")"},
            {"expiresAt", R"("-0")"},
            {"expiresAt", "-1"},
            {"expiresAt", R"("+12")"},
            {"expiresAt", R"(" 12")"},
            {"expiresAt", R"("12 ")"},
            {"expiresAt", R"("12abc")"},
            {"expiresAt", R"("1e9")"},
            {"expiresAt", R"("")"},
            {"expiresAt", R"("rt-SECRET-123")"},
            {"expiresAt", R"("99999999999999999999999")"},
            {"expiresAt", "99999999999999999999999"},
            {"expiresAt", "18446744073709551615"},
            {"expiresAt", "253402300800"}, // the first second of the year 10000
            {"expiresAt", "1.5"},
            {"expiresAt", "1e300"},
            {"expiresAt", "true"},
            {"expirationDate", R"("253402300800000")"},
            {"expirationDate", R"("-1")"},
            {"multisessionCreatedAt", R"("x")"},
            {"multisessionUpdatedAt", "-7"},
            {"expirationDate", "1e20"},
        };
        for (const auto& [field, value] : cases) {
            CAPTURE(field);
            CAPTURE(value);
            const auto what = corrupt_message("sess-1", record_text(field, value));
            CHECK(what.find("session 'sess-1': field '" + field + "' is not a time") == 0);
            CHECK(what.find(secret) == std::string::npos);
        }
    }
    SUBCASE("the id is printable and bounded in the message") {
        CHECK(corrupt_message("a\x01'b", "[]").starts_with("session 'a\\x01\\x27b': record is not a JSON object"));
        const auto what = corrupt_message(std::string(500, 'z'), "[]");
        CHECK(what.size() < 200);
        CHECK(what.find("...") != std::string::npos);
    }
}

TEST_CASE("unknown fields are kept and written back") {
    const auto r = parse_session_record(
        "s", R"({"issuer":"https://i/","tokenType":"DPoP","idToken":"h.p.s","custom":"","nested":{"a":"b"},)"
             R"("count":5,"flag":true,"nothing":null,"list":["x"]})");
    CHECK(r.other_fields ==
          std::map<std::string, std::string>{{"tokenType", "DPoP"}, {"idToken", "h.p.s"}, {"custom", ""}});
    const json back = as_json(serialize_session_record(r));
    CHECK(back["tokenType"] == "DPoP");
    CHECK(back["idToken"] == "h.p.s");
    CHECK(back["custom"] == "");
    // Non-string unknown members cannot be kept in other_fields; they are dropped.
    CHECK_FALSE(back.contains("nested"));
    CHECK_FALSE(back.contains("count"));
    CHECK_FALSE(back.contains("flag"));
    CHECK_FALSE(back.contains("list"));
    CHECK(parse_session_record("s", back.dump()) == r);
}

TEST_CASE("other_fields never shadow a known field") {
    session_record r;
    r.issuer = "https://i/";
    r.other_fields = {{"refreshToken", "stale"}, {"clientAppId", "stale"},       {"expirationDate", "stale"},
                      {"dpop", "true"},          {"multisessionCreatedAt", "1"}, {"extra", "kept"}};
    const std::string text = serialize_session_record(r);
    CHECK(text.find("stale") == std::string::npos);
    const json back = as_json(text);
    CHECK(back["dpop"] == "false");
    CHECK(back["extra"] == "kept");
    CHECK_FALSE(back.contains("refreshToken"));
    CHECK_FALSE(back.contains("expirationDate"));
    const auto again = parse_session_record("s", text);
    CHECK_FALSE(again.refresh_token.has_value());
    CHECK_FALSE(again.client_id.has_value());
    CHECK_FALSE(again.dpop);
    CHECK(again.other_fields == std::map<std::string, std::string>{{"extra", "kept"}});
}

TEST_CASE("round trip keeps unusual text exactly") {
    session_record r = full_record();
    r.client_name = "quote \" backslash \\ newline \n tab \t nul " + std::string(1, '\0') + " é 日本 𝄞";
    r.refresh_token = std::string(20000, 'r');
    r.other_fields["ünïcødé name"] = "value\x01";
    r.client_expires_at = 0;
    r.dpop = false;
    r.is_logged_in = false;
    CHECK(parse_session_record("s", serialize_session_record(r)) == r);
}

TEST_CASE("serializing text that is not UTF-8 fails with our error, naming the field only") {
    session_record r;
    r.refresh_token = std::string(secret) + "\xff";
    auto what = error_of([&] { (void)serialize_session_record(r); }, storage_errc::corrupt_record);
    CHECK(what.find("'refreshToken'") != std::string::npos);
    CHECK(what.find(secret) == std::string::npos);

    session_record odd_name;
    odd_name.other_fields[std::string("n\xff")] = "v";
    what = error_of([&] { (void)serialize_session_record(odd_name); }, storage_errc::corrupt_record);
    CHECK(what.find("name") != std::string::npos);

    session_record odd_value;
    odd_value.other_fields["n"] = std::string(secret) + "\xc0";
    what = error_of([&] { (void)serialize_session_record(odd_value); }, storage_errc::corrupt_record);
    CHECK(what.find("'n'") != std::string::npos);
    CHECK(what.find(secret) == std::string::npos);
}

TEST_CASE("state records") {
    CHECK(state_record_session_id(R"({"sessionId":"abc"})") == std::optional<std::string>("abc"));
    CHECK(state_record_session_id(R"({"sessionId":"é/../x"})") == std::optional<std::string>("é/../x"));
    CHECK_FALSE(state_record_session_id(R"({"sessionId":""})").has_value());
    CHECK_FALSE(state_record_session_id(R"({"sessionId":5})").has_value());
    CHECK_FALSE(state_record_session_id(R"({"sessionId":null})").has_value());
    CHECK_FALSE(state_record_session_id(R"({"issuer":"https://i/","dpop":"true"})").has_value());
    CHECK_FALSE(state_record_session_id(R"(["sessionId","abc"])").has_value());
    CHECK_FALSE(state_record_session_id("not json").has_value());
    CHECK_FALSE(state_record_session_id("").has_value());
    // A state record read as a session record: not a session, the pointer kept as an unknown field.
    const auto as_record = parse_session_record("state", R"({"sessionId":"abc"})");
    CHECK_FALSE(as_record.is_session());
    CHECK(as_record.other_fields.at("sessionId") == "abc");
}

TEST_CASE("the registered-sessions index") {
    using ids = std::vector<std::string>;
    SUBCASE("parse") {
        CHECK(parse_session_index(std::nullopt).empty());
        CHECK(parse_session_index(std::string("[]")).empty());
        CHECK(parse_session_index(std::string(R"(["a","b"])")) == ids{"a", "b"});
        CHECK(parse_session_index(std::string(R"(["b","a","b"])")) == ids{"b", "a", "b"});
        CHECK(parse_session_index(std::string(R"(["a",1,null,"b",{"c":"d"},["e"],true])")) == ids{"a", "b"});
        CHECK(parse_session_index(std::string(" [ \"é\" ] ")) == ids{"é"});
        std::string nested = "[\"a\",";
        for (int i = 0; i < 20; ++i)
            nested += "[";
        for (int i = 0; i < 20; ++i)
            nested += "]";
        CHECK(parse_session_index(nested + "]") == ids{"a"});
    }
    SUBCASE("anything but an array is corrupt") {
        std::string deep;
        for (int i = 0; i < 100; ++i)
            deep += "[";
        for (int i = 0; i < 100; ++i)
            deep += "]";
        for (const std::string& text :
             {std::string("{}"), std::string(R"({"0":"a"})"), std::string("\"a\""), std::string("null"),
              std::string(""), std::string("[\"a\""), std::string("not json"), deep}) {
            CAPTURE(text);
            const auto what = error_of([&] { (void)parse_session_index(text); }, storage_errc::corrupt_record);
            CHECK(what.find("solidClientAuthn:registeredSessions") != std::string::npos);
        }
    }
    SUBCASE("index_with") {
        CHECK(index_with(std::nullopt, "a") == R"(["a"])");
        CHECK(index_with(std::string("[]"), "a") == R"(["a"])");
        CHECK(index_with(std::string(R"(["a"])"), "b") == R"(["a","b"])");
        CHECK(index_with(std::string(R"(["a","b"])"), "a") == R"(["a","b"])");
        CHECK(index_with(std::string(R"(["a",7,"b"])"), "c") == R"(["a","b","c"])");
        CHECK(index_with(std::nullopt, "é\"/") == "[\"é\\\"/\"]"); // raw UTF-8, as JSON.stringify writes it
        CHECK(parse_session_index(index_with(std::nullopt, "../x")) == ids{"../x"});
        error_of([] { (void)index_with(std::nullopt, "\xff"); }, storage_errc::invalid_key);
        error_of([] { (void)index_with(std::string("{}"), "a"); }, storage_errc::corrupt_record);
    }
    SUBCASE("index_without") {
        CHECK(index_without(std::nullopt, "a") == "[]");
        CHECK(index_without(std::string(R"(["a","b","a"])"), "a") == R"(["b"])");
        CHECK(index_without(std::string(R"(["a","b"])"), "c") == R"(["a","b"])");
        CHECK(index_without(std::string(R"(["a"])"), "a") == "[]");
        CHECK(index_without(std::string(R"(["a",null,"b"])"), "b") == R"(["a"])");
        error_of([] { (void)index_without(std::string("nope"), "a"); }, storage_errc::corrupt_record);
    }
}

TEST_CASE("a store left by Inrupt's library") {
    const json store = json::parse(read_file(std::string(SESSION_FIXTURES) + "/inrupt_store.json"));
    REQUIRE(store.is_object());

    // The ids of the fixture (see the comment of each record's kind below).
    const std::string dpop_session = "b94aa925-177c-4076-9e5c-fa827557e7ba";       // dynamic client, DPoP
    const std::string bearer_session = "17953339-2982-4dfc-a5ea-5553e1bf9945";     // Solid-OIDC client, Bearer
    const std::string set_session = "44e60ae6-a57b-4600-89bf-852a316d7d35";        // clientAppId & co.
    const std::string no_refresh = "ec7efb9c-9111-4202-99e3-53da40eccf4f";         // no refresh token
    const std::string pending = "ffbaed7b-d783-40ab-a8ba-ca19f662b9ac";            // login not finished
    const std::string client_credentials = "acfa15cf-4966-4818-a4d1-5603c5f09077"; // no issuer
    const std::string failed_login = "cc1b97a0-a1c8-42db-8918-28e4c5146d3e";       // indexed, no record
    const std::string oauth_state = "j8RRPKiUB7SqeUNgPKaoDaNhY0dFNKn-G6Aj2UpgYHs";

    std::map<std::string, session_record> records;
    std::map<std::string, std::string> sessions_of_states;
    std::set<std::string> sessions;
    std::set<std::string> other_keys;
    for (const auto& [key, value] : store.items()) {
        REQUIRE_MESSAGE(value.is_string(), key);
        const auto id = session_id_of_key(key);
        if (!id) {
            other_keys.insert(key);
            continue;
        }
        CAPTURE(key);
        const auto& text = value.get_ref<const std::string&>();
        session_record record;
        REQUIRE_NOTHROW(record = parse_session_record(*id, text));
        if (record.is_session())
            sessions.insert(std::string(*id));
        else if (const auto target = state_record_session_id(text))
            sessions_of_states[std::string(*id)] = *target;
        records[std::string(*id)] = record;
    }

    CHECK(sessions == std::set<std::string>{dpop_session, bearer_session, set_session, no_refresh, pending});
    CHECK(sessions_of_states == std::map<std::string, std::string>{{oauth_state, pending}});
    CHECK(other_keys ==
          std::set<std::string>{std::string(registered_sessions_key), "issuerConfig:https://issuer.example/"});

    SUBCASE("the index lists every registered id, including the ones that are not sessions") {
        const auto index = parse_session_index(store[std::string(registered_sessions_key)].get<std::string>());
        CHECK(index == std::vector<std::string>{dpop_session, bearer_session, set_session, no_refresh, pending,
                                                client_credentials, failed_login});
        CHECK(records.count(failed_login) == 0);
        REQUIRE(records.count(client_credentials) == 1);
        CHECK_FALSE(records[client_credentials].is_session());
        CHECK(records[client_credentials].client_type == "static");
        for (const auto& id : index)
            CHECK_NOTHROW(check_session_id(id));
        CHECK_NOTHROW(check_session_id(oauth_state));
    }
    SUBCASE("the DPoP session and its key pair") {
        const auto& r = records[dpop_session];
        CHECK(r.dpop);
        CHECK(r.is_logged_in);
        CHECK(r.issuer == "https://issuer.example/");
        CHECK(r.client_type == "dynamic");
        CHECK(r.client_expires_at == 0);
        CHECK(r.keep_alive == "true");
        CHECK(r.webid == "https://pod.example/alice/profile/card#me");
        REQUIRE(r.refresh_token.has_value());
        REQUIRE(r.public_key.has_value());
        REQUIRE(r.private_key.has_value());
        const json public_jwk = json::parse(*r.public_key);
        const json private_jwk = json::parse(*r.private_key);
        CHECK(public_jwk["alg"] == "ES256"); // Inrupt sets alg on the public JWK only
        CHECK_FALSE(public_jwk.contains("d"));
        CHECK(private_jwk.contains("d"));
        const auto key = oidc::parse_jwk(std::string_view(*r.private_key));
        CHECK(key.has_private);
        CHECK(oidc::jwk_thumbprint(public_jwk) == oidc::jwk_thumbprint(private_jwk));
    }
    SUBCASE("the Bearer session") {
        const auto& r = records[bearer_session];
        CHECK_FALSE(r.dpop);
        CHECK(r.client_type == "solid-oidc");
        CHECK(r.client_id == "https://app.example/id");
        CHECK_FALSE(r.client_secret.has_value());
        CHECK_FALSE(r.public_key.has_value());
        CHECK(r.refresh_token.has_value());
    }
    SUBCASE("the record written with the other spellings") {
        const auto& r = records[set_session];
        const json original = json::parse(store[record_key(set_session)].get<std::string>());
        CHECK(r.client_id == original["clientAppId"].get<std::string>());
        CHECK(r.client_secret == original["clientAppSecret"].get<std::string>());
        CHECK_FALSE(r.client_expires_at.has_value());
        CHECK(r.access_token_expires_at == 1767225600000);
        CHECK(r.dpop);
        CHECK(r.private_key.has_value());
        CHECK(r.other_fields.empty());
        const json back = as_json(serialize_session_record(r));
        CHECK(back["clientId"] == original["clientAppId"]);
        CHECK(back["clientSecret"] == original["clientAppSecret"]);
        CHECK(back["expirationDate"] == original["expirationDate"]);
    }
    SUBCASE("a session without a refresh token restores as logged out") {
        const auto& r = records[no_refresh];
        CHECK(r.is_session());
        CHECK_FALSE(r.refresh_token.has_value());
        CHECK(r.webid == "https://pod.example/dave/profile/card#me");
    }
    SUBCASE("the login in progress") {
        const auto& r = records[pending];
        CHECK(r.code_verifier.has_value());
        CHECK(r.client_expires_at == 1798761600);
        CHECK(r.keep_alive == "false");
        CHECK_FALSE(r.is_logged_in);
        CHECK_FALSE(r.refresh_token.has_value());
    }
    SUBCASE("our writer reproduces every record Inrupt wrote with the canonical spellings") {
        for (const auto& id : {dpop_session, bearer_session, no_refresh, pending, client_credentials}) {
            CAPTURE(id);
            const json original = json::parse(store[record_key(id)].get<std::string>());
            const json ours = as_json(serialize_session_record(records[id]));
            for (const auto& [name, value] : original.items()) {
                CAPTURE(name);
                REQUIRE(ours.contains(name));
                CHECK(ours[name] == value);
            }
            // The only members we add are the two booleans we always write, false where Inrupt
            // left them out (Inrupt reads a missing one as false too).
            for (const auto& [name, value] : ours.items()) {
                if (original.contains(name)) continue;
                CAPTURE(name);
                CHECK((name == "dpop" || name == "isLoggedIn"));
                CHECK(value == "false");
            }
        }
    }
    SUBCASE("every record survives a round trip") {
        for (const auto& [id, record] : records) {
            CAPTURE(id);
            CHECK(parse_session_record(id, serialize_session_record(record)) == record);
        }
    }
}
