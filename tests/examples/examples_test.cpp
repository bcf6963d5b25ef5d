// Smoke tests of the examples: each program runs as a child process against the embedded test
// issuer (plain HTTP on 127.0.0.1) and a real SQLite file, and is judged by what it prints, what
// it answers, the requests the issuer saw, and what is left in the store afterwards.
#include <multisession/multisession.hpp>

#include "../support/child_process.hpp"
#include "../support/session_seed.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_issuer.hpp"
#include "../support/transport_thread.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <unistd.h>

namespace ms = multisession;
namespace test = multisession::test;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view record_prefix = "solidClientAuthenticationUser:";

/// An example's executable; meson passes each one's path in the environment.
std::string example_path(const char* variable) {
    const char* path = std::getenv(variable);
    REQUIRE_MESSAGE(path != nullptr, variable << " is not set");
    return path;
}

/// The rest of a child's output, up to its end, one line per line.
std::vector<std::string> remaining_lines(test::child_process& child) {
    std::vector<std::string> lines;
    for (std::string line = child.read_line(); !line.empty(); line = child.read_line())
        lines.push_back(line);
    return lines;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines)
        text += l + "\n";
    return text;
}

bool contains(const std::vector<std::string>& lines, const std::string& wanted) {
    return std::find(lines.begin(), lines.end(), wanted) != lines.end();
}

bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return l.find(part) != std::string::npos; });
}

/// `text` fit for a query parameter's value.
std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// The refresh token a stored session record holds now.
std::string stored_refresh_token(ms::storage& store, const std::string& id) {
    const auto record = store.get(std::string(record_prefix) + id);
    REQUIRE(record);
    return nlohmann::json::parse(*record).at("refreshToken").get<std::string>();
}

} // namespace

TEST_CASE("three_functions: lists, rehydrates and clears every stored session") {
    test::temp_dir dir;
    test::test_issuer issuer;
    const std::string uri = "sqlite:" + (dir / "sessions.db").string();

    test::seed_options seed;
    seed.id_prefix = "anchor-";
    seed.webid_prefix = "https://anchor.example/user-";
    const auto ids = test::seed_sessions(issuer, *ms::open_storage(uri), 3, seed);
    issuer.reset_counters();

    test::child_process program({example_path("MULTISESSION_THREE_FUNCTIONS"), uri, "--allow-insecure-loopback"});
    const auto lines = remaining_lines(program);
    CHECK(program.wait() == 0);

    const std::string output = joined(lines);
    CAPTURE(output);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CHECK(contains(lines, ids[i] + " " + seed.webid_prefix + std::to_string(i) + "#me logged in"));
    }
    // Each session's record and the entry that finds it by its WebID (written by the refresh).
    CHECK(contains(lines, "cleared 3 sessions (6 entries)"));
    // One refresh per session, and each one accepted.
    CHECK(issuer.stats().token_requests == 3);
    CHECK(issuer.stats().tokens_issued == 3);
    CHECK(issuer.stats().refresh_reuses == 0);
    CHECK(ms::open_storage(uri)->keys().empty());
}

