// The bad-input matrix of rehydration: hostile or broken providers and corrupt records. Each case
// must end in its typed error, within its timeout (no hang), with the store exactly as it was
// (every key and value, and no lease left behind).
#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>
#include "session/session_record.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_ca.hpp"
#include "../support/session_seed.hpp"
#include "../support/test_issuer.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ms = multisession;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using multisession::http_errc;
using multisession::oidc_errc;
using multisession::storage_errc;
using namespace std::chrono_literals;

namespace {

const std::string client_id = "matrix-app";
const std::string client_secret = "matrix-secret";

std::map<std::string, std::string> snapshot(ms::storage& store) {
    std::map<std::string, std::string> out;
    store.for_each("", [&](std::string_view key, std::string_view value) { out.emplace(key, value); });
    return out;
}

struct matrix_case {
    std::string name;
    std::error_code expected;
    std::function<void(test::issuer_faults&)> faults{};
    std::function<std::string(const std::string& record)> corrupt{};
    std::chrono::milliseconds read_timeout{1000};
    std::chrono::milliseconds total_timeout{3000};
    /// The failure comes after a 2xx token response: the rotated refresh token is stored first
    /// (docs/sessions.md, "Persist first"), so the record changes by that token only.
    bool persists_rotation = false;
};

/// Stores a logged-in session at `issuer`, runs one rehydration under the case's faults, and checks
/// the error, the time it took and the store.
void run_case(const matrix_case& c, test::test_issuer& issuer, const std::string& ca_file = {}) {
    CAPTURE(c.name);
    issuer.set_faults({});
    auto store = ms::make_memory_storage();
    test::seed_options seed;
    seed.client_id = client_id;
    seed.client_secret = client_secret;
    const std::string session_id = test::seed_sessions(issuer, *store, 1, seed).at(0);
    if (c.corrupt) store->set(sd::record_key(session_id), c.corrupt(*store->get(sd::record_key(session_id))));
    const auto before = snapshot(*store);

    test::issuer_faults faults;
    if (c.faults) c.faults(faults);
    issuer.set_faults(faults);

    ms::session_manager_options o;
    o.store = store;
    o.allow_insecure_loopback = true;
    o.ca_file = ca_file;
    o.connect_timeout = 1s;
    o.read_timeout = c.read_timeout;
    o.total_timeout = c.total_timeout;
    ms::session_manager manager(o);

    std::error_code got;
    const auto start = std::chrono::steady_clock::now();
    try {
        auto s = manager.get_session_from_storage(session_id);
        FAIL("no error; logged in: " << (s && s->is_logged_in()));
    } catch (const ms::error& e) {
        got = e.code();
    }
    const auto took = std::chrono::steady_clock::now() - start;
    issuer.set_faults({});

    CHECK_MESSAGE(got == c.expected, "got '" << got.message() << "', expected '" << c.expected.message() << "'");
    // The request's own deadline plus slack for the machine; the DPoP nonce retry may make two.
    CHECK(took < 2 * c.total_timeout + 2s);
    const auto after = snapshot(*store);
    if (!c.persists_rotation) {
        CHECK(after == before);
        return;
    }
    // The token endpoint answered 2xx and rotated the refresh token before the ID token was found
    // bad: the new token is kept (the old one is dead at the provider), nothing else.
    REQUIRE(after.size() == before.size());
    const auto record_key = sd::record_key(session_id);
    for (const auto& [k, v] : before) {
        REQUIRE(after.count(k) == 1);
        if (k != record_key) CHECK(after.at(k) == v);
    }
    auto old_record = nlohmann::json::parse(before.at(record_key));
    auto new_record = nlohmann::json::parse(after.at(record_key));
    CHECK(new_record["refreshToken"] != old_record["refreshToken"]);
    for (const char* bookkeeping : {"refreshToken", "isLoggedIn", "expirationDate", "multisessionUpdatedAt"}) {
        old_record.erase(bookkeeping);
        new_record.erase(bookkeeping);
    }
    CHECK(new_record == old_record);
}

} // namespace

