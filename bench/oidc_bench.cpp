// oidc_bench: what the protocol costs per session, on the client side.
//
//   oidc_bench [--seconds S]
//
//   --seconds S   how long each measurement runs (default 2)
//
// 1. One DPoP proof (ES256 signature, JSON, base64url), without and with `ath`.
// 2. One ID-token verification (JWKS key lookup, signature, claims) per signing algorithm.
// 3. Token requests per second over one kept-alive connection (max_connections_per_origin = 1),
//    one request at a time, through the provider client (discovery cached, DPoP proof, request,
//    response parse), against:
//      - an instant endpoint: a local server answering a prepared token response, so the figure
//        is the client's (and the loopback's) own limit;
//      - the embedded test issuer, which checks each DPoP proof, rotates the refresh token and
//        signs two JWTs per answer.
//    Client CPU per request is the CPU time of the calling thread plus the client's I/O thread.
// Everything runs on 127.0.0.1 in this process; servers run on their own threads.
#include "http/beast_transport.hpp"
#include "oidc/dpop.hpp"
#include "oidc/jwt.hpp"
#include "oidc/provider_client.hpp"

#include "../tests/support/test_http_server.hpp"
#include "../tests/support/test_issuer.hpp"
#include "../tests/support/transport_thread.hpp"

#include <nlohmann/json.hpp>

#include <pthread.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

namespace http = multisession::http;
namespace oidc = multisession::oidc;
namespace test = multisession::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_per_phase = 2.0;

