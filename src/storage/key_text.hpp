// Rendering keys for error messages: printable, bounded, never a value.
#pragma once

#include "core/printable.hpp"

#include <string>
#include <string_view>

namespace multisession::detail {

/// `key` quoted, with non-printable bytes as \xNN and anything past 120 bytes elided, so that a
/// binary or 4 KB key still gives a one-line message.
inline std::string printable_key(std::string_view key) {
    static constexpr std::size_t limit = 120;
    std::string out = "'" + printable(key, limit);
    if (key.size() > limit) out += "(" + std::to_string(key.size()) + " bytes)";
    return out + "'";
}

/// "<what> <printable key>", the usual context of a storage error.
inline std::string key_context(std::string_view what, std::string_view key) {
    std::string out(what);
    out += ' ';
    out += printable_key(key);
    return out;
}

} // namespace multisession::detail
