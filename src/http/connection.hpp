// One HTTP/1.1 connection (plain TCP or TLS) as the pool sees it: connect once, then exchange
// requests one after the other. Asio-only header; the Beast code lives in tcp_connection.cpp and
// tls_connection.cpp so the two stream types compile in parallel.
#pragma once

#include "http/message.hpp"
#include "http/transport.hpp"
#include "http/url.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <system_error>

namespace boost::asio::ssl {
class context;
}

namespace multisession::http {

/// The outcome of one request/response exchange on a connection.
struct exchange_result {
    std::error_code ec;            ///< empty or an http_errc code
    response res;                  ///< complete when ec is empty
    bool keep_alive = false;       ///< the connection may carry another request
    bool nothing_received = false; ///< failed before any response byte (a dead reused connection)
};

/// Not thread-safe: every call and completion happens on the executor it was made with (the
/// transport's strand). close() may be called at any time, also with operations pending; they then
/// complete with an error the caller is expected to ignore.
class connection {
public:
    virtual ~connection() = default;

    /// Resolves, connects and (for TLS) handshakes under connect_timeout. Completes with an empty
    /// code, connect_failed, tls_failed or timeout.
    virtual void async_connect(std::function<void(std::error_code)> done) = 0;

    /// Writes `req` (to `target`, the path and query of its URL) and reads one response, each I/O
    /// under read_timeout.
    virtual void async_exchange(const request& req, const std::string& target,
                                std::function<void(exchange_result)> done) = 0;

    /// While the connection is idle in the pool: completes when the peer sends anything or closes
    /// (the connection is then unusable), or with operation_aborted after cancel_idle_watch().
    virtual void async_watch_idle(std::function<void(std::error_code)> done) = 0;
    virtual void cancel_idle_watch() = 0;

    /// Closes the socket at once; no TLS close_notify (the peer learns from the TCP close).
    virtual void close() = 0;

    /// Number of exchanges started on this connection.
    [[nodiscard]] virtual std::size_t uses() const noexcept = 0;
};

/// A plain-TCP connection to `where` (which is not TLS).
std::shared_ptr<connection> make_tcp_connection(boost::asio::any_io_executor ex, const url_parts& where,
                                                const client_options& options);

/// A TLS connection to `where`, verifying the peer against `ctx` and the host name, with SNI for
/// non-IP hosts.
std::shared_ptr<connection> make_tls_connection(boost::asio::any_io_executor ex, const url_parts& where,
                                                const client_options& options,
                                                std::shared_ptr<boost::asio::ssl::context> ctx);

/// A client TLS context: TLS 1.2 minimum, peer verification on, trusting options.ca_file or the
/// system store. Throws multisession::error(http_errc::tls_failed) when the CA file cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const client_options& options);

} // namespace multisession::http
