// The Beast transport against the in-process test server: plain and TLS exchanges, pooling,
// refusals, certificate failures, every timeout and every broken-server case. All traffic goes to
// 127.0.0.1 (203.0.113.1 is used only to prove that no connection is attempted).
#include "http/beast_transport.hpp"
#include "http/url.hpp"

#include "../support/temp_dir.hpp"
#include "../support/test_ca.hpp"
#include "../support/test_http_server.hpp"

#include <multisession/error.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <doctest/doctest.h>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>

namespace http = multisession::http;
namespace test = multisession::test;
using multisession::http_errc;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct test_pki {
    test::temp_dir dir;
    test::test_ca ca;
    test::test_ca stranger{"an untrusted CA"};
    test::tls_identity localhost = ca.issue_localhost();
    test::tls_identity wrong_host = ca.issue({"DNS:wrong.example"});
    std::string ca_file = ca.write_cert(dir.path()).string();
};

const test_pki& pki() {
    static const test_pki shared;
    return shared;
}

struct outcome {
    std::error_code ec;
    http::response res;
    clock_type::duration took{};
};

// A transport on an io_context that the test thread drives.
struct client {
    boost::asio::io_context ioc;
    std::shared_ptr<http::transport> transport;

    explicit client(http::client_options options)
        : transport(http::make_beast_transport(ioc.get_executor(), std::move(options))) {}

    ~client() {
        transport->shutdown();
        ioc.restart();
        ioc.run_for(2s);
    }

    template <class Pred>
    void run_until(Pred done, clock_type::duration limit = 60s) {
        const auto give_up = clock_type::now() + limit;
        while (!done()) {
            if (clock_type::now() >= give_up) FAIL("gave up waiting");
            if (ioc.stopped()) ioc.restart();
            // Out of work returns at once: yield so the server thread gets on (matters under valgrind).
            if (ioc.run_one_for(50ms) == 0) std::this_thread::sleep_for(1ms);
        }
    }

    void run_for(clock_type::duration d) {
        ioc.restart();
        ioc.run_for(d);
    }

    // Starts `req`; the outcome lands in `slot`, and a second completion fails the test.
    void start(http::request req, std::optional<outcome>& slot) {
        const auto started = clock_type::now();
        transport->async_send(std::move(req), [&slot, started](std::error_code ec, http::response res) {
            CHECK_FALSE(slot.has_value());
            slot = outcome{ec, std::move(res), clock_type::now() - started};
        });
    }

    outcome send(http::request req) {
        std::optional<outcome> out;
        start(std::move(req), out);
        run_until([&] { return out.has_value(); });
        return *out;
    }
};

http::client_options loopback_options() {
    http::client_options o;
    o.allow_insecure_loopback = true;
    return o;
}

http::client_options tls_options() {
    http::client_options o;
    o.ca_file = pki().ca_file;
    return o;
}

http::request get(std::string url) { return {"GET", std::move(url), {}, {}}; }

// Echoes what the server received, so tests see what the client put on the wire.
test::reply echo(const http::request& req) {
    auto r = test::reply::text(200, req.method + " " + req.url + " " + req.body);
    for (const auto& h : req.headers)
        r.headers.push_back({"X-Echo-" + h.name, h.value});
    return r;
}

long peak_rss_kib() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

} // namespace

