// Absolute http(s) URL parsing for the transport: scheme, host, port, request target.
// Beast-free, so it is unit-tested cheaply and shared by the pool and the connections.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace multisession::http {

/// The parts of an absolute URL that a connection and a request line need.
struct url_parts {
    bool tls = false;        ///< https
    std::string host;        ///< lower-case name or IP literal, IPv6 without brackets
    std::uint16_t port = 0;  ///< explicit or the scheme's default
    std::string target;      ///< path and query, never empty ("/" at least), no fragment
    bool ip_literal = false; ///< host is an IPv4 or IPv6 address (no SNI for those)
    bool ipv6 = false;

    /// "scheme://host:port", the pool key; IPv6 in brackets. Contains no path, query or userinfo.
    [[nodiscard]] std::string origin() const;
    /// The Host header value: the port is left out when it is the scheme's default.
    [[nodiscard]] std::string host_header() const;
};

/// Parses an absolute http:// or https:// URL. Rejects (http_errc::invalid_url) relative URLs,
/// other schemes, userinfo, empty or malformed hosts, bad ports, whitespace and control bytes.
url_parts parse_url(std::string_view url, std::error_code& ec);

/// True for the hosts where plain HTTP may be allowed: 127.0.0.1, localhost and ::1.
bool is_loopback_host(std::string_view host) noexcept;

} // namespace multisession::http
