// Checking text as UTF-8, for ids, record fields and tool output: pure, no allocation.
#pragma once

#include <cstddef>
#include <string_view>

namespace multisession::detail {

enum class text_problem { none, invalid_utf8, control_character };

/// Checks `text` as UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF) and reports
/// the first problem; control characters are C0, DEL and C1.
inline text_problem check_text(std::string_view text) noexcept {
    text_problem found = text_problem::none;
    std::size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length = 0;
        char32_t cp = 0;
        if (lead < 0x80) {
            length = 1;
            cp = lead;
        } else if (lead >= 0xc2 && lead <= 0xdf) {
            length = 2;
            cp = lead & 0x1fu;
        } else if (lead >= 0xe0 && lead <= 0xef) {
            length = 3;
            cp = lead & 0x0fu;
        } else if (lead >= 0xf0 && lead <= 0xf4) {
            length = 4;
            cp = lead & 0x07u;
        } else {
            return text_problem::invalid_utf8;
        }
        if (text.size() - i < length) return text_problem::invalid_utf8;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0u) != 0x80u) return text_problem::invalid_utf8;
            cp = (cp << 6) | (next & 0x3fu);
        }
        if ((length == 3 && cp < 0x800) || (length == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return text_problem::invalid_utf8;
        if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) found = text_problem::control_character;
        i += length;
    }
    return found;
}

/// Whether `text` is valid UTF-8 (control characters allowed).
inline bool is_utf8(std::string_view text) noexcept { return check_text(text) != text_problem::invalid_utf8; }

} // namespace multisession::detail