TEST_CASE("tenant_server: sessions per tenant, cached, fetching, and the batch clear on SIGTERM") {
    test::temp_dir dir;
    test::test_issuer issuer;
    const std::string uri = "sqlite:" + (dir / "sessions.db").string();

    // Two tenants in one store: alpha's sessions are cleared when the server stops, beta's stay.
    test::seed_options alpha_seed;
    alpha_seed.id_prefix = "alpha-";
    alpha_seed.webid_prefix = "https://alpha.example/user-";
    test::seed_options beta_seed;
    beta_seed.id_prefix = "beta-";
    beta_seed.webid_prefix = "https://beta.example/user-";
    std::vector<std::string> alpha_ids, beta_ids;
    {
        const auto store = ms::open_storage(uri);
        alpha_ids = test::seed_sessions(issuer, *ms::make_prefixed_storage(store, "tenant:alpha:"), 3, alpha_seed);
        beta_ids = test::seed_sessions(issuer, *ms::make_prefixed_storage(store, "tenant:beta:"), 2, beta_seed);
    }
    const auto alpha_webid = [&](int i) { return alpha_seed.webid_prefix + std::to_string(i) + "#me"; };
    const auto beta_webid = [&](int i) { return beta_seed.webid_prefix + std::to_string(i) + "#me"; };
    issuer.reset_counters();

    const std::string server_path = example_path("MULTISESSION_TENANT_SERVER");
    test::child_process server({server_path, "--store", uri, "--tenant", "alpha:ephemeral", "--tenant", "beta",
                                "--listen", "127.0.0.1:0", "--allow-insecure-loopback", "--shutdown-deadline", "20"});
    const std::string ready = server.read_line();
    const std::string announced = "listening on 127.0.0.1:";
    REQUIRE_MESSAGE(ready.starts_with(announced), "the server said: " << ready);
    const std::string base = "http://127.0.0.1:" + ready.substr(announced.size());

    // A keep-alive HTTP/1.1 client: requests after the first reuse its connection.
    test::transport_thread client({.allow_insecure_loopback = true});
    const auto request_for = [&](const std::string& path, const std::string& session) {
        ms::http::request req{"GET", base + path, {}, {}};
        if (!session.empty()) req.headers.push_back({"Cookie", "theme=dark; session=" + session});
        return req;
    };
    const auto get = [&](const std::string& path, const std::string& session = {}) {
        auto [ec, res] = client.send(request_for(path, session), 30s);
        REQUIRE_MESSAGE(!ec, path << ": " << ec.message());
        return res;
    };

    // /me rehydrates the session in its own tenant: one token request.
    auto me = get("/alpha/me", alpha_ids[0]);
    CHECK(me.status == 200);
    auto body = nlohmann::json::parse(me.body);
    CHECK(body["session"] == alpha_ids[0]);
    CHECK(body["webid"] == alpha_webid(0));
    CHECK(body["issuer"] == issuer.issuer());
    CHECK(body["expires"].is_string());
    CHECK(issuer.stats().token_requests == 1);
    const auto alpha_store = ms::make_prefixed_storage(ms::open_storage(uri), "tenant:alpha:");
    CHECK(me.body.find(stored_refresh_token(*alpha_store, alpha_ids[0])) == std::string::npos);

    // The second time it comes from the server's memory: no token request.
    me = get("/alpha/me", alpha_ids[0]);
    CHECK(me.status == 200);
    CHECK(nlohmann::json::parse(me.body)["webid"] == alpha_webid(0));
    CHECK(issuer.stats().token_requests == 1);

    me = get("/beta/me", beta_ids[1]);
    CHECK(me.status == 200);
    CHECK(nlohmann::json::parse(me.body)["webid"] == beta_webid(1));
    CHECK(issuer.stats().token_requests == 2);

    // Tenants never see each other's sessions; no cookie, an unknown one, or an unknown tenant.
    CHECK(get("/beta/me", alpha_ids[0]).status == 401);
    CHECK(get("/alpha/me").status == 401);
    CHECK(get("/alpha/me", "nobody").status == 401);
    CHECK(get("/gamma/me", alpha_ids[0]).status == 404);
    CHECK(get("/alpha/elsewhere", alpha_ids[0]).status == 404);
    CHECK(issuer.stats().token_requests == 2);

    // /fetch relays the protected resource's answer, reached with alpha-0's credentials.
    const auto fetched = get("/alpha/fetch?url=" + percent_encode(issuer.resource_url("/x")), alpha_ids[0]);
    CHECK(fetched.status == 200);
    CHECK(fetched.body == "hello " + alpha_webid(0));
    CHECK(issuer.stats().resource_authorized == 1);
    CHECK(get("/alpha/fetch", alpha_ids[0]).status == 400);

    // A refresh the provider refuses: 401 with the reason, and no token in the answer.
    {
        const auto token = stored_refresh_token(*alpha_store, alpha_ids[1]);
        test::issuer_faults refuse;
        refuse.oauth_error = "invalid_grant";
        issuer.set_faults(refuse);
        const auto refused = get("/alpha/me", alpha_ids[1]);
        issuer.set_faults({});
        CHECK(refused.status == 401);
        CHECK(nlohmann::json::parse(refused.body)["error"] == "the grant is invalid, expired, revoked or already used");
        CHECK(refused.body.find(token) == std::string::npos);
    }

    // SIGTERM while a request waits for the provider: it is still answered, then the server stops.
    test::issuer_faults slow;
    slow.delay = 1500ms;
    issuer.set_faults(slow);
    const auto before = issuer.stats().token_requests;
    auto in_flight = std::make_shared<std::promise<std::pair<std::error_code, ms::http::response>>>();
    auto answered = in_flight->get_future();
    client.transport()->async_send(request_for("/alpha/me", alpha_ids[2]),
                                   [in_flight](std::error_code ec, ms::http::response res) {
                                       in_flight->set_value({ec, std::move(res)});
                                   });
    for (int i = 0; i < 1000 && issuer.stats().token_requests == before; ++i)
        std::this_thread::sleep_for(10ms);
    REQUIRE(issuer.stats().token_requests == before + 1);

    REQUIRE(server.signal(SIGTERM));

    REQUIRE(answered.wait_for(30s) == std::future_status::ready);
    const auto [late_error, late] = answered.get();
    CHECK_FALSE(late_error);
    CHECK(late.status == 200);
    CHECK(late.header_value("Connection") == "close");
    CHECK(late.body.find(alpha_webid(2)) != std::string::npos);

    const auto lines = remaining_lines(server);
    CHECK(server.wait() == 0);
    const std::string output = joined(lines);
    CAPTURE(output);
    CHECK(contains(lines, "cleared alpha: 3 sessions"));
    CHECK_FALSE(any_contains(lines, "cleared beta"));
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back() == "stopped");

    // The store, opened again: alpha's namespace is empty, every beta session is still there.
    const auto store = ms::open_storage(uri);
    CHECK(ms::make_prefixed_storage(store, "tenant:alpha:")->keys().empty());
    const auto beta_left = ms::make_prefixed_storage(store, "tenant:beta:")->keys(std::string(record_prefix));
    CHECK(beta_left.size() == beta_ids.size());
    for (const auto& id : beta_ids)
        CHECK(std::find(beta_left.begin(), beta_left.end(), std::string(record_prefix) + id) != beta_left.end());
}