TEST_CASE("GET and POST over plain HTTP to loopback when allowed") {
    test::test_http_server server(echo);
    client c(loopback_options());

    auto got = c.send(get(server.url("/a/b?x=1#frag")));
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.status == 200);
    CHECK(got.res.body == "GET /a/b?x=1 ");
    CHECK(got.res.header_value("x-echo-host") == "127.0.0.1:" + std::to_string(server.port()));
    CHECK(got.res.header_value("X-ECHO-USER-AGENT") == "multisession/0.1");
    CHECK(got.res.header_value("content-type") == "text/plain");
    CHECK_FALSE(got.res.header_value("x-absent").has_value());

    http::request post{"POST",
                       server.url("/token"),
                       {{"Content-Type", "application/x-www-form-urlencoded"}, {"User-Agent", "custom"}},
                       "grant_type=refresh_token"};
    got = c.send(post);
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.body == "POST /token grant_type=refresh_token");
    CHECK(got.res.header_value("x-echo-content-length") == "24");
    CHECK(got.res.header_value("x-echo-user-agent") == "custom");

    got = c.send(get(server.url("/", "localhost")));
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.header_value("x-echo-host") == "localhost:" + std::to_string(server.port()));
}

TEST_CASE("GET and POST over HTTPS trusting the generated CA") {
    test::test_http_server server(echo, pki().localhost);
    client c(tls_options());

    for (const char* host : {"localhost", "127.0.0.1"}) {
        CAPTURE(host);
        auto got = c.send(get(server.url("/userinfo", host)));
        REQUIRE_FALSE(got.ec);
        CHECK(got.res.status == 200);
        CHECK(got.res.body == "GET /userinfo ");
        got = c.send({"POST", server.url("/token", host), {}, "a=b"});
        REQUIRE_FALSE(got.ec);
        CHECK(got.res.body == "POST /token a=b");
    }
}

TEST_CASE("sequential requests reuse one kept-alive connection") {
    SUBCASE("http") {
        test::test_http_server server(echo);
        client c(loopback_options());
        for (int i = 0; i < 20; ++i)
            REQUIRE_FALSE(c.send(get(server.url("/n"))).ec);
        CHECK(server.request_count() == 20);
        CHECK(server.connection_count() == 1);
    }
    SUBCASE("https") {
        test::test_http_server server(echo, pki().localhost);
        client c(tls_options());
        for (int i = 0; i < 10; ++i)
            REQUIRE_FALSE(c.send(get(server.url("/n", "localhost"))).ec);
        c.run_for(200ms); // idle long enough for the pool to see anything the server sends (TLS tickets)
        for (int i = 0; i < 10; ++i)
            REQUIRE_FALSE(c.send(get(server.url("/n", "localhost"))).ec);
        CHECK(server.request_count() == 20);
        CHECK(server.connection_count() == 1);
    }
}

TEST_CASE("concurrent requests stay within max_connections_per_origin and all succeed") {
    test::test_http_server server([](const http::request& req) {
        auto r = echo(req);
        r.delay_before_headers = 20ms;
        return r;
    });
    auto options = loopback_options();
    options.max_connections_per_origin = 4;
    client c(options);

    std::vector<std::optional<outcome>> results(40);
    for (std::size_t i = 0; i < results.size(); ++i)
        c.start(get(server.url("/r" + std::to_string(i))), results[i]);
    c.run_until(
        [&] { return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }); });

    for (std::size_t i = 0; i < results.size(); ++i) {
        REQUIRE_FALSE(results[i]->ec);
        CHECK(results[i]->res.body == "GET /r" + std::to_string(i) + " ");
    }
    CHECK(server.request_count() == 40);
    CHECK(server.peak_open_connections() <= 4);
    CHECK(server.connection_count() <= 4);
    CHECK(server.connection_count() >= 2); // the requests did overlap
}

TEST_CASE("plain HTTP is refused unless allowed, and never to a non-loopback host") {
    test::test_http_server server(echo);
    {
        client c(http::client_options{});
        auto got = c.send(get(server.url("/")));
        CHECK(got.ec == http_errc::insecure_url_refused);
        got = c.send(get(server.url("/", "localhost")));
        CHECK(got.ec == http_errc::insecure_url_refused);
    }
    CHECK(server.connection_count() == 0);

    client c(loopback_options());
    for (const char* url : {"http://203.0.113.1/token", "http://203.0.113.1:8080/", "http://localhost.example/",
                            "http://127.0.0.2/", "http://[::2]/", "http://example.com/"}) {
        CAPTURE(url);
        auto got = c.send(get(url));
        CHECK(got.ec == http_errc::insecure_url_refused);
        CHECK(got.took < 500ms); // refused before any connection attempt
    }
}

