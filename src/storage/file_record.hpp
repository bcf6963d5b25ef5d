// The file backend's on-disk record: one entry per file.
//
//   offset  size  field
//        0     4  magic "MSF1"
//        4     1  format version (1)
//        5     1  flags: bit 0 = has an expiry; other bits must be zero
//        6     2  reserved, zero
//        8     8  expiry, nanoseconds since the Unix epoch, signed (zero when there is none)
//       16     4  key length
//       20     8  value length
//       28     -  key bytes, then value bytes
//      end     4  CRC-32 (IEEE) of every byte before it
//
// Integers are little-endian. The key is stored so that a file found by listing (possibly under a
// hashed name) says which key it holds, and so that a file copied or renamed onto another key's
// name is caught. The expiry keeps the clock's full resolution, so an entry expires at exactly the
// instant the caller gave, as with every other backend.
#pragma once

#include <multisession/storage.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::detail {

inline constexpr std::string_view record_magic = "MSF1";
inline constexpr std::uint8_t record_version = 1;
inline constexpr std::uint8_t record_flag_expiry = 1;
inline constexpr std::size_t record_header_size = 28;
inline constexpr std::size_t record_trailer_size = 4;

inline constexpr std::array<std::uint32_t, 256> crc32_table = [] {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t c = i;
        for (int bit = 0; bit < 8; ++bit)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    return table;
}();

inline std::uint32_t crc32(std::string_view bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (const char b : bytes)
        c = crc32_table[(c ^ static_cast<unsigned char>(b)) & 0xFFu] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/// A decoded record; the views point into the buffer it was decoded from.
struct record_view {
    std::string_view key;
    std::string_view value;
    std::optional<time_point> expires_at;

    [[nodiscard]] bool live(time_point now) const { return !expires_at || *expires_at > now; }
};

namespace record_bytes {

inline void put(std::string& out, std::uint64_t v, int size) {
    for (int i = 0; i < size; ++i)
        out += static_cast<char>((v >> (8 * i)) & 0xFFu);
}

inline std::uint64_t get(std::string_view in, std::size_t offset, int size) {
    std::uint64_t v = 0;
    for (int i = 0; i < size; ++i)
        v |= std::uint64_t{static_cast<unsigned char>(in[offset + i])} << (8 * i);
    return v;
}

} // namespace record_bytes

/// Replaces `out` with the record of `key` → `value`.
inline void encode_record(std::string& out, std::string_view key, std::string_view value,
                          std::optional<time_point> expires_at) {
    std::int64_t expiry = 0;
    if (expires_at)
        expiry = std::chrono::duration_cast<std::chrono::nanoseconds>(expires_at->time_since_epoch()).count();
    out.clear();
    out.reserve(record_header_size + key.size() + value.size() + record_trailer_size);
    out += record_magic;
    out += static_cast<char>(record_version);
    out += static_cast<char>(expires_at ? record_flag_expiry : 0);
    record_bytes::put(out, 0, 2);
    record_bytes::put(out, static_cast<std::uint64_t>(expiry), 8);
    record_bytes::put(out, key.size(), 4);
    record_bytes::put(out, value.size(), 8);
    out += key;
    out += value;
    record_bytes::put(out, crc32(out), 4);
}

/// The record in `bytes`, or nullopt if they are not exactly one well-formed record.
inline std::optional<record_view> decode_record(std::string_view bytes) {
    if (bytes.size() < record_header_size + record_trailer_size) return std::nullopt;
    if (bytes.substr(0, record_magic.size()) != record_magic) return std::nullopt;
    const std::size_t body = bytes.size() - record_trailer_size;
    if (record_bytes::get(bytes, body, 4) != crc32(bytes.substr(0, body))) return std::nullopt;

    const auto version = static_cast<std::uint8_t>(bytes[4]);
    const auto flags = static_cast<std::uint8_t>(bytes[5]);
    if (version != record_version || (flags & ~record_flag_expiry) != 0 || record_bytes::get(bytes, 6, 2) != 0)
        return std::nullopt;
    const std::uint64_t key_size = record_bytes::get(bytes, 16, 4);
    const std::uint64_t value_size = record_bytes::get(bytes, 20, 8);
    const std::size_t payload = body - record_header_size;
    if (key_size == 0 || key_size > storage::max_key_size || key_size > payload || value_size != payload - key_size)
        return std::nullopt;

    // Without the expiry flag the expiry field is zero, so each record has exactly one encoding.
    const std::uint64_t expiry_field = record_bytes::get(bytes, 8, 8);
    if (!(flags & record_flag_expiry) && expiry_field != 0) return std::nullopt;

    record_view record;
    record.key = bytes.substr(record_header_size, key_size);
    record.value = bytes.substr(record_header_size + key_size, value_size);
    if (flags & record_flag_expiry) {
        const auto expiry = static_cast<std::int64_t>(expiry_field);
        record.expires_at =
            time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::nanoseconds(expiry)));
    }
    return record;
}

} // namespace multisession::detail
