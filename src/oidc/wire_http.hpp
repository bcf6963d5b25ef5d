// Plain HTTP messages as data: what the sans-I/O protocol code builds and parses. The transport in
// src/http/ turns a request into bytes on a socket and the bytes it reads back into a response.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::http {

/// One header field, as sent or received; names compare case-insensitively.
struct header {
    std::string name;
    std::string value;
};

/// True when header names `a` and `b` are equal ignoring ASCII case.
inline bool header_name_equals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto x = static_cast<unsigned char>(a[i]);
        auto y = static_cast<unsigned char>(b[i]);
        if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

/// A request to send: `url` is absolute; `headers` are sent in order (the transport adds Host,
/// Content-Length and Connection itself).
struct request {
    std::string method;
    std::string url;
    std::vector<header> headers;
    std::string body;
};

/// A response received: status code, header fields in arrival order, the (capped) body.
struct response {
    int status = 0;
    std::vector<header> headers;
    std::string body;

    /// The value of the first header named `name` (case-insensitive), or nullopt. The view points
    /// into this response.
    [[nodiscard]] std::optional<std::string_view> header_value(std::string_view name) const {
        for (const auto& h : headers)
            if (header_name_equals(h.name, name)) return std::string_view(h.value);
        return std::nullopt;
    }
};

} // namespace multisession::http
