#include "oidc/base64url.hpp"

#include <array>
#include <cstdint>

namespace multisession::oidc {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_decode_table() {
    std::array<std::int8_t, 256> table{};
    for (auto& entry : table)
        entry = -1;
    for (int i = 0; i < 64; ++i)
        table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
    return table;
}
constexpr auto decode_table = make_decode_table();

} // namespace

std::string base64url_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t triple = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        out += alphabet[(triple >> 18) & 63];
        out += alphabet[(triple >> 12) & 63];
        out += alphabet[(triple >> 6) & 63];
        out += alphabet[triple & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest == 1) {
        const std::uint32_t single = std::uint32_t{in[i]} << 16;
        out += alphabet[(single >> 18) & 63];
        out += alphabet[(single >> 12) & 63];
    } else if (rest == 2) {
        const std::uint32_t pair = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
        out += alphabet[(pair >> 18) & 63];
        out += alphabet[(pair >> 12) & 63];
        out += alphabet[(pair >> 6) & 63];
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
    // Tolerate the trailing padding some encoders add, but only where it completes a quantum.
    if (text.size() % 4 == 0 && !text.empty()) {
        std::size_t pad = 0;
        while (pad < 2 && text[text.size() - 1 - pad] == '=')
            ++pad;
        text.remove_suffix(pad);
    }
    if (text.size() % 4 == 1) return std::nullopt; // 6 bits cannot end a byte
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t accumulator = 0;
    int bits = 0;
    for (const char c : text) {
        const int value = decode_table[static_cast<unsigned char>(c)];
        if (value < 0) return std::nullopt; // also rejects '=' that is not trailing padding
        accumulator = (accumulator << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((accumulator >> bits) & 0xff);
        }
    }
    // Leftover bits must be zero, so that exactly one string encodes each byte sequence.
    if (bits > 0 && (accumulator & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

} // namespace multisession::oidc
