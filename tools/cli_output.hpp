// What the `multisession` tool prints: error lines, the progress bar, redaction of secrets, and the
// small encodings its formats need (UTF-8 check, base64, ISO-8601 times, error-code names).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace multisession::cli {

/// Writes "multisession: <command>: <message>" as one line on stderr. `message` must not hold a
/// secret; control characters are shown escaped so that it stays one line.
void print_error(std::string_view command, std::string_view message);

/// `text` made printable for a message or a table (control and non-ASCII bytes as \xNN), cut
/// after `limit` bytes. For keys and ids only: escaping is not redaction.
std::string printable(std::string_view text, std::size_t limit = 200);

/// How a secret is shown: "(redacted, N bytes)". Never any part of the secret.
std::string redacted(std::size_t bytes);

/// Whether a field name of a record that this tool does not know looks like it holds a secret
/// (token, secret, password, private, key, verifier, credential; any case).
bool looks_secret(std::string_view field_name);

/// Whether `text` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_utf8(std::string_view text) noexcept;

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);
/// Standard or URL-safe base64, padding optional, no whitespace; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

/// "2024-05-01T12:00:00Z" for seconds / milliseconds since the epoch.
std::string iso_time_seconds(std::int64_t seconds);
std::string iso_time_milliseconds(std::int64_t milliseconds);

/// A stable short name for an error code ("invalid_grant", "decryption_failed", ...), for scripts.
std::string code_name(std::error_code code);

/// Whether stdin / stderr is a terminal.
bool stdin_is_terminal() noexcept;
bool stderr_is_terminal() noexcept;

/// A progress bar redrawn in place on stderr, at most ten times a second; inert when disabled
/// (stderr is not a terminal, or --quiet / --json). The line is cleared when it is destroyed.
class progress_bar {
public:
    progress_bar(std::string label, bool enabled);
    ~progress_bar();
    progress_bar(const progress_bar&) = delete;
    progress_bar& operator=(const progress_bar&) = delete;

    /// The number of items expected; 0: unknown (only the count is shown).
    void set_total(std::size_t total) noexcept { total_ = total; }
    void update(std::size_t done);
    /// Removes the bar from the screen (before other output); the next update draws it again.
    void clear();
    [[nodiscard]] bool enabled() const noexcept { return enabled_; }

private:
    void draw(std::size_t done);

    std::string label_;
    bool enabled_;
    bool drawn_ = false;
    std::size_t total_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

} // namespace multisession::cli
