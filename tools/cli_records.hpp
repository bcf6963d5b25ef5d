// How the `multisession` tool reads what it finds under the record prefix, and how it prints
// session ids and JSON.
#pragma once

#include "session/session_record.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace multisession::cli {

/// What a value under "solidClientAuthenticationUser:" is.
enum class record_kind {
    session,     ///< a session record (it has an issuer)
    login_state, ///< Inrupt's {"sessionId": ...} written for an OAuth state at login
    other,       ///< parses, but neither (no issuer): not listed, as the library does
    corrupt,     ///< does not parse as a record
    sealed,      ///< an envelope of the encrypted decorator, read without the key ring
};

struct classified_record {
    record_kind kind = record_kind::other;
    session_detail::session_record record{}; ///< for session (and other)
    std::string state_session_id{};          ///< for login_state
    std::string problem{};                   ///< for corrupt: the parser's message (names the id only)
};

/// Classifies the value stored for session id `id`. Never throws except std::bad_alloc.
classified_record classify_record(std::string_view id, std::string_view value);

/// A refresh token that counts (Inrupt reads "" as none).
bool has_refresh_token(const session_detail::session_record& record) noexcept;

/// Whether the client registration of `record` has expired (expiresAt > 0 and before `now_seconds`).
bool client_expired(const session_detail::session_record& record, std::int64_t now_seconds) noexcept;

/// A session id for a human table: as it is when it is printable UTF-8, escaped otherwise.
std::string shown_id(std::string_view id);

/// The same for JSON strings (which must be valid UTF-8).
std::string json_text(std::string_view text);

/// nlohmann's compact dump, with invalid UTF-8 replaced instead of thrown.
std::string dump(const nlohmann::ordered_json& document);

/// Writes `document` and a newline to stdout.
void print_json(const nlohmann::ordered_json& document);

} // namespace multisession::cli
