// The TLS stream type and its client handshake, shared by tls_connection.cpp (HTTP over TLS)
// and tls_handshake.cpp (handshake and context), which compile in parallel.
#pragma once

#include "http/url.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <functional>

namespace multisession::http::detail {

using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

/// Sets SNI (host names only) and host-name verification on `stream`, then handshakes as a
/// client; `done` gets the handshake's error code.
void async_tls_handshake(tls_stream& stream, const url_parts& where,
                         std::function<void(const boost::system::error_code&)> done);

} // namespace multisession::http::detail
