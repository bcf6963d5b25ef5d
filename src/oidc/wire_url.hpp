// Absolute http(s) URLs as the protocol needs them: origin keys for per-origin DPoP nonce caches,
// the DPoP `htu` (URL without query and fragment), and the https-only rule for provider endpoints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace multisession::oidc {

/// The parts of an absolute http or https URL.
struct url_parts {
    std::string scheme;      ///< "http" or "https", lower-cased
    std::string host;        ///< lower-cased; an IPv6 literal keeps its brackets ("[::1]")
    std::uint16_t port = 0;  ///< explicit port, or 80 / 443 by scheme
    std::string target;      ///< path (at least "/") and "?query" when present; never the fragment
    std::string path;        ///< path, at least "/"
    bool has_query = false;  ///< whether a '?' was present (the query may be empty)
    std::string query;       ///< the query without its '?'
};

/// Parses an absolute http(s) URL. Strict: rejects other schemes, userinfo ("user@host"), spaces,
/// control and non-ASCII bytes, characters RFC 3986 does not allow, bad %XX escapes, backslashes,
/// empty hosts, and ports that are empty, non-numeric, 0 or above 65535.
/// Throws multisession::error(http_errc::invalid_url). Thread-safe (pure).
url_parts parse_url(std::string_view url);

/// "scheme://host:port" with the port always explicit ("https://example.org:443"): the key of
/// per-origin caches (DPoP nonces, connection pools). Throws like parse_url.
std::string origin_of(std::string_view url);

/// `url` up to (not including) its first '?' or '#': the DPoP `htu` claim (RFC 9449 section 4.2).
/// The URL is validated with parse_url first; otherwise kept as written. Throws like parse_url.
std::string htu_of(std::string_view url);

/// True for the loopback hosts "127.0.0.1", "localhost" and "[::1]" (as parse_url renders them).
bool is_loopback_host(std::string_view host) noexcept;

/// Checks that `url` is fit to be a provider endpoint: an https URL without fragment, or an http
/// URL to a loopback host when `allow_insecure_loopback` is set. Returns the parsed URL.
/// Throws multisession::error: http_errc::invalid_url when unparsable or carrying a fragment,
/// http_errc::insecure_url_refused for plain http otherwise.
url_parts check_endpoint_url(std::string_view url, bool allow_insecure_loopback);

} // namespace multisession::oidc