TEST_CASE("malformed URLs and requests are rejected with invalid_url") {
    client c(loopback_options());
    for (const char* url :
         {"", "/relative", "ftp://127.0.0.1/", "https://", "https:///path", "https://user:pw@localhost/",
          "https://local host/", "https://localhost:0/", "https://localhost:65536/", "https://localhost:12a/",
          "https://[::1/", "https://[zz]/", "https://exa$mple.com/", "127.0.0.1:80/"}) {
        CAPTURE(url);
        CHECK(c.send(get(url)).ec == http_errc::invalid_url);
    }
    CHECK(c.send({"GET", "https://localhost/", {{"X-Bad", "a\r\nInjected: yes"}}, {}}).ec == http_errc::invalid_url);
    CHECK(c.send({"get me", "https://localhost/", {}, {}}).ec == http_errc::invalid_url);
}

TEST_CASE("URL parts: origin, Host header, target, IP literals") {
    std::error_code ec;
    auto u = http::parse_url("HTTPS://Issuer.Example/token?x=1#f", ec);
    REQUIRE_FALSE(ec);
    CHECK(u.tls);
    CHECK(u.host == "issuer.example");
    CHECK(u.port == 443);
    CHECK(u.target == "/token?x=1");
    CHECK_FALSE(u.ip_literal);
    CHECK(u.origin() == "https://issuer.example:443");
    CHECK(u.host_header() == "issuer.example");

    u = http::parse_url("http://[::1]:8080?q", ec);
    REQUIRE_FALSE(ec);
    CHECK(u.host == "::1");
    CHECK((u.ip_literal && u.ipv6));
    CHECK(u.target == "/?q");
    CHECK(u.origin() == "http://[::1]:8080");
    CHECK(u.host_header() == "[::1]:8080");
    CHECK(http::is_loopback_host(u.host));

    u = http::parse_url("https://127.0.0.1:8443", ec);
    REQUIRE_FALSE(ec);
    CHECK(u.ip_literal);
    CHECK(u.target == "/");
    CHECK(u.host_header() == "127.0.0.1:8443");
    CHECK_FALSE(http::is_loopback_host("127.0.0.2"));
}

TEST_CASE("TLS fails for a certificate naming another host") {
    test::test_http_server server(echo, pki().wrong_host);
    client c(tls_options());
    for (const char* host : {"localhost", "127.0.0.1"}) {
        CAPTURE(host);
        CHECK(c.send(get(server.url("/", host))).ec == http_errc::tls_failed);
    }
    CHECK(server.request_count() == 0);
}

TEST_CASE("TLS fails for a CA that is not trusted") {
    SUBCASE("system trust store") {
        test::test_http_server server(echo, pki().localhost);
        client c(http::client_options{});
        CHECK(c.send(get(server.url("/", "localhost"))).ec == http_errc::tls_failed);
        CHECK(server.request_count() == 0);
    }
    SUBCASE("a CA file of another CA") {
        test::temp_dir dir;
        http::client_options options;
        options.ca_file = pki().stranger.write_cert(dir.path()).string();
        test::test_http_server server(echo, pki().localhost);
        client c(options);
        CHECK(c.send(get(server.url("/", "localhost"))).ec == http_errc::tls_failed);
    }
}

TEST_CASE("an unreadable CA file fails at construction") {
    http::client_options options;
    options.ca_file = "/nonexistent/ca.pem";
    boost::asio::io_context ioc;
    CHECK_THROWS_AS(http::make_beast_transport(ioc.get_executor(), options), multisession::error);
}

