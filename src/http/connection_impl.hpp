// The Beast side of a connection, shared by tcp_connection.cpp and tls_connection.cpp. Include it
// only from those two files: every instantiation costs tens of seconds of compile time.
#pragma once

#include "http/connection.hpp"
#include "http/request_text.hpp"

#include <multisession/error.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <utility>

namespace multisession::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

/// Headers we accept from a server, in bytes. Beast's default (8 KiB) is tight for cookie-heavy
/// providers; the body cap is separate (client_options::max_body_size).
inline constexpr std::uint32_t header_limit = 64 * 1024;

inline bool is_http_parse_error(const beast::error_code& ec) {
    return ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category();
}

/// Maps a failed write or read to the transport's codes. `tls_closed` tells a TLS stream's
/// "truncated" (peer closed without close_notify) apart, as only the TLS file knows that category.
inline std::error_code map_io_error(const beast::error_code& ec, bool tls_closed) {
    if (ec == beast::error::timeout) return http_errc::timeout;
    if (ec == bhttp::error::body_limit) return http_errc::body_too_large;
    if (ec == asio::error::operation_aborted) return http_errc::shut_down;
    if (tls_closed || ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
        ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
        ec == asio::error::connection_aborted || ec == asio::error::not_connected)
        return http_errc::connection_closed;
    if (is_http_parse_error(ec)) return http_errc::malformed_response;
    return http_errc::connection_closed;
}

/// A connection over `Traits::stream_type`. Traits supply the stream, its TCP layer, the step after
/// TCP connect (TLS handshake or nothing) and the recognition of TLS truncation.
template <class Traits>
class basic_connection final : public connection, public std::enable_shared_from_this<basic_connection<Traits>> {
public:
    using stream_type = typename Traits::stream_type;
    using context_ptr = typename Traits::context_ptr;

    basic_connection(asio::any_io_executor ex, url_parts where, const client_options& options, context_ptr ctx)
        : ctx_(std::move(ctx)), resolver_(ex), stream_(Traits::make_stream(ex, ctx_)), where_(std::move(where)),
          connect_timeout_(options.connect_timeout), read_timeout_(options.read_timeout),
          max_body_size_(options.max_body_size), user_agent_(options.user_agent) {}

    void async_connect(std::function<void(std::error_code)> done) override {
        auto flags = asio::ip::resolver_base::numeric_service;
        if (where_.ip_literal) flags |= asio::ip::resolver_base::numeric_host;
        resolver_.async_resolve(where_.host, std::to_string(where_.port), flags,
                                [self = this->shared_from_this(),
                                 done = std::move(done)](const beast::error_code& ec,
                                                         const asio::ip::tcp::resolver::results_type& results) mutable {
                                    if (ec)
                                        return done(self->closed_ ? http_errc::shut_down : http_errc::connect_failed);
                                    self->on_resolved(results, std::move(done));
                                });
    }

    void async_exchange(const request& req, const std::string& target,
                        std::function<void(exchange_result)> done) override {
        ++uses_;
        wire_ = request_text(req, target, where_.host_header(), user_agent_);

        parser_.emplace();
        parser_->header_limit(header_limit);
        parser_->body_limit(max_body_size_);

        tcp().expires_after(read_timeout_);
        asio::async_write(stream_, asio::buffer(wire_),
                          [self = this->shared_from_this(), done = std::move(done)](const beast::error_code& ec,
                                                                                    std::size_t) mutable {
                              self->wire_.clear();
                              if (ec) return self->fail(ec, std::move(done));
                              self->read_some(std::move(done));
                          });
    }

    void async_watch_idle(std::function<void(std::error_code)> done) override {
        tcp().socket().async_wait(asio::ip::tcp::socket::wait_read,
                                  [done = std::move(done)](const beast::error_code& ec) {
                                      if (ec == asio::error::operation_aborted) return done(http_errc::shut_down);
                                      done(http_errc::connection_closed);
                                  });
    }

    void cancel_idle_watch() override {
        beast::error_code ignored;
        tcp().socket().cancel(ignored);
    }

    void close() override {
        closed_ = true;
        resolver_.cancel();
        beast::error_code ignored;
        tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        tcp().close();
    }

    [[nodiscard]] std::size_t uses() const noexcept override { return uses_; }

private:
    beast::tcp_stream& tcp() { return Traits::tcp_layer(stream_); }

    void on_resolved(const asio::ip::tcp::resolver::results_type& results, std::function<void(std::error_code)> done) {
        // One deadline for TCP connect and the TLS handshake: the stream's timer stays armed
        // across both.
        tcp().expires_after(connect_timeout_);
        tcp().async_connect(results, [self = this->shared_from_this(), done = std::move(done)](
                                         const beast::error_code& ec, const asio::ip::tcp::endpoint&) mutable {
            if (ec) {
                if (ec == beast::error::timeout) return done(http_errc::timeout);
                return done(self->closed_ ? http_errc::shut_down : http_errc::connect_failed);
            }
            Traits::async_handshake(self->stream_, self->where_,
                                    [self, done = std::move(done)](const beast::error_code& hec) mutable {
                                        self->tcp().expires_never();
                                        if (!hec) return done({});
                                        if (hec == beast::error::timeout) return done(http_errc::timeout);
                                        done(self->closed_ ? http_errc::shut_down : http_errc::tls_failed);
                                    });
        });
    }

    void read_some(std::function<void(exchange_result)> done) {
        tcp().expires_after(read_timeout_);
        bhttp::async_read_some(stream_, buffer_, *parser_,
                               [self = this->shared_from_this(), done = std::move(done)](const beast::error_code& ec,
                                                                                         std::size_t) mutable {
                                   if (ec) return self->fail(ec, std::move(done));
                                   if (!self->parser_->is_done()) return self->read_some(std::move(done));
                                   self->complete(std::move(done));
                               });
    }

    void complete(std::function<void(exchange_result)> done) {
        auto& msg = parser_->get();
        // An interim 1xx (other than 101) precedes the real response: read on.
        if (msg.result_int() >= 100 && msg.result_int() < 200 && msg.result_int() != 101) {
            parser_.emplace();
            parser_->header_limit(header_limit);
            parser_->body_limit(max_body_size_);
            return read_some(std::move(done));
        }
        tcp().expires_never();
        exchange_result r;
        r.res.status = static_cast<int>(msg.result_int());
        for (const auto& field : msg)
            r.res.headers.push_back({std::string(field.name_string()), std::string(field.value())});
        r.res.body = std::move(msg.body());
        // Bytes after the response would be read as the next response: such a connection is done.
        r.keep_alive = msg.keep_alive() && !parser_->need_eof() && buffer_.size() == 0;
        parser_.reset();
        done(std::move(r));
    }

    void fail(const beast::error_code& ec, std::function<void(exchange_result)> done) {
        exchange_result r;
        r.nothing_received = !(parser_ && parser_->got_some()) && buffer_.size() == 0;
        r.ec = closed_ ? make_error_code(http_errc::shut_down) : map_io_error(ec, Traits::is_truncation(ec));
        parser_.reset();
        done(std::move(r));
    }

    context_ptr ctx_;
    asio::ip::tcp::resolver resolver_;
    stream_type stream_;
    url_parts where_;
    std::chrono::milliseconds connect_timeout_;
    std::chrono::milliseconds read_timeout_;
    std::size_t max_body_size_;
    std::string user_agent_;

    beast::flat_buffer buffer_;
    std::string wire_; ///< the request being written
    std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
    std::size_t uses_ = 0;
    bool closed_ = false;
};

} // namespace multisession::http::detail
