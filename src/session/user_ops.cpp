// Per-session and per-user operations: logout with revocation (RFC 7009) and the RP-initiated
// logout URL, session information, application data, the sessions of a WebID and their revocation.
//
// The sessions of a WebID are found through one entry per (WebID, session) rather than a shared
// list: two writers never edit the same key, so nothing is lost to a race. An entry can outlive its
// session (a record removed by another library); readers check it against the record and drop it.
#include "session/engine.hpp"
#include "session/record_store.hpp"

#include "core/printable.hpp"
#include "core/utf8.hpp"
#include "oidc/wire_login.hpp"

namespace multisession {
namespace session_detail {
namespace {

/// Application data: text a JSON string can hold, of a size a record can carry.
constexpr std::size_t max_data_size = 64 * 1024;

/// Removes the record of `id` (whatever it holds now) and returns what it held, if it could be read.
std::pair<bool, std::optional<session_record>> take_record(storage& store, const std::string& id) {
    const auto key = record_key(id);
    for (int attempt = 0; attempt < 100; ++attempt) {
        auto text = store.get(key);
        if (!text) return {false, std::nullopt};
        if (!store.compare_and_set(key, *text, std::nullopt)) continue;
        try {
            return {true, parse_session_record(id, *text)};
        } catch (const error&) {
            return {true, std::nullopt}; // a corrupt record is gone too; nothing to revoke from it
        }
    }
    throw error(storage_errc::busy, "logout of session '" + printable_id(id) + "': too many concurrent writers");
}

/// The session ids of the WebID entries of `webid`, entries whose session is gone or belongs to
/// another WebID now removed (compare-and-set on the entry, so a concurrent re-add survives).
std::vector<std::pair<std::string, session_record>> sessions_of(engine& eng, const std::string& webid) {
    auto& store = *eng.store;
    const auto prefix = webid_entry_prefix(webid);
    std::vector<std::string> ids;
    store.for_each(prefix, [&](std::string_view key, std::string_view value) {
        if (value == webid) ids.emplace_back(key.substr(prefix.size()));
        return true;
    });
    std::vector<std::pair<std::string, session_record>> out;
    for (auto& id : ids) {
        std::optional<stored_record> stored;
        try {
            stored = read_record(store, id, eng.now());
        } catch (const error&) {
            stored.reset(); // corrupt: not a session of anyone we can show
        }
        if (stored && stored->record.webid == webid) {
            out.emplace_back(std::move(id), std::move(stored->record));
            continue;
        }
        (void)store.compare_and_set(prefix + id, webid, std::nullopt);
    }
    return out;
}

} // namespace

logout_result logout_state(const std::shared_ptr<session_state>& st, const logout_options& options) {
    auto& eng = *st->owner;
    auto& store = *eng.store;
    logout_result result;
    std::string access_token;
    std::optional<std::string> id_token, webid;
    oidc::client_info client;
    {
        std::lock_guard lock(st->mutex);
        st->logged_in = false;
        st->logged_out = true;
        access_token = std::exchange(st->access_token, {});
        id_token = st->id_token;
        webid = st->webid;
        client = st->client;
    }

    // Local first: the session is over here whatever the provider says or whether it answers.
    auto [removed, record] = take_record(store, st->id);
    result.removed = removed;
    if (record) {
        if (record->webid) webid = record->webid;
        if (record->client_id) client = client_of(*record);
    }
    if (webid) remove_webid_entry(store, *webid, st->id);
    if (eng.options.maintain_registered_sessions_index) remove_from_index(store, st->id);

    const bool revoke = options.revoke_tokens;
    const bool end_session = options.post_logout_redirect_uri.has_value();
    std::optional<std::string> refresh_token;
    if (record && record->refresh_token && !record->refresh_token->empty()) refresh_token = record->refresh_token;
    if ((revoke && (refresh_token || !access_token.empty())) || end_session) {
        const auto context = "logout of session '" + printable_id(st->id) + "'";
        try {
            auto metadata = await_provider<oidc::provider_client::metadata_ptr>(
                eng, context, [&](auto done) { eng.core->provider().async_discover(st->issuer, std::move(done)); });
            if (revoke && metadata->revocation_endpoint) {
                // The refresh token first: it is the one that outlives us.
                const auto revoke_one = [&](const std::string& token, const char* hint) {
                    return await_provider<bool>(eng, context, [&](auto done) {
                        eng.core->provider().async_revoke(st->issuer, client, token, hint, std::move(done));
                    });
                };
                if (refresh_token) result.refresh_token_revoked = revoke_one(*refresh_token, "refresh_token");
                if (!access_token.empty()) result.access_token_revoked = revoke_one(access_token, "access_token");
            }
            if (end_session && metadata->end_session_endpoint) {
                oidc::end_session_request request;
                request.id_token_hint = id_token;
                request.client_id = client.client_id;
                request.post_logout_redirect_uri = options.post_logout_redirect_uri;
                request.state = options.state;
                result.end_session_url = oidc::end_session_url(*metadata, request);
            }
        } catch (const error& e) {
            result.revocation_error = e.code();
        }
    }
    eng.emit({session_event_type::logout, st->id, {}}, st);
    return result;
}

} // namespace session_detail

namespace sd = session_detail;
using sd::engine;

std::optional<session_info> session_manager::get_session_info(const std::string& session_id) {
    sd::check_session_id(session_id);
    auto stored = sd::read_record(*engine_->store, session_id, engine_->now());
    if (!stored) return std::nullopt;
    return sd::info_of(session_id, stored->record);
}

std::vector<session_info> session_manager::list_sessions_of(const std::string& webid) {
    std::vector<session_info> out;
    for (auto& [id, record] : sd::sessions_of(*engine_, webid)) out.push_back(sd::info_of(id, record));
    return out;
}

std::vector<std::string> session_manager::revoke_sessions(const std::vector<std::string>& session_ids,
                                                          const logout_options& options) {
    std::vector<std::string> revoked;
    for (const auto& id : session_ids) {
        sd::check_session_id(id);
        auto stored = sd::read_record(*engine_->store, id, engine_->now());
        if (!stored) continue;
        if (sd::logout_state(sd::state_from_record(engine_, id, stored->record), options).removed)
            revoked.push_back(id);
    }
    return revoked;
}

std::vector<std::string> session_manager::revoke_user_sessions(const std::string& webid,
                                                               const logout_options& options) {
    std::vector<std::string> ids;
    for (auto& [id, record] : sd::sessions_of(*engine_, webid)) ids.push_back(id);
    return revoke_sessions(ids, options);
}

bool session_manager::set_session_data(const std::string& session_id, std::string_view data) {
    sd::check_session_id(session_id);
    if (data.size() > sd::max_data_size)
        throw error(storage_errc::invalid_value, "session '" + sd::printable_id(session_id) + "': application data over 64 KiB");
    if (!detail::is_utf8(data))
        throw error(storage_errc::invalid_value,
                    "session '" + sd::printable_id(session_id) + "': application data is not UTF-8 text");
    const std::string value(data);
    return sd::update_record(*engine_->store, session_id, engine_->now(), [&](sd::session_record& r) {
               if (r.data == value) return false;
               r.data = value;
               return true;
           })
        .has_value();
}

std::optional<std::string> session_manager::session_data(const std::string& session_id) {
    sd::check_session_id(session_id);
    auto stored = sd::read_record(*engine_->store, session_id, engine_->now());
    if (!stored) return std::nullopt;
    return stored->record.data;
}

} // namespace multisession
