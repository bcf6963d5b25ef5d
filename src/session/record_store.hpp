// Records in a store: reading one, changing one under compare-and-set, the per-WebID entries and
// what session_info shows. Shared by the refresh coordinator, login, logout and prune. No network.
#pragma once

#include "oidc/wire_token.hpp"
#include "session/session_record.hpp"

#include <multisession/session.hpp>
#include <multisession/storage.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::session_detail {

/// Milliseconds since the epoch, as records store times.
std::int64_t epoch_ms(time_point t);
time_point from_epoch_ms(std::int64_t ms);

/// The store-level expiry of a record's entry: its expires_at, if any.
std::optional<time_point> record_entry_expiry(const session_record& record);

/// How long a refresh token just received lasts: what the provider said (refresh_expires_in, 0 =
/// never), else options.refresh_token_lifetime, else unknown.
std::optional<std::chrono::seconds> refresh_token_lifetime(const oidc::token_set& tokens,
                                                           const session_manager_options& options);

/// A record as stored: its text (for compare-and-set) and its parsed form.
struct stored_record {
    std::string text;
    session_record record;
};

/// The record of `session_id`, or nullopt when there is none or it is not a session (expired
/// entries are invisible; so is a record whose expires_at has passed, even if its entry carries
/// no expiry, e.g. after a raw copy). Throws multisession::error (corrupt_record naming the id).
std::optional<stored_record> read_record(storage& store, const std::string& session_id, time_point now);

/// Applies `change` to `current` (a record as read) and writes it over `current.text` under
/// compare-and-set; on a conflict the record is read again and `change` applied to that. After
/// it `current` is what the store holds. Returns false when the record is gone (never brought
/// back). `change` returns false to leave the record as it is. Throws multisession::error (busy
/// after many conflicts). The one way records are rewritten: a refresh, the application's data
/// and a dead mark never lose each other's change.
bool change_record(storage& store, const std::string& session_id, stored_record& current,
                   const std::function<bool(session_record&)>& change);

/// Applies `change` to the record of `session_id` and writes it back under compare-and-set,
/// re-reading and re-applying on a conflict. `change` returns false to leave the record as it is.
/// Returns the record written, or nullopt when there is no session. Throws multisession::error
/// (busy after many conflicts).
std::optional<session_record> update_record(storage& store, const std::string& session_id, time_point now,
                                            const std::function<bool(session_record&)>& change);

/// Writes the WebID entry of a session (same expiry as its record). Throws multisession::error.
void put_webid_entry(storage& store, std::string_view webid, std::string_view session_id,
                     const session_record& record);
/// Removes it; false when there was none. Throws multisession::error.
bool remove_webid_entry(storage& store, std::string_view webid, std::string_view session_id);

/// The client a record names (its "clientType" read as Inrupt writes it; anything else is dynamic).
oidc::client_info client_of(const session_record& record);

/// What session_info shows of a record.
session_info info_of(const std::string& session_id, const session_record& record);

/// Whether the record can log in again on its own: a refresh token, or client credentials.
bool can_log_in_again(const session_record& record);

} // namespace multisession::session_detail
