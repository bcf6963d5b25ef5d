// Prefixes as key ranges. SQLite compares BLOBs with memcmp, so "every key starting with P" is the
// half-open range [P, successor(P)), which the primary key's B-tree answers with one seek.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace multisession::detail {

/// The smallest byte string greater than every string that starts with `prefix`: the prefix with
/// its last byte that is not 0xFF incremented and everything after it dropped. nullopt when there
/// is no such bound (an empty prefix, or one made only of 0xFF bytes): the range is then open above.
inline std::optional<std::string> prefix_upper_bound(std::string_view prefix) {
    std::string bound(prefix);
    while (!bound.empty()) {
        const auto last = static_cast<unsigned char>(bound.back());
        if (last != 0xff) {
            bound.back() = static_cast<char>(last + 1);
            return bound;
        }
        bound.pop_back();
    }
    return std::nullopt;
}

/// The smallest byte string greater than `key`: `key` followed by one zero byte. Lets "key > last"
/// be written "key >= resume" so the first page and the following ones share one statement.
inline std::string key_successor(std::string_view key) {
    std::string next;
    next.reserve(key.size() + 1);
    next.append(key);
    next.push_back('\0');
    return next;
}

} // namespace multisession::detail
