#include "cli_output.hpp"

#include "core/printable.hpp"
#include "core/utf8.hpp"

#include <multisession/error.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <iostream>

#include <unistd.h>

namespace multisession::cli {

void print_error(std::string_view command, std::string_view message) {
    std::string line = "multisession: ";
    if (!command.empty()) line += std::string(command) + ": ";
    for (char c : message) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
            line += ' ';
        } else {
            line += c;
        }
    }
    line += '\n';
    std::cerr << line << std::flush;
}

std::string printable(std::string_view text, std::size_t limit) { return detail::printable(text, limit); }

std::string redacted(std::size_t bytes) { return "(redacted, " + std::to_string(bytes) + " bytes)"; }

bool looks_secret(std::string_view field_name) {
    std::string lower;
    for (char c : field_name)
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static constexpr std::array<std::string_view, 7> hints{"token", "secret",   "password",  "private",
                                                           "key",   "verifier", "credential"};
    return std::any_of(hints.begin(), hints.end(),
                       [&](std::string_view hint) { return lower.find(hint) != std::string::npos; });
}

bool is_utf8(std::string_view text) noexcept { return detail::is_utf8(text); }

namespace {
constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}
} // namespace

std::string base64_encode(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const auto n = (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
                       (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += base64_alphabet[(n >> 6) & 63];
        out += base64_alphabet[n & 63];
    }
    if (const std::size_t rest = bytes.size() - i; rest > 0) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        out += base64_alphabet[(n >> 18) & 63];
        out += base64_alphabet[(n >> 12) & 63];
        out += rest == 2 ? base64_alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=')
        text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        const int v = base64_value(c);
        if (v < 0) return std::nullopt;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xffu);
        }
    }
    // Leftover bits must be zero, so that every byte string has exactly one encoding.
    if ((buffer & ((1u << bits) - 1u)) != 0) return std::nullopt;
    return out;
}

std::string iso_time_seconds(std::int64_t seconds) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    if (::gmtime_r(&t, &tm) == nullptr) return std::to_string(seconds);
    std::array<char, 32> buffer{};
    const auto n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return n == 0 ? std::to_string(seconds) : std::string(buffer.data(), n);
}

std::string iso_time_milliseconds(std::int64_t milliseconds) { return iso_time_seconds(milliseconds / 1000); }

std::string code_name(std::error_code code) {
    static constexpr std::array<std::string_view, 10> storage_names{"",
                                                                    "io_error",
                                                                    "corrupt_record",
                                                                    "busy",
                                                                    "invalid_key",
                                                                    "invalid_uri",
                                                                    "decryption_failed",
                                                                    "unknown_key_id",
                                                                    "invalid_configuration",
                                                                    "backend_error"};
    static constexpr std::array<std::string_view, 10> http_names{
        "",        "invalid_url",       "insecure_url_refused", "connect_failed", "tls_failed",
        "timeout", "connection_closed", "malformed_response",   "body_too_large", "shut_down"};
    static constexpr std::array<std::string_view, 22> oidc_names{"",
                                                                 "invalid_grant",
                                                                 "invalid_client",
                                                                 "unauthorized_client",
                                                                 "invalid_request",
                                                                 "invalid_scope",
                                                                 "unsupported_grant_type",
                                                                 "invalid_dpop_proof",
                                                                 "use_dpop_nonce",
                                                                 "oauth_error",
                                                                 "server_error",
                                                                 "unexpected_status",
                                                                 "malformed_response",
                                                                 "issuer_mismatch",
                                                                 "invalid_token",
                                                                 "unsupported_algorithm",
                                                                 "token_expired",
                                                                 "token_not_yet_valid",
                                                                 "audience_mismatch",
                                                                 "unknown_key",
                                                                 "invalid_key",
                                                                 "missing_webid"};
    const auto pick = [&](const auto& names) -> std::string {
        const auto v = static_cast<std::size_t>(code.value());
        if (code.value() > 0 && v < names.size()) return std::string(names[v]);
        return std::string(code.category().name()) + ":" + std::to_string(code.value());
    };
    if (code.category() == storage_category()) return pick(storage_names);
    if (code.category() == http_category()) return pick(http_names);
    if (code.category() == oidc_category()) return pick(oidc_names);
    return std::string(code.category().name()) + ":" + std::to_string(code.value());
}

bool stdin_is_terminal() noexcept { return ::isatty(STDIN_FILENO) != 0; }
bool stderr_is_terminal() noexcept { return ::isatty(STDERR_FILENO) != 0; }

progress_bar::progress_bar(std::string label, bool enabled) : label_(std::move(label)), enabled_(enabled) {}

progress_bar::~progress_bar() { clear(); }

void progress_bar::clear() {
    if (!enabled_ || !drawn_) return;
    std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
}

void progress_bar::update(std::size_t done) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done != total_) return;
    last_ = now;
    draw(done);
}

void progress_bar::draw(std::size_t done) {
    std::string line = "\r" + label_ + " ";
    if (total_ > 0) {
        constexpr std::size_t width = 30;
        const std::size_t filled = std::min(done, total_) * width / total_;
        line += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
        line += std::to_string(done) + "/" + std::to_string(total_);
    } else {
        line += std::to_string(done);
    }
    line += "\033[K";
    std::cerr << line << std::flush;
    drawn_ = true;
}

} // namespace multisession::cli
