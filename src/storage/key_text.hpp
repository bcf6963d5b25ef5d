// Rendering keys for error messages: printable, bounded, never a value.
#pragma once

#include <string>
#include <string_view>

namespace multisession::detail {

/// `key` quoted, with non-printable bytes as \xNN and anything past 120 bytes elided, so that a
/// binary or 4 KB key still gives a one-line message.
inline std::string printable_key(std::string_view key) {
    static constexpr std::size_t limit = 120;
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "'";
    for (std::size_t i = 0; i < key.size() && i < limit; ++i) {
        const auto c = static_cast<unsigned char>(key[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (key.size() > limit) out += "...(" + std::to_string(key.size()) + " bytes)";
    out += "'";
    return out;
}

/// "<what> <printable key>", the usual context of a storage error.
inline std::string key_context(std::string_view what, std::string_view key) {
    std::string out(what);
    out += ' ';
    out += printable_key(key);
    return out;
}

} // namespace multisession::detail
