// Turning fuzz bytes into the structured inputs the parsers take. Kept readable, so the seed
// corpora are plain text files a person can write and review.
#pragma once

#include "http/message.hpp"

#include <string_view>
#include <utility>

namespace multisession::fuzz {

/// The text up to the first '\n' (without it) and the rest after it; no '\n': all of it and "".
inline std::pair<std::string_view, std::string_view> split_line(std::string_view text) {
    const auto end = text.find('\n');
    if (end == std::string_view::npos) return {text, {}};
    return {text.substr(0, end), text.substr(end + 1)};
}

/// An HTTP response written as text:
///   <status>\n<Name>: <value>\n...\n\n<body>
/// The status is the leading digits of the first line (200 when there are none, capped at 999);
/// header lines run to the first empty line, a line without ':' is a header with an empty value;
/// everything after the empty line is the body, byte for byte.
inline http::response response_of(std::string_view text) {
    http::response out;
    auto [status_line, rest] = split_line(text);
    int status = 0;
    std::size_t digits = 0;
    while (digits < status_line.size() && digits < 3 && status_line[digits] >= '0' && status_line[digits] <= '9')
        status = status * 10 + (status_line[digits++] - '0');
    out.status = digits == 0 ? 200 : status;
    while (!rest.empty()) {
        auto [line, after] = split_line(rest);
        rest = after;
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            out.headers.push_back({std::string(line), {}});
            continue;
        }
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        out.headers.push_back({std::string(line.substr(0, colon)), std::string(value)});
    }
    out.body = std::string(rest);
    return out;
}

} // namespace multisession::fuzz
