// TLS connections: HTTP over the TLS stream. The handshake and the context are in
// tls_handshake.cpp.
#include "http/connection_impl.hpp"
#include "http/tls_stream.hpp"

namespace multisession::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;

struct tls_traits {
    using stream_type = detail::tls_stream;
    using context_ptr = std::shared_ptr<ssl::context>;

    static stream_type make_stream(const asio::any_io_executor& ex, const context_ptr& ctx) {
        return stream_type(ex, *ctx);
    }
    static beast::tcp_stream& tcp_layer(stream_type& s) { return s.next_layer(); }

    template <class Handler>
    static void async_handshake(stream_type& s, const url_parts& where, Handler&& done) {
        detail::async_tls_handshake(s, where, std::forward<Handler>(done));
    }

    static bool is_truncation(const beast::error_code& ec) { return ec == ssl::error::stream_truncated; }
};

} // namespace

std::shared_ptr<connection> make_tls_connection(asio::any_io_executor ex, const url_parts& where,
                                                const client_options& options, std::shared_ptr<ssl::context> ctx) {
    return std::make_shared<detail::basic_connection<tls_traits>>(std::move(ex), where, options, std::move(ctx));
}

} // namespace multisession::http
