// The file backend's naming scheme: which file in the store's directory holds which key.
//
// A short key is spelled out ("k" + the key with every byte outside [A-Za-z0-9_-] escaped as %XX),
// so a listing can filter by prefix without opening files. A key whose spelling would be too long
// for a file name is named by its SHA-256 ("h" + 64 hex digits); the file itself stores the key.
// Neither form can contain '/' or start with '.', so no key names a path outside the directory or
// collides with the store's own dot files (".lock", ".tmp-*").
#pragma once

#include <multisession/error.hpp>

#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::detail {

/// Longest spelled-out key, escapes included; with the kind letter it stays well under NAME_MAX.
inline constexpr std::size_t max_spelled_key = 200;

inline constexpr char encoded_name_tag = 'k';
inline constexpr char hashed_name_tag = 'h';
inline constexpr std::size_t hashed_name_size = 1 + 64;

inline bool kept_in_name(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/// The file name of `key` (non-empty). Throws multisession::error if SHA-256 is unavailable.
inline std::string file_name_for(std::string_view key) {
    static constexpr std::string_view upper_hex = "0123456789ABCDEF";
    static constexpr std::string_view lower_hex = "0123456789abcdef";
    std::size_t spelled = 0;
    for (const char c : key)
        spelled += kept_in_name(static_cast<unsigned char>(c)) ? 1 : 3;

    std::string name(1, encoded_name_tag);
    if (spelled <= max_spelled_key) {
        name.reserve(1 + spelled);
        for (const char c : key) {
            const auto byte = static_cast<unsigned char>(c);
            if (kept_in_name(byte)) {
                name += c;
            } else {
                name += '%';
                name += upper_hex[byte >> 4];
                name += upper_hex[byte & 15];
            }
        }
        return name;
    }

    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_size = 0;
    if (EVP_Digest(key.data(), key.size(), digest.data(), &digest_size, EVP_sha256(), nullptr) != 1 ||
        digest_size != 32)
        throw error(storage_errc::backend_error, "file storage: SHA-256 is unavailable");
    name.assign(1, hashed_name_tag);
    for (unsigned int i = 0; i < digest_size; ++i) {
        name += lower_hex[digest[i] >> 4];
        name += lower_hex[digest[i] & 15];
    }
    return name;
}

/// The key spelled out in `name`, or nullopt if `name` is not exactly what file_name_for() makes
/// for some short key. Accepting only the canonical spelling keeps the key-to-name map one-to-one,
/// so two files can never both claim the same key.
inline std::optional<std::string> key_from_encoded_name(std::string_view name) {
    if (name.size() < 2 || name.size() > 1 + max_spelled_key || name[0] != encoded_name_tag) return std::nullopt;
    const auto hex_value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string key;
    key.reserve(name.size() - 1);
    for (std::size_t i = 1; i < name.size(); ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        if (kept_in_name(c)) {
            key += name[i];
            continue;
        }
        if (c != '%' || i + 2 >= name.size()) return std::nullopt;
        const int high = hex_value(name[i + 1]);
        const int low = hex_value(name[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        const auto byte = static_cast<unsigned char>(high * 16 + low);
        if (kept_in_name(byte)) return std::nullopt;
        key += static_cast<char>(byte);
        i += 2;
    }
    return key;
}

/// Whether `name` has the shape of a hashed name (the key it belongs to is only in the file).
inline bool is_hashed_name(std::string_view name) {
    if (name.size() != hashed_name_size || name[0] != hashed_name_tag) return false;
    for (std::size_t i = 1; i < name.size(); ++i) {
        const char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

} // namespace multisession::detail