TEST_CASE("bad input: providers") {
    test::test_issuer issuer;
    const std::vector<matrix_case> cases = {
        {"answers slowly, byte by byte", make_error_code(http_errc::timeout),
         [](auto& f) { f.byte_interval = 100ms; }},
        {"never answers", make_error_code(http_errc::timeout), [](auto& f) { f.never_answer = true; }},
        {"answers after the read timeout", make_error_code(http_errc::timeout), [](auto& f) { f.delay = 2500ms; }},
        {"closes mid-body", make_error_code(http_errc::connection_closed), [](auto& f) { f.close_mid_body = true; }},
        {"sends a 1 GB body", make_error_code(http_errc::body_too_large),
         [](auto& f) { f.huge_body_bytes = 1024ull * 1024 * 1024; }},
        {"sends bodies that are not JSON", make_error_code(oidc_errc::malformed_response),
         [](auto& f) { f.malformed_json = true; }},
        {"answers 500 everywhere", make_error_code(oidc_errc::server_error), [](auto& f) { f.server_error = true; }},
        {"names another issuer", make_error_code(oidc_errc::issuer_mismatch), [](auto& f) { f.wrong_issuer = true; }},
        {"a token for another audience", make_error_code(oidc_errc::audience_mismatch),
         [](auto& f) { f.id_token_audience = "someone-else"; }, {}, 1000ms, 3000ms, true},
        {"an expired ID token", make_error_code(oidc_errc::token_expired), [](auto& f) { f.expired_id_token = true; }, {}, 1000ms, 3000ms, true},
        {"an ID token from the future", make_error_code(oidc_errc::token_not_yet_valid),
         [](auto& f) { f.future_id_token = true; }, {}, 1000ms, 3000ms, true},
        {"an alg none ID token", make_error_code(oidc_errc::unsupported_algorithm),
         [](auto& f) { f.id_token_alg_none = true; }, {}, 1000ms, 3000ms, true},
        {"an ID token whose signature does not verify", make_error_code(oidc_errc::invalid_token),
         [](auto& f) { f.bad_id_token_signature = true; }, {}, 1000ms, 3000ms, true},
        {"an unknown OAuth error", make_error_code(oidc_errc::oauth_error),
         [](auto& f) { f.oauth_error = "something_else"; }},
        // Redirects are never followed: the refresh token would go wherever the provider says.
        {"redirects the token request", make_error_code(oidc_errc::unexpected_status),
         [](auto& f) { f.token_redirect = "/token"; }},
        {"redirects the token request elsewhere", make_error_code(oidc_errc::unexpected_status),
         [](auto& f) { f.token_redirect = "https://evil.example/collect"; }},
    };
    for (const auto& c : cases) run_case(c, issuer);
}

TEST_CASE("bad input: a provider with a certificate from another CA") {
    test::test_ca ca;
    test::test_ca stranger{"a CA nobody trusts"};
    test::test_issuer_options io;
    io.tls = ca.issue_localhost();
    test::test_issuer issuer(io);
    test::temp_dir dir;
    run_case({"wrong TLS certificate", make_error_code(http_errc::tls_failed)}, issuer,
             stranger.write_cert(dir.path()).string());
}

TEST_CASE("bad input: records") {
    test::test_issuer issuer;
    const auto corrupt = make_error_code(storage_errc::corrupt_record);
    const auto with = [](std::string field, nlohmann::json value) {
        return [field, value](const std::string& record) {
            auto j = nlohmann::json::parse(record);
            j[field] = value;
            return j.dump();
        };
    };
    const std::vector<matrix_case> cases = {
        {"truncated", corrupt, {}, [](const std::string& r) { return r.substr(0, r.size() / 2); }},
        {"garbage bytes", corrupt, {}, [](const std::string&) { return std::string("{\xff\xfe\x00\x01garbage", 12); }},
        {"not an object", corrupt, {}, [](const std::string&) { return std::string("[\"issuer\"]"); }},
        {"a huge record", corrupt, {},
         [](const std::string& r) { return r.substr(0, r.size() - 1) + ",\"pad\":\"" + std::string(16 << 20, 'x'); }},
        {"refreshToken of the wrong type", corrupt, {}, with("refreshToken", 42)},
        {"issuer of the wrong type", corrupt, {}, with("issuer", nlohmann::json::array({"x"}))},
        {"a private key that is not a JWK", corrupt, {},
         with("privateKey", "{\"kty\":\"EC\"}")},
        {"duplicate refreshToken fields", corrupt, {},
         [](const std::string& r) { return "{\"refreshToken\":\"first\"," + r.substr(1); }},
        {"a value that is not UTF-8", corrupt, {},
         [](const std::string& r) {
             auto at = r.find("\"clientId\":\"") + 12;
             return r.substr(0, at) + "\xc3\x28" + r.substr(at);
         }},
    };
    for (const auto& c : cases) run_case(c, issuer);
}

TEST_CASE("bad input: session ids") {
    auto store = ms::make_memory_storage();
    store->set("outside", "untouched");
    ms::session_manager_options o;
    o.store = store;
    ms::session_manager manager(o);
    for (const std::string& id : {std::string("\xff\xfe"), std::string("a\nb"), std::string(), std::string(2000, 'x')}) {
        CAPTURE(id.size());
        try {
            manager.get_session_from_storage(id);
            FAIL("accepted");
        } catch (const ms::error& e) {
            CHECK(e.code() == make_error_code(storage_errc::invalid_key));
        }
    }
    // A path-traversal id is only a key: nothing there, and nothing outside is read or touched.
    CHECK_FALSE(manager.get_session_from_storage("../../outside").has_value());
    CHECK(snapshot(*store) == std::map<std::string, std::string>{{"outside", "untouched"}});
}
