// Plain-TCP connections (http://, loopback only, when allowed).
#include "http/connection_impl.hpp"

namespace multisession::http {

namespace {

struct tcp_traits {
    using stream_type = boost::beast::tcp_stream;
    using context_ptr = std::nullptr_t;

    static stream_type make_stream(const boost::asio::any_io_executor& ex, std::nullptr_t) { return stream_type(ex); }
    static boost::beast::tcp_stream& tcp_layer(stream_type& s) { return s; }
    template <class Handler>
    static void async_handshake(stream_type&, const url_parts&, Handler&& done) {
        std::forward<Handler>(done)(boost::beast::error_code{});
    }
    static bool is_truncation(const boost::beast::error_code&) { return false; }
};

} // namespace

std::shared_ptr<connection> make_tcp_connection(boost::asio::any_io_executor ex, const url_parts& where,
                                                const client_options& options) {
    return std::make_shared<detail::basic_connection<tcp_traits>>(std::move(ex), where, options, nullptr);
}

} // namespace multisession::http
