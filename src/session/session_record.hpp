// The session record and the key layout, compatible with Inrupt's Node library: what a restart
// needs to bring a session back, stored as a JSON object of string fields under
// "solidClientAuthenticationUser:<session id>". Pure: no I/O, no Boost.
#pragma once

#include "core/secret.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::session_detail {

/// Key prefixes and keys of the layout.
inline constexpr std::string_view record_prefix = "solidClientAuthenticationUser:";
inline constexpr std::string_view registered_sessions_key = "solidClientAuthn:registeredSessions";
/// Our own keys live under a prefix of their own, so Inrupt's readers never see them and a listing
/// of records never meets them.
inline constexpr std::string_view lease_prefix = "multisession:lease:";
/// One entry per (WebID, session): "multisession:webid:" + hex SHA-256 of the WebID + ":" + session
/// id, its value the WebID. Each entry is its own key, so writers never race on a shared list.
inline constexpr std::string_view webid_prefix = "multisession:webid:";
/// Dynamic client registrations, reused until they expire: "multisession:client:" + hex SHA-256
/// of (issuer, redirect URL, client name).
inline constexpr std::string_view client_prefix = "multisession:client:";
/// Pending logins: "multisession:login:" + the OAuth state, the pending login in the record layout
/// plus "sessionId", with an expiry.
inline constexpr std::string_view login_prefix = "multisession:login:";
/// The grant value of client-credentials sessions.
inline constexpr std::string_view client_credentials_grant = "client_credentials";
/// The scope of a client-credentials session that stored none.
inline constexpr std::string_view default_cc_scope = "openid webid";

/// "solidClientAuthenticationUser:" + id.
std::string record_key(std::string_view session_id);
/// "multisession:lease:" + id.
std::string lease_key(std::string_view session_id);
/// The prefix of the WebID entries of `webid`, and the entry of one session.
std::string webid_entry_prefix(std::string_view webid);
std::string webid_entry_key(std::string_view webid, std::string_view session_id);
/// The session id of a record key, or nullopt when `key` does not start with record_prefix.
std::optional<std::string_view> session_id_of_key(std::string_view key) noexcept;

/// Checks a session id given by a caller: non-empty, at most 1024 bytes, valid UTF-8, no control
/// characters. Throws multisession::error(storage_errc::invalid_key) naming the problem (not the
/// id, when it is not printable). Ids are never used as paths (backends hash or encode keys), so
/// "../x" is a valid id; this check keeps ids printable in logs and messages.
void check_session_id(std::string_view session_id);

/// One session record. Field names in comments are the canonical JSON spellings; every value is a
/// JSON string in storage. Secrets: client_secret, refresh_token, code_verifier, private_key (never
/// logged; held in zeroing strings).
struct session_record {
    std::optional<std::string> issuer;             ///< "issuer"; a record without it is not a session
    std::optional<std::string> client_id;          ///< "clientId" (also read: "clientAppId")
    std::optional<detail::secret_string> client_secret; ///< "clientSecret" (also read: "clientAppSecret")
    std::optional<std::string> client_type;        ///< "clientType": "dynamic" | "static" | "solid-oidc"
    std::optional<std::string> client_name;        ///< "clientName"
    std::optional<std::string> id_token_signed_response_alg; ///< "idTokenSignedResponseAlg"
    /// "expiresAt": when the client registration (secret) expires, in seconds since the epoch, "0"
    /// = never.
    std::optional<std::int64_t> client_expires_at;
    std::optional<detail::secret_string> refresh_token; ///< "refreshToken"
    /// "dpop": "true" / "false"; absent means Bearer (Inrupt's reading).
    bool dpop = false;
    std::optional<std::string> keep_alive;         ///< "keepAlive", kept as written
    std::optional<std::string> redirect_url;       ///< "redirectUrl"
    std::optional<detail::secret_string> code_verifier; ///< "codeVerifier"
    std::optional<std::string> webid;              ///< "webId"
    bool is_logged_in = false;                     ///< "isLoggedIn": "true" / "false"
    std::optional<std::string> public_key;         ///< "publicKey": JSON text of the public JWK
    std::optional<detail::secret_string> private_key; ///< "privateKey": JSON text of the private JWK
    // Ours (Inrupt's readers ignore unknown fields). Times in milliseconds since the epoch.
    std::optional<std::int64_t> created_at;        ///< "multisessionCreatedAt"
    std::optional<std::int64_t> updated_at;        ///< "multisessionUpdatedAt"
    std::optional<std::int64_t> access_token_expires_at; ///< "expirationDate" (Inrupt's own name for it)
    /// "multisessionExpiresAt": when the record stops counting (the refresh token's end, or a
    /// pending login's). The store entry carries the same expiry, so it is invisible after it.
    std::optional<std::int64_t> expires_at;
    /// "multisessionGrant": "client_credentials" for sessions that log in again with the stored
    /// client credentials; absent for refresh-token sessions.
    std::optional<std::string> grant;
    /// "multisessionScope": the scope a client-credentials session asks for.
    std::optional<std::string> scope;
    /// "multisessionData": the application's data attached to the session (UTF-8 text).
    std::optional<std::string> data;
    /// Fields this library does not know, kept as they were (string values only) and written back,
    /// so a round trip through this library loses nothing another writer stored.
    std::map<std::string, std::string> other_fields;

