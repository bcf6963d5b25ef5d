// The Boost.Beast implementation of http::transport. Asio-only header: no Beast here.
#pragma once

#include "http/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace multisession::http {

/// Creates an HTTP/1.1 client over TCP and TLS with keep-alive pools per origin, running on `ex`
/// (through an internal strand, so a multi-threaded io_context is fine). Completion callbacks run
/// on that strand. Throws multisession::error(http_errc::tls_failed) when options.ca_file (or the
/// system trust store) cannot be loaded.
std::shared_ptr<transport> make_beast_transport(boost::asio::any_io_executor ex, client_options options);

} // namespace multisession::http
