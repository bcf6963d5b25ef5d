#include "http/url.hpp"

#include "http/message.hpp"
#include "http/transport.hpp"

#include <multisession/error.hpp>

#include <arpa/inet.h>

#include <algorithm>

namespace multisession::http {

transport::~transport() = default;

namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
}

bool parse_ipv4(const std::string& s) {
    in_addr addr{};
    return ::inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool parse_ipv6(const std::string& s) {
    in6_addr addr{};
    return ::inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

} // namespace

std::string url_parts::origin() const {
    std::string out = tls ? "https://" : "http://";
    out += ipv6 ? "[" + host + "]" : host;
    out += ':';
    out += std::to_string(port);
    return out;
}

std::string url_parts::host_header() const {
    std::string out = ipv6 ? "[" + host + "]" : host;
    if (port != (tls ? 443 : 80)) {
        out += ':';
        out += std::to_string(port);
    }
    return out;
}

url_parts parse_url(std::string_view url, std::error_code& ec) {
    ec = make_error_code(http_errc::invalid_url);
    url_parts out;
    for (char c : url) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return {};
    }
    auto colon = url.find("://");
    if (colon == std::string_view::npos) return {};
    auto scheme = url.substr(0, colon);
    if (header_name_equals(scheme, "https")) {
        out.tls = true;
    } else if (!header_name_equals(scheme, "http")) {
        return {};
    }
    auto rest = url.substr(colon + 3);
    auto authority_end = rest.find_first_of("/?#");
    auto authority = rest.substr(0, authority_end);
    auto tail = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return {};

    std::string_view port_text;
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return {};
        out.host = std::string(authority.substr(1, close - 1));
        if (!parse_ipv6(out.host)) return {};
        out.ip_literal = out.ipv6 = true;
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return {};
            port_text = after.substr(1);
        }
    } else {
        auto port_colon = authority.find(':');
        auto host = authority.substr(0, port_colon);
        if (port_colon != std::string_view::npos) port_text = authority.substr(port_colon + 1);
        if (host.empty() || !std::all_of(host.begin(), host.end(), is_name_char)) return {};
        out.host.reserve(host.size());
        for (char c : host)
            out.host += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
        out.ip_literal = parse_ipv4(out.host);
    }

    if (port_text.empty()) {
        out.port = out.tls ? 443 : 80;
    } else {
        if (port_text.size() > 5) return {};
        unsigned value = 0;
        for (char c : port_text) {
            if (c < '0' || c > '9') return {};
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) return {};
        out.port = static_cast<std::uint16_t>(value);
    }

    auto fragment = tail.find('#');
    if (fragment != std::string_view::npos) tail = tail.substr(0, fragment);
    if (tail.empty()) {
        out.target = "/";
    } else if (tail.front() == '?') {
        out.target = "/" + std::string(tail);
    } else {
        out.target = std::string(tail);
    }
    ec.clear();
    return out;
}

bool is_loopback_host(std::string_view host) noexcept {
    return host == "127.0.0.1" || host == "localhost" || host == "::1";
}

} // namespace multisession::http