    /// Member-wise equality (other_fields included).
    friend bool operator==(const session_record&, const session_record&) = default;

    /// Whether the record describes a session at all (Inrupt's rule: it has an issuer; Inrupt's
    /// reader takes an empty string for a missing field, so an empty issuer does not count).
    [[nodiscard]] bool is_session() const noexcept { return issuer.has_value() && !issuer->empty(); }
};

/// Parses a stored record of session `session_id`. Accepts both spellings of the fields Inrupt
/// writes under two names (the canonical one wins when both are present, and the other one is
/// dropped: it would hold a stale copy, possibly of a secret); numbers stored as strings
/// ("expiresAt": "1700000000") or as JSON numbers; booleans as "true"/"false" strings or JSON
/// booleans. Like Inrupt's reader, any boolean string other than "true" reads as false, and an
/// "expiresAt" of "undefined" or "NaN" (what Inrupt writes when a provider omits
/// client_secret_expires_at, and reads as "never expires") reads as 0. A JSON null counts as an
/// absent field. Unknown members with string values land in other_fields; unknown members of
/// other types are dropped (other_fields holds strings only, and Inrupt writes none).
/// Throws multisession::error(storage_errc::corrupt_record) when `text` is not a JSON object, a
/// field has another JSON type, or a time is not a non-negative integer before the year 10000;
/// the message names the session id and the field, never any value or part of the text.
session_record parse_session_record(std::string_view session_id, std::string_view text);

/// The record as compact JSON with the canonical spellings, every value a string (as Inrupt's
/// library writes it), members in a fixed order: absent optionals are left out, "dpop" and
/// "isLoggedIn" always written. Entries of other_fields named like a known field (in either
/// spelling) are not written, so parsing the result gives back `record`.
/// Throws multisession::error(storage_errc::corrupt_record) naming the field when a value or an
/// other_fields name is not valid UTF-8 (a JSON string cannot hold it).
std::string serialize_session_record(const session_record& record);

/// A record of another kind under the same prefix: Inrupt's `{"sessionId": "<id>"}` written for an
/// OAuth state at login. Returns the session id it points to (a non-empty string member
/// "sessionId"), or nullopt for anything else (including unparsable text). Never throws except
/// std::bad_alloc.
std::optional<std::string> state_record_session_id(std::string_view text);

/// Inrupt's registered-sessions index: a JSON array of session ids.
/// parse: nullopt text → empty; a JSON array of strings → its ids in order (non-strings skipped);
/// anything else throws multisession::error(storage_errc::corrupt_record).
std::vector<std::string> parse_session_index(const std::optional<std::string>& text);
/// The index with `id` added at the end unless already present, as compact JSON (the ids of
/// `text` that were not strings are dropped). Throws like parse_session_index, and
/// multisession::error(storage_errc::invalid_key) when `id` is not valid UTF-8.
std::string index_with(const std::optional<std::string>& text, std::string_view id);
/// The index without `id` (every occurrence), as compact JSON. Throws like parse_session_index.
std::string index_without(const std::optional<std::string>& text, std::string_view id);

} // namespace multisession::session_detail
