// The HTTP(S) transport interface the protocol layer talks to. Beast-free on purpose: src/oidc and
// src/session include only this, so protocol code is compiled and tested without Beast's cost.
#pragma once

#include "http/message.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <system_error>

namespace multisession::http {

/// Settings of an HTTP client. Every limit has a unit; the defaults suit token endpoints.
struct client_options {
    /// Name resolution + TCP connect + TLS handshake of one new connection.
    std::chrono::milliseconds connect_timeout{5000};
    /// Longest silence while writing a request or waiting for any byte of the response.
    std::chrono::milliseconds read_timeout{10000};
    /// Whole request, from async_send to the last body byte, including waiting for a pooled slot.
    std::chrono::milliseconds total_timeout{30000};
    /// Response body cap in bytes; a larger body fails with http_errc::body_too_large and its
    /// connection is closed. Nothing beyond the cap is buffered.
    std::size_t max_body_size = std::size_t{1} << 20;
    /// Open connections per origin (scheme://host:port); further requests wait in FIFO order.
    std::size_t max_connections_per_origin = 16;
    /// How long an unused kept-alive connection stays in the pool.
    std::chrono::seconds idle_timeout{30};
    /// PEM file of trusted CAs; empty means the system's default trust store.
    std::string ca_file{};
    /// Allow plain http:// to 127.0.0.1, localhost and [::1] (tests, local issuers). Plain HTTP to
    /// any other host is always refused.
    bool allow_insecure_loopback = false;
    /// Sent as User-Agent unless the request carries its own.
    std::string user_agent = "multisession/0.1";
};

/// Sends HTTP requests. Implementations pool connections; redirects are never followed (a 3xx is
/// returned like any response).
///
/// Thread safety: async_send and shutdown may be called from any thread. Completion callbacks run
/// on the transport's executor.
class transport {
public:
    virtual ~transport();

    /// Sends `req` and calls `on_done` exactly once: with an empty code and the response, or with
    /// an http_errc code (and an empty response). A non-2xx status is not an error.
    virtual void async_send(request req, std::function<void(std::error_code, response)> on_done) = 0;

    /// Fails pending and later requests with http_errc::shut_down and closes pooled connections.
    virtual void shutdown() = 0;
};

} // namespace multisession::http
