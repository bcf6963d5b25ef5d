// An HTTP/1.1 (or HTTPS) server on 127.0.0.1 for network tests. It runs its own io_context on a
// thread it owns (started by the constructor, stopped and joined by the destructor), answers each
// request through a handler, and can misbehave on purpose: delay, trickle, truncate, oversize,
// garble, or stay silent. Beast stays in the .cpp file.
#pragma once

#include "http/message.hpp"
#include "test_ca.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::test {

/// What the server sends back for one request. The defaults give a well-formed response with a
/// Content-Length and keep-alive (unless the client asked to close).
struct reply {
    int status = 200;
    std::vector<http::header> headers; ///< sent as given, before Content-Length / Connection
    std::string body;

    // Misbehaviour, for client tests.
    std::chrono::milliseconds delay_before_headers{0}; ///< silence before the status line
    std::chrono::milliseconds byte_interval{0};        ///< > 0: the body trickles one byte per interval
    bool close_mid_body = false;                       ///< send half of the body, then close the connection
    std::optional<std::uint64_t> content_length;       ///< declared length instead of the real one
    std::uint64_t stream_body_bytes = 0;               ///< > 0: a body of this many filler bytes, sent in 64 KiB chunks
    bool omit_content_length = false;                  ///< a close-delimited body (no Content-Length; closes after)
    std::optional<std::string> raw;    ///< sent verbatim instead of a response, then the connection closes
    bool never_answer = false;         ///< send nothing; close only when the client does
    bool close_without_answer = false; ///< close right after reading the request
    bool close_after = false;          ///< answer with "Connection: close" and close

    /// A 2xx/4xx/... response with a body and a Content-Type.
    static reply text(int status, std::string body, std::string content_type = "text/plain");
    /// A JSON response (application/json).
    static reply json(std::string body, int status = 200);
};

/// A server on 127.0.0.1 at an ephemeral port. Thread-safe to query from the test thread; the
/// handler runs on the server's own thread, one request at a time.
class test_http_server {
public:
    /// Receives the request as parsed: `url` holds the request target ("/path?query").
    using handler_type = std::function<reply(const http::request&)>;

    /// Plain HTTP. Throws on failure to listen.
    explicit test_http_server(handler_type handler);
    /// HTTPS with `identity` (for example test_ca::issue_localhost()).
    test_http_server(handler_type handler, const tls_identity& identity);
    ~test_http_server();
    test_http_server(const test_http_server&) = delete;
    test_http_server& operator=(const test_http_server&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept;
    [[nodiscard]] bool tls() const noexcept;
    /// "http(s)://<host>:<port><target>"; `host` only changes the URL (the server listens on
    /// 127.0.0.1), so "localhost" is useful for host-name checks.
    [[nodiscard]] std::string url(std::string_view target = "/", std::string_view host = "127.0.0.1") const;

    /// Requests read completely (answered or not).
    [[nodiscard]] std::size_t request_count() const noexcept;
    /// Connections accepted since start: with keep-alive, fewer than requests.
    [[nodiscard]] std::size_t connection_count() const noexcept;
    /// Connections open right now, and the most that were ever open at once.
    [[nodiscard]] std::size_t open_connections() const noexcept;
    [[nodiscard]] std::size_t peak_open_connections() const noexcept;

    /// Closes every connection that is waiting for its next request (what a server's keep-alive
    /// timeout does), including those still finishing a response (waited for up to 2 s): a client
    /// may hold a whole response before the server sees its write complete. Returns when done.
    void close_idle_connections();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

} // namespace multisession::test
