#include "oidc/wire_url.hpp"

#include "oidc/wire_text.hpp"

#include <multisession/error.hpp>

namespace multisession::oidc {
namespace {

[[noreturn]] void invalid(std::string_view url, std::string_view why) {
    throw error(http_errc::invalid_url, "URL '" + detail::printable(url) + "' " + std::string(why));
}

bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_unreserved(char c) noexcept {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(char c) noexcept {
    switch (c) {
    case '!': case '$': case '&': case '\'': case '(': case ')':
    case '*': case '+': case ',': case ';': case '=':
        return true;
    default:
        return false;
    }
}

/// Path, query or fragment text: pchar / "/" / "?" with well-formed %XX escapes (RFC 3986 3.3-3.5).
void check_component(std::string_view url, std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) invalid(url, "has a truncated %-escape");
            if (!is_hex(text[i + 1]) || !is_hex(text[i + 2])) invalid(url, "has a bad %-escape");
            i += 2;
        } else if (!(is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/' || c == '?')) {
            invalid(url, "contains a character not allowed in URLs");
        }
    }
}

} // namespace

url_parts parse_url(std::string_view url) {
    for (const char ch : url) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c >= 0x7f) invalid(url, "contains a space, control or non-ASCII byte");
        if (c == '\\') invalid(url, "contains a backslash");
    }
    url_parts out;
    const auto colon = url.find("://");
    if (colon == std::string_view::npos) invalid(url, "is not absolute");
    out.scheme = detail::ascii_lower(url.substr(0, colon));
    if (out.scheme != "https" && out.scheme != "http") invalid(url, "is not http or https");
    auto rest = url.substr(colon + 3);

    const auto authority_end = rest.find_first_of("/?#");
    const auto authority = rest.substr(0, authority_end);
    rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    if (authority.find('@') != std::string_view::npos) invalid(url, "contains userinfo");

    std::string_view host;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) invalid(url, "has an unterminated IPv6 literal");
        host = authority.substr(0, close + 1);
        const auto inner = host.substr(1, host.size() - 2);
        if (inner.empty()) invalid(url, "has an empty IPv6 literal");
        for (const char c : inner)
            if (!is_hex(c) && c != ':' && c != '.') invalid(url, "has a bad IPv6 literal");
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') invalid(url, "has text after the IPv6 literal");
            has_port = true;
            port_text = after.substr(1);
        }
    } else {
        const auto port_colon = authority.find(':');
        host = authority.substr(0, port_colon);
        if (port_colon != std::string_view::npos) {
            has_port = true;
            port_text = authority.substr(port_colon + 1);
        }
        for (const char c : host)
            if (!is_unreserved(c)) invalid(url, "has a character not allowed in a host name");
    }
    if (host.empty()) invalid(url, "has no host");
    out.host = detail::ascii_lower(host);

    if (has_port) {
        if (port_text.empty() || port_text.size() > 5) invalid(url, "has a bad port");
        unsigned value = 0;
        for (const char c : port_text) {
            if (!is_digit(c)) invalid(url, "has a non-numeric port");
            value = value * 10 + static_cast<unsigned>(c - '0');
        }
        if (value == 0 || value > 65535) invalid(url, "has a port out of range");
        out.port = static_cast<std::uint16_t>(value);
    } else {
        out.port = out.scheme == "https" ? 443 : 80;
    }

    const auto hash = rest.find('#');
    const auto fragment = hash == std::string_view::npos ? std::string_view{} : rest.substr(hash + 1);
    rest = rest.substr(0, hash);
    const auto question = rest.find('?');
    const auto path = rest.substr(0, question);
    check_component(url, path);
    check_component(url, fragment);
    out.path = path.empty() ? "/" : std::string(path);
    out.target = out.path;
    if (question != std::string_view::npos) {
        const auto query = rest.substr(question + 1);
        check_component(url, query);
        out.has_query = true;
        out.query = std::string(query);
        out.target += '?';
        out.target += query;
    }
    return out;
}

std::string origin_of(std::string_view url) {
    const auto parts = parse_url(url);
    return parts.scheme + "://" + parts.host + ":" + std::to_string(parts.port);
}

std::string htu_of(std::string_view url) {
    (void)parse_url(url);
    return std::string(url.substr(0, url.find_first_of("?#")));
}

bool is_loopback_host(std::string_view host) noexcept {
    return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

url_parts check_endpoint_url(std::string_view url, bool allow_insecure_loopback) {
    auto parts = parse_url(url);
    if (url.find('#') != std::string_view::npos) invalid(url, "has a fragment");
    if (parts.scheme == "http" && !(allow_insecure_loopback && is_loopback_host(parts.host)))
        throw error(http_errc::insecure_url_refused,
                    "plain http endpoint '" + detail::printable(url) + "' (https required)");
    return parts;
}

} // namespace multisession::oidc
