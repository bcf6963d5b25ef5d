// Plain HTTP data types shared by the protocol layer (src/oidc) and the transport (src/http).
// No Beast, no Asio: protocol code builds requests and reads responses with these alone.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::http {

/// One header field. Names compare case-insensitively; order is kept as sent or received.
struct header {
    std::string name, value;
};

/// A request to send. `url` is absolute (http:// or https://); the transport derives the Host
/// header and the request target from it, and sets Content-Length itself.
struct request {
    std::string method;
    std::string url;
    std::vector<header> headers;
    std::string body;
};

/// A complete response: status, headers in received order, and the whole body.
struct response {
    int status = 0;
    std::vector<header> headers;
    std::string body;

    /// The value of the first header whose name equals `name` ignoring ASCII case, or nullopt.
    /// The view points into this response and lives as long as it is not modified.
    [[nodiscard]] std::optional<std::string_view> header_value(std::string_view name) const;
};

/// True when header names `a` and `b` are equal ignoring ASCII case.
inline bool header_name_equals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

inline std::optional<std::string_view> response::header_value(std::string_view name) const {
    for (const auto& h : headers) {
        if (header_name_equals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
}

} // namespace multisession::http