double thread_cpu_seconds(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

clockid_t this_thread_clock() {
    clockid_t id{};
    pthread_getcpuclockid(pthread_self(), &id);
    return id;
}

/// Runs `op` repeatedly for the phase length; returns microseconds per call.
template <class F>
double micros_per_call(F&& op) {
    // Warm up (OpenSSL's lazily built tables, allocator).
    for (int i = 0; i < 50; ++i) op();
    std::size_t calls = 0;
    const auto start = clock_type::now();
    const auto stop = start + std::chrono::duration<double>(seconds_per_phase);
    auto now = start;
    while (now < stop) {
        for (int i = 0; i < 64; ++i) op();
        calls += 64;
        now = clock_type::now();
    }
    return std::chrono::duration<double, std::micro>(now - start).count() / static_cast<double>(calls);
}

struct client_side {
    test::transport_thread io{options()};
    std::shared_ptr<oidc::provider_client> client =
        oidc::provider_client::create(io.transport(), {.allow_insecure_loopback = true});
    clockid_t runner_clock{};

    client_side() { pthread_getcpuclockid(io.thread().native_handle(), &runner_clock); }

    static http::client_options options() {
        http::client_options o;
        o.allow_insecure_loopback = true;
        o.max_connections_per_origin = 1;
        return o;
    }
};

struct rate {
    double per_second = 0;
    double client_cpu_us = 0;
    std::size_t requests = 0;
};

/// Sequential refreshes for the phase length; `next_token` gives the refresh token to redeem.
template <class Next>
rate refresh_loop(client_side& c, const std::string& issuer, const oidc::client_info& client,
                  const oidc::dpop_key& key, Next&& next_token) {
    for (int i = 0; i < 20; ++i) next_token(c.client->refresh(issuer, client, next_token(std::nullopt), key));
    const auto self_clock = this_thread_clock();
    const double cpu0 = thread_cpu_seconds(self_clock) + thread_cpu_seconds(c.runner_clock);
    const auto start = clock_type::now();
    const auto stop = start + std::chrono::duration<double>(seconds_per_phase);
    std::size_t n = 0;
    auto now = start;
    while (now < stop) {
        next_token(c.client->refresh(issuer, client, next_token(std::nullopt), key));
        ++n;
        now = clock_type::now();
    }
    const double cpu1 = thread_cpu_seconds(self_clock) + thread_cpu_seconds(c.runner_clock);
    const double wall = std::chrono::duration<double>(now - start).count();
    return {static_cast<double>(n) / wall, (cpu1 - cpu0) * 1e6 / static_cast<double>(n), n};
}

void bench_dpop() {
    const auto key = oidc::dpop_key::generate();
    const std::string url = "https://issuer.example/token";
    const std::string access_token(800, 'a');
    const double plain = micros_per_call([&] {
        auto proof = oidc::make_dpop_proof(key, "POST", url, std::chrono::system_clock::now());
        if (proof.empty()) std::abort();
    });
    const double with_ath = micros_per_call([&] {
        auto proof = oidc::make_dpop_proof(key, "GET", url, std::chrono::system_clock::now(), std::nullopt, access_token);
        if (proof.empty()) std::abort();
    });
    std::printf("DPoP proof (ES256)                       %8.1f us\n", plain);
    std::printf("DPoP proof with ath (800-byte token)     %8.1f us\n", with_ath);
}

void bench_id_token() {
    std::printf("\nID-token verification (JWKS lookup by kid, signature, iss/aud/exp/iat)\n");
    for (const std::string alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
        test::test_issuer issuer({.signing_algorithm = alg});
        client_side c;
        const auto keys = c.client->fetch_jwks(issuer.issuer());
        const auto now = std::chrono::system_clock::now();
        const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
        nlohmann::json claims = {{"aud", "app"}, {"sub", "https://alice.example/profile/card#me"},
                                 {"webid", "https://alice.example/profile/card#me"}, {"iat", iat},
                                 {"exp", iat + 3600}, {"azp", "app"}};
        const auto token = issuer.sign_token(claims.dump());
        oidc::jwt_expectations expected;
        expected.issuer = issuer.issuer();
        expected.audience = "app";
        expected.now = now;
        const double us = micros_per_call([&] {
            auto verified = oidc::verify_jwt(token, *keys, expected);
            if (verified.empty()) std::abort();
        });
        std::printf("  %-6s                                 %8.1f us\n", alg.c_str(), us);
    }
}

void bench_token_requests() {
    std::printf("\nToken requests over one kept-alive connection, one at a time (DPoP, refresh_token grant)\n");
    std::printf("%-34s %10s %14s %12s\n", "endpoint", "requests/s", "client CPU us", "connections");

    const auto key = oidc::dpop_key::generate();
    const oidc::client_info client{"app", std::string("app-secret"), oidc::client_type::static_client};

    // The instant endpoint: discovery and a prepared token response.
    {
        std::string base;
        const std::string token_body = nlohmann::json{{"access_token", std::string(600, 'x')},
                                                      {"token_type", "DPoP"},
                                                      {"expires_in", 300},
                                                      {"refresh_token", "rt-next"},
                                                      {"scope", "openid offline_access webid"}}
                                           .dump();
        test::test_http_server server([&](const http::request& req) {
            if (req.url == "/.well-known/openid-configuration") {
                return test::reply::json(nlohmann::json{{"issuer", base},
                                                        {"token_endpoint", base + "/token"},
                                                        {"jwks_uri", base + "/jwks"},
                                                        {"dpop_signing_alg_values_supported", {"ES256"}}}
                                             .dump());
            }
            return test::reply::json(token_body);
        });
        base = server.url("");
        if (!base.empty() && base.back() == '/') base.pop_back();
        client_side c;
        const auto r = refresh_loop(c, base, client, key, [](std::optional<oidc::token_set> t) -> std::string {
            (void)t;
            return "rt";
        });
        std::printf("%-34s %10.0f %14.1f %12zu\n", "instant (prepared answer)", r.per_second, r.client_cpu_us,
                    server.connection_count());
    }

    // The embedded test issuer: proof checks, rotation, two signed JWTs per answer.
    {
        test::test_issuer issuer;
        issuer.add_client({"app", std::string("app-secret"), std::nullopt});
        std::string current = issuer.mint_refresh_token("app", "https://alice.example/profile/card#me", key.thumbprint());
        client_side c;
        const auto r = refresh_loop(c, issuer.issuer(), client, key, [&](std::optional<oidc::token_set> t) {
            if (t) current = *t->refresh_token;
            return current;
        });
        std::printf("%-34s %10.0f %14.1f %12zu\n", "test issuer (rotating, ES256)", r.per_second, r.client_cpu_us,
                    issuer.server().connection_count());
    }
}

} // namespace

int main(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--seconds" && i + 1 < argc) {
            seconds_per_phase = std::atof(argv[++i]);
            if (seconds_per_phase <= 0) {
                std::fprintf(stderr, "oidc_bench: --seconds needs a positive number\n");
                return 2;
            }
        } else {
            std::fprintf(stderr, "usage: oidc_bench [--seconds S]\n");
            return 2;
        }
    }
    std::printf("Protocol cost per operation (one thread; %.1f s per measurement)\n", seconds_per_phase);
    bench_dpop();
    bench_id_token();
    bench_token_requests();
    return 0;
}
