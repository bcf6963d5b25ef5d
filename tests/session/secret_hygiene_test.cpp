// Secret hygiene: the failure paths of rehydration run with known secret values (the refresh
// token, the client secret, the DPoP private key), and no exception message, event, or report of
// the store may contain any of them. Hostile providers are included: one that echoes the refresh
// token back as its OAuth error code, one that names the client secret as the ID token's audience.
// (The command-line tool's output is checked for the same secrets on every run in cli_test.)
#include <multisession/session.hpp>
#include <multisession/storage/memory.hpp>
#include "oidc/dpop.hpp"
#include "session/session_record.hpp"
#include "../support/session_seed.hpp"
#include "../support/test_issuer.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace ms = multisession;
namespace oidc = multisession::oidc;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using namespace std::chrono_literals;

namespace {

const std::string client_id = "hygiene-app";
const std::string client_secret = "CANARY-client-secret-7f3a9c";

/// Everything a failure produced that a user could see: exception texts, event errors and the
/// store's reports.
struct seen_texts {
    std::mutex mutex;
    std::vector<std::string> texts;
    void add(std::string text) {
        std::lock_guard lock(mutex);
        texts.push_back(std::move(text));
    }
};

struct hygiene_case {
    const char* name;
    std::function<void(test::issuer_faults&, const std::string& refresh_token)> faults;
    /// Changes the stored record's text (a corrupt record); empty: stored as written.
    std::function<std::string(const std::string& record, const std::string& d)> corrupt;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

} // namespace

TEST_CASE("no failure path shows a secret") {
    const std::vector<hygiene_case> cases = {
        {"token endpoint answers 500", [](auto& f, auto&) { f.token_server_error = true; }, {}},
        {"every endpoint answers 500", [](auto& f, auto&) { f.server_error = true; }, {}},
        {"bodies are not JSON", [](auto& f, auto&) { f.malformed_json = true; }, {}},
        {"the connection closes mid-body", [](auto& f, auto&) { f.close_mid_body = true; }, {}},
        {"a huge body", [](auto& f, auto&) { f.huge_body_bytes = 20 * 1024 * 1024; }, {}},
        {"the provider names another issuer", [](auto& f, auto&) { f.wrong_issuer = true; }, {}},
        {"an expired ID token", [](auto& f, auto&) { f.expired_id_token = true; }, {}},
        {"an ID token with a bad signature", [](auto& f, auto&) { f.bad_id_token_signature = true; }, {}},
        {"an unsecured ID token (alg none)", [](auto& f, auto&) { f.id_token_alg_none = true; }, {}},
        {"the ID token's audience is the client secret",
         [](auto& f, auto&) { f.id_token_audience = client_secret; }, {}},
        {"the OAuth error code is the refresh token", [](auto& f, const std::string& rt) { f.oauth_error = rt; }, {}},
        {"invalid_grant", [](auto& f, auto&) { f.oauth_error = "invalid_grant"; }, {}},
        {"invalid_client", [](auto& f, auto&) { f.oauth_error = "invalid_client"; }, {}},
        {"a record cut short in its refresh token", {},
         [](const std::string& record, const std::string&) {
             const auto at = record.find("\"refreshToken\"");
             return record.substr(0, at + 30);
         }},
        {"a refresh token of the wrong JSON type, secrets beside it", {},
         [](const std::string& record, const std::string&) {
             auto j = nlohmann::json::parse(record);
             j["refreshToken"] = 42;
             return j.dump();
         }},
        {"a private key that does not match its public key", {},
         [](const std::string& record, const std::string&) {
             auto j = nlohmann::json::parse(record);
             auto other = nlohmann::json::parse(oidc::dpop_key::generate().public_jwk_json());
             auto priv = nlohmann::json::parse(j["privateKey"].get<std::string>());
             priv["x"] = other["x"];
             priv["y"] = other["y"];
             j["privateKey"] = priv.dump();
             return j.dump();
         }},
        {"a private key that is not JSON, its d inside", {},
         [](const std::string& record, const std::string& d) {
             auto j = nlohmann::json::parse(record);
             j["privateKey"] = "{\"kty\":\"EC\",\"d\":\"" + d + "\",";
             return j.dump();
         }},
        {"a private key whose d is not base64url", {},
         [](const std::string& record, const std::string& d) {
             return replace_all(record, d, d.substr(0, 20) + "!*" + d.substr(20));
         }},
    };

    for (const auto& c : cases) {
        const std::string name = c.name;
        CAPTURE(name);
        test::test_issuer issuer;
        auto store = ms::make_memory_storage();
        seen_texts seen;
        store->set_error_handler([&seen](const ms::error& e) { seen.add(e.what()); });

        // The record, with its secrets remembered: the refresh token, the client secret, the
        // private key (its JSON and its d).
        test::seed_options seed;
        seed.client_id = client_id;
        seed.client_secret = client_secret;
        const std::string session_id = test::seed_sessions(issuer, *store, 1, seed).at(0);
        const auto r = sd::parse_session_record(session_id, *store->get(sd::record_key(session_id)));
        const std::string d = nlohmann::json::parse(*r.private_key).at("d").get<std::string>();
        const std::vector<std::string> secrets = {*r.refresh_token, client_secret, *r.private_key, d};
        std::string text = *store->get(sd::record_key(session_id));
        if (c.corrupt) text = c.corrupt(text, d);
        store->set(sd::record_key(session_id), text);

        test::issuer_faults faults;
        if (c.faults) c.faults(faults, *r.refresh_token);
        issuer.set_faults(faults);

        ms::session_manager_options o;
        o.store = store;
        o.allow_insecure_loopback = true;
        o.read_timeout = 2s;
        o.on_event = [&seen](const ms::session_event& e) {
            if (e.error) seen.add(e.error.message());
        };
        ms::session_manager manager(o);

        bool failed = false;
        try {
            auto s = manager.get_session_from_storage(session_id);
            failed = !s || !s->is_logged_in();
        } catch (const std::exception& e) {
            failed = true;
            seen.add(e.what());
        }
        // The detailed messages of the record reader and the key loader, which the command-line
        // tool and the error handler print, for the record as stored.
        try {
            const auto stored = sd::parse_session_record(session_id, text);
            if (stored.public_key && stored.private_key) oidc::dpop_key::from_jwk(*stored.public_key, *stored.private_key);
        } catch (const std::exception& e) {
            seen.add(e.what());
        }
        // The listing and a second attempt go through the same record again.
        for (const auto& id : manager.get_session_id_from_storage_all()) seen.add(id);
        try {
            manager.get_session_from_storage(session_id);
        } catch (const std::exception& e) {
            seen.add(e.what());
        }

        CHECK_MESSAGE(failed, "the failure path was not taken");
        CHECK_FALSE(seen.texts.empty());
        for (const auto& t : seen.texts) {
            for (const auto& secret : secrets) CHECK_MESSAGE(t.find(secret) == std::string::npos, "secret shown in: " << t);
            // Nor a long piece of one (a message that quotes a truncated token).
            for (const auto& secret : secrets)
                CHECK_MESSAGE(t.find(secret.substr(0, 16)) == std::string::npos, "part of a secret shown in: " << t);
        }
    }
}
