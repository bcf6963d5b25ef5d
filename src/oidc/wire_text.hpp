// Small text helpers shared by the wire-format code: bounded, printable renderings for messages.
#pragma once

#include "oidc/wire_http.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace multisession::oidc::detail {

/// `text` with bytes outside printable ASCII (and '\\', '\'') as \xNN and cut after `limit` bytes,
/// for naming URLs and provider-chosen identifiers in error messages. Never pass a secret.
inline std::string printable(std::string_view text, std::size_t limit = 200) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (text.size() > limit) out += "...";
    return out;
}

/// Equality ignoring ASCII case (auth schemes, token types).
inline bool iequals(std::string_view a, std::string_view b) noexcept { return http::header_name_equals(a, b); }

/// ASCII lower-case copy.
inline std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

} // namespace multisession::oidc::detail
