#include "session/record_store.hpp"

#include "session/engine.hpp"

#include <multisession/error.hpp>

namespace multisession::session_detail {

std::int64_t epoch_ms(time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

time_point from_epoch_ms(std::int64_t ms) {
    return time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::milliseconds(ms)));
}

std::optional<time_point> record_entry_expiry(const session_record& record) {
    if (!record.expires_at) return std::nullopt;
    return from_epoch_ms(*record.expires_at);
}

std::optional<std::chrono::seconds> refresh_token_lifetime(const oidc::token_set& tokens,
                                                           const session_manager_options& options) {
    if (tokens.refresh_expires_in) {
        if (*tokens.refresh_expires_in == std::chrono::seconds::zero()) return std::nullopt;
        return tokens.refresh_expires_in;
    }
    return options.refresh_token_lifetime;
}

std::optional<stored_record> read_record(storage& store, const std::string& session_id, time_point now) {
    auto text = store.get(record_key(session_id));
    if (!text) return std::nullopt;
    auto record = parse_session_record(session_id, *text);
    if (!record.is_session()) return std::nullopt;
    if (record.expires_at && *record.expires_at <= epoch_ms(now)) return std::nullopt;
    return stored_record{std::move(*text), std::move(record)};
}

bool change_record(storage& store, const std::string& session_id, stored_record& current,
                   const std::function<bool(session_record&)>& change) {
    const auto key = record_key(session_id);
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto next = current.record;
        if (!change(next)) return true;
        auto text = serialize_session_record(next);
        if (store.compare_and_set(key, current.text, text, record_entry_expiry(next))) {
            current = {std::move(text), std::move(next)};
            return true;
        }
        auto fresh = store.get(key);
        if (!fresh) return false;
        current.record = parse_session_record(session_id, *fresh);
        current.text = std::move(*fresh);
    }
    throw error(storage_errc::busy, "session '" + printable_id(session_id) + "': too many concurrent writers");
}

std::optional<session_record> update_record(storage& store, const std::string& session_id, time_point now,
                                            const std::function<bool(session_record&)>& change) {
    auto current = read_record(store, session_id, now);
    if (!current || !change_record(store, session_id, *current, change)) return std::nullopt;
    return std::move(current->record);
}

void put_webid_entry(storage& store, std::string_view webid, std::string_view session_id,
                     const session_record& record) {
    const auto key = webid_entry_key(webid, session_id);
    const auto expiry = record_entry_expiry(record);
    // Without an expiry to move, an entry already there is left alone: a refresh then costs one
    // durable write (the record), not two.
    if (!expiry && store.get(key) == webid) return;
    store.set(key, webid, expiry);
}

bool remove_webid_entry(storage& store, std::string_view webid, std::string_view session_id) {
    return store.remove(webid_entry_key(webid, session_id));
}

oidc::client_info client_of(const session_record& record) {
    auto type = oidc::client_type::dynamic;
    if (record.client_type == "static") type = oidc::client_type::static_client;
    if (record.client_type == "solid-oidc") type = oidc::client_type::solid_oidc;
    return {record.client_id.value_or(""), record.client_secret, type};
}

bool can_log_in_again(const session_record& record) {
    if (record.refresh_token && !record.refresh_token->empty()) return true;
    return record.grant == client_credentials_grant && record.client_secret && !record.client_secret->empty();
}

session_info info_of(const std::string& session_id, const session_record& record) {
    session_info info;
    info.session_id = session_id;
    info.issuer = record.issuer.value_or("");
    info.webid = record.webid;
    info.client_id = record.client_id.value_or("");
    info.client_type = record.client_type.value_or("dynamic");
    info.client_credentials = record.grant == client_credentials_grant;
    info.has_refresh_token = record.refresh_token && !record.refresh_token->empty();
    info.dpop = record.dpop;
    const auto time = [](const std::optional<std::int64_t>& ms) {
        return ms ? std::optional<time_point>(from_epoch_ms(*ms)) : std::nullopt;
    };
    info.created_at = time(record.created_at);
    info.last_refreshed = time(record.updated_at);
    info.access_token_expires_at = time(record.access_token_expires_at);
    info.expires_at = time(record.expires_at);
    info.has_data = record.data.has_value();
    return info;
}

} // namespace multisession::session_detail
