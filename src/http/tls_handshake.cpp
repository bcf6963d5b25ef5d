// The client TLS context and handshake: peer verification and host-name checking always on,
// TLS 1.2 at least, SNI for host names.
#include "http/connection.hpp"
#include "http/tls_stream.hpp"

#include <multisession/error.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/ssl.h>

namespace multisession::http {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

void detail::async_tls_handshake(tls_stream& stream, const url_parts& where,
                                 std::function<void(const boost::system::error_code&)> done) {
    // SNI is not allowed for IP literals (RFC 6066 section 3); the certificate check then matches
    // the address against the certificate's iPAddress names.
    if (!where.ip_literal && SSL_set_tlsext_host_name(stream.native_handle(), where.host.c_str()) != 1) {
        return asio::post(stream.get_executor(),
                          [done = std::move(done)] { done(boost::system::error_code(asio::error::invalid_argument)); });
    }
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification(where.host));
    stream.async_handshake(ssl::stream_base::client, std::move(done));
}

std::shared_ptr<ssl::context> make_tls_context(const client_options& options) {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1)
        throw error(http_errc::tls_failed, "cannot set the minimum TLS version");
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    ctx->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (options.ca_file.empty()) {
        ctx->set_default_verify_paths(ec);
        if (ec) throw error(http_errc::tls_failed, "cannot load the system CA store");
    } else {
        ctx->load_verify_file(options.ca_file, ec);
        if (ec) throw error(http_errc::tls_failed, "cannot load CA file " + options.ca_file);
    }
    return ctx;
}

} // namespace multisession::http
