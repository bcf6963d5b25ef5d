// Values the crash test writes: self-describing and checkable, so a torn or mixed write cannot
// pass for a whole one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::test {

/// "r<round>:k<key>:" followed by 6000 bytes derived from both, then ":end".
inline std::string crash_value(std::uint64_t round, std::uint64_t key) {
    std::string out = "r" + std::to_string(round) + ":k" + std::to_string(key) + ":";
    std::uint64_t x = round * 6364136223846793005ULL + key * 1442695040888963407ULL + 1;
    for (int i = 0; i < 6000; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out += static_cast<char>('a' + x % 26);
    }
    return out + ":end";
}

/// The round a value was written in, if it is exactly crash_value(round, key); nullopt otherwise.
inline std::optional<std::uint64_t> crash_value_round(std::string_view value, std::uint64_t key) {
    if (value.size() < 2 || value[0] != 'r') return std::nullopt;
    const auto colon = value.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::uint64_t round = 0;
    for (char c : value.substr(1, colon - 1)) {
        if (c < '0' || c > '9') return std::nullopt;
        round = round * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (value != crash_value(round, key)) return std::nullopt;
    return round;
}

} // namespace multisession::test
