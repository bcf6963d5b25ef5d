// Rendering untrusted or binary text for error messages: printable ASCII, bounded, one line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace multisession::detail {

/// `text` with every byte outside printable ASCII (and '\\', '\'') written as \xNN, cut after
/// `limit` bytes with "..." appended. For keys, URLs and provider-chosen identifiers; never pass a
/// secret: escaping is not redaction.
inline std::string printable(std::string_view text, std::size_t limit) {
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

} // namespace multisession::detail
