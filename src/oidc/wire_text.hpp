// Small text helpers shared by the wire-format code: bounded, printable renderings for messages.
#pragma once

#include "core/printable.hpp"
#include "oidc/wire_http.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace multisession::oidc::detail {

/// `text` printable and cut after `limit` bytes (see core/printable.hpp), for naming URLs and
/// provider-chosen identifiers in error messages. Never pass a secret.
inline std::string printable(std::string_view text, std::size_t limit = 200) {
    return multisession::detail::printable(text, limit);
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