TEST_CASE("nobody listening: connect_failed") {
    boost::asio::io_context probe;
    boost::asio::ip::tcp::acceptor acceptor(probe, {boost::asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    acceptor.close();
    client c(loopback_options());
    CHECK(c.send(get("http://127.0.0.1:" + std::to_string(port) + "/")).ec == http_errc::connect_failed);
}

TEST_CASE("connect_timeout covers the TLS handshake") {
    // The kernel completes the TCP handshake from the listen backlog; nobody ever speaks TLS.
    boost::asio::io_context silent;
    boost::asio::ip::tcp::acceptor acceptor(silent, {boost::asio::ip::make_address("127.0.0.1"), 0});
    auto options = tls_options();
    options.connect_timeout = 200ms;
    client c(options);
    auto got = c.send(get("https://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/"));
    CHECK(got.ec == http_errc::timeout);
    CHECK(got.took >= 150ms);
    CHECK(got.took < 2s);
}

TEST_CASE("a server slower than read_timeout: timeout") {
    test::test_http_server server([](const http::request& req) {
        auto r = echo(req);
        r.delay_before_headers = 3s;
        return r;
    });
    auto options = loopback_options();
    options.read_timeout = 200ms;
    client c(options);
    auto got = c.send(get(server.url("/slow")));
    CHECK(got.ec == http_errc::timeout);
    CHECK(got.took >= 150ms);
    CHECK(got.took < 2s);
}

TEST_CASE("a body trickling past total_timeout: timeout, though every read is quick") {
    test::test_http_server server([](const http::request&) {
        auto r = test::reply::text(200, std::string(200, 'b'));
        r.byte_interval = 20ms; // 4 s for the body; each byte well within read_timeout
        return r;
    });
    auto options = loopback_options();
    options.read_timeout = 1s;
    options.total_timeout = 500ms;
    client c(options);
    auto got = c.send(get(server.url("/trickle")));
    CHECK(got.ec == http_errc::timeout);
    CHECK(got.took >= 450ms);
    CHECK(got.took < 2s);
}

TEST_CASE("a trickling body within the deadlines arrives whole") {
    test::test_http_server server([](const http::request&) {
        auto r = test::reply::text(200, "slow but fine");
        r.byte_interval = 5ms;
        return r;
    });
    client c(loopback_options());
    auto got = c.send(get(server.url("/")));
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.body == "slow but fine");
}

TEST_CASE("the server closes mid-body: connection_closed") {
    test::test_http_server server([](const http::request&) {
        auto r = test::reply::text(200, std::string(10000, 'c'));
        r.close_mid_body = true;
        return r;
    });
    client c(loopback_options());
    CHECK(c.send(get(server.url("/"))).ec == http_errc::connection_closed);
}

TEST_CASE("a fresh connection closed without an answer is not retried: connection_closed") {
    test::test_http_server server([](const http::request&) {
        test::reply r;
        r.close_without_answer = true;
        return r;
    });
    client c(loopback_options());
    CHECK(c.send(get(server.url("/"))).ec == http_errc::connection_closed);
    CHECK(server.request_count() == 1);
}

TEST_CASE("bodies beyond max_body_size: body_too_large, quickly, without buffering them") {
    const auto rss_before = peak_rss_kib();
    SUBCASE("declared by Content-Length") {
        test::test_http_server server([](const http::request&) {
            test::reply r;
            r.stream_body_bytes = 100u << 20;
            return r;
        });
        client c(loopback_options());
        auto got = c.send(get(server.url("/big")));
        CHECK(got.ec == http_errc::body_too_large);
        CHECK(got.took < 5s);
    }
    SUBCASE("close-delimited, noticed while streaming") {
        test::test_http_server server([](const http::request&) {
            test::reply r;
            r.stream_body_bytes = 100u << 20;
            r.omit_content_length = true;
            return r;
        });
        client c(loopback_options());
        auto got = c.send(get(server.url("/big")));
        CHECK(got.ec == http_errc::body_too_large);
        CHECK(got.took < 5s);
    }
    SUBCASE("just below the cap is fine") {
        test::test_http_server server(
            [](const http::request&) { return test::reply::text(200, std::string(4096, 'k')); });
        auto options = loopback_options();
        options.max_body_size = 4096;
        client c(options);
        auto got = c.send(get(server.url("/")));
        REQUIRE_FALSE(got.ec);
        CHECK(got.res.body.size() == 4096);
    }
    CHECK(peak_rss_kib() - rss_before < 40 * 1024);
}

TEST_CASE("a response that is not HTTP: malformed_response") {
    for (const char* raw :
         {"this is not http\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"}) {
        CAPTURE(raw);
        test::test_http_server server([raw](const http::request&) {
            test::reply r;
            r.raw = raw;
            return r;
        });
        client c(loopback_options());
        CHECK(c.send(get(server.url("/"))).ec == http_errc::malformed_response);
    }
}

TEST_CASE("after the server closed an idle kept-alive connection, the next request reconnects") {
    test::test_http_server server(echo);
    client c(loopback_options());
    REQUIRE_FALSE(c.send(get(server.url("/1"))).ec);
    server.close_idle_connections();
    SUBCASE("noticed while idle") { c.run_for(200ms); }
    SUBCASE("noticed on reuse") { std::this_thread::sleep_for(50ms); }
    auto got = c.send(get(server.url("/2")));
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.body == "GET /2 ");
    CHECK(server.connection_count() == 2);
}

TEST_CASE("a reused connection that dies before answering is retried once on a new one") {
    std::atomic<int> seen{0};
    test::test_http_server server([&seen](const http::request& req) {
        test::reply r = echo(req);
        if (++seen == 2) { // the second request arrives on the kept-alive connection
            r = {};
            r.close_without_answer = true;
        }
        return r;
    });
    client c(loopback_options());
    REQUIRE_FALSE(c.send(get(server.url("/1"))).ec);
    auto got = c.send(get(server.url("/2")));
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.body == "GET /2 ");
    CHECK(server.request_count() == 3);
    CHECK(server.connection_count() == 2);
}

TEST_CASE("idle connections are closed after idle_timeout") {
    test::test_http_server server(echo);
    auto options = loopback_options();
    options.idle_timeout = 1s;
    client c(options);
    REQUIRE_FALSE(c.send(get(server.url("/"))).ec);
    CHECK(server.open_connections() == 1);
    c.run_until([&] { return server.open_connections() == 0; }, 10s);
}

TEST_CASE("shutdown() fails pending requests with shut_down, exactly once, and later ones too") {
    test::test_http_server server([](const http::request&) {
        test::reply r;
        r.never_answer = true;
        return r;
    });
    client c(loopback_options());
    std::vector<std::optional<outcome>> results(3);
    for (auto& r : results)
        c.start(get(server.url("/hang")), r);
    c.run_until([&] { return server.request_count() == 3; });
    c.transport->shutdown();
    c.run_until(
        [&] { return std::all_of(results.begin(), results.end(), [](const auto& r) { return r.has_value(); }); });
    for (auto& r : results)
        CHECK(r->ec == http_errc::shut_down);
    c.run_for(100ms); // a second completion would fail inside start()'s callback
    CHECK(c.send(get(server.url("/after"))).ec == http_errc::shut_down);
    c.run_until([&] { return server.open_connections() == 0; }, 10s);
}

TEST_CASE("a redirect is returned as the response, not followed") {
    test::test_http_server server([](const http::request& req) {
        if (req.url != "/from") return test::reply::text(200, "followed");
        test::reply r;
        r.status = 302;
        r.headers.push_back({"Location", "/to"});
        return r;
    });
    client c(loopback_options());
    auto got = c.send(get(server.url("/from")));
    REQUIRE_FALSE(got.ec);
    CHECK(got.res.status == 302);
    CHECK(got.res.header_value("location") == "/to");
    CHECK(server.request_count() == 1);
}
