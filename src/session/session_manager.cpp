// The refresh coordinator and the multi-session API. The four rotation-safety rules of the design
// live in refresh_job below: single-flight per (store, id), a lease in the store, the rotated token
// written before anything else is checked, and adoption of a sibling's token on invalid_grant.
#include "session/engine.hpp"
#include "session/record_store.hpp"

#include "core/current_error.hpp"
#include "core/printable.hpp"
#include "oidc/jwt.hpp"

#include <multisession/storage/memory.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <new>
#include <random>

namespace multisession {
namespace session_detail {
namespace {

using namespace std::chrono_literals;

std::error_code current_error_code() noexcept {
    return multisession::detail::current_error_code(storage_errc::corrupt_record);
}

/// A value no other lease holder can have: this process, a random part, a counter.
std::string new_lease_owner() {
    static std::atomic<std::uint64_t> counter{0};
    static const std::uint64_t random_part = [] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    }();
    return std::to_string(::getpid()) + "-" + std::to_string(random_part) + "-" + std::to_string(++counter);
}

/// An empty refreshToken is none (Inrupt reads "" as missing).
bool has_refresh_token(const session_record& r) { return r.refresh_token && !r.refresh_token->empty(); }


/// The DPoP key pair of a record that says it uses DPoP. Throws corrupt_record naming the id.
std::optional<oidc::dpop_key> key_from_record(const std::string& id, const session_record& record) {
    if (!record.dpop) return std::nullopt;
    if (!record.public_key || !record.private_key)
        throw error(storage_errc::corrupt_record,
                    "session '" + printable_id(id) + "': DPoP record without its key pair");
    try {
        return oidc::dpop_key::from_jwk(*record.public_key, *record.private_key);
    } catch (const error&) {
        throw error(storage_errc::corrupt_record,
                    "session '" + printable_id(id) + "': unusable DPoP key pair");
    }
}

/// One rehydration: lease, read, redeem, persist, verify, release. Runs one step at a time on
/// whatever thread completed the previous one.
struct refresh_job : std::enable_shared_from_this<refresh_job> {
    std::shared_ptr<engine> eng;
    std::string id;
    std::pair<const storage*, std::string> flight_key;
    std::string record_key_text, lease_key_text, owner;
    bool holds_lease = false;
    time_point lease_expires_at{}; // store time
    std::chrono::steady_clock::time_point give_up_at;
    std::chrono::milliseconds backoff{10};
    bool waited = false;

    std::string record_text;
    session_record record;
    std::string used_refresh_token;
    bool adopted_once = false;
    std::shared_ptr<session_state> st;

    void start() {
        record_key_text = record_key(id);
        lease_key_text = lease_key(id);
        owner = new_lease_owner();
        give_up_at = std::chrono::steady_clock::now() + eng->options.lease_wait;
        // Store work (lease, record, WebID entry) and the ID-token check run on the store threads
        // when there are any; the network steps between them on the I/O threads.
        eng->core->offload([self = shared_from_this()] { self->try_lease(); });
    }

    void try_lease() {
        if (eng->core->stopping()) return finish({http_errc::shut_down, std::nullopt});
        try {
            auto& store = *eng->store;
            const auto expiry = store.now() + eng->options.lease_duration;
            holds_lease = store.compare_and_set(lease_key_text, std::nullopt, owner, expiry);
            if (holds_lease) lease_expires_at = expiry;
        } catch (...) {
            return finish({current_error_code(), std::nullopt});
        }
        if (holds_lease) return read_and_redeem();
        if (!waited) {
            waited = true;
            ++eng->lease_waits;
        }
        if (std::chrono::steady_clock::now() >= give_up_at) return finish({storage_errc::busy, std::nullopt});
        eng->core->run_after(backoff, [self = shared_from_this()] {
            self->eng->core->offload([self] { self->try_lease(); });
        });
        backoff = std::min(backoff * 2, std::chrono::milliseconds(250));
    }

    // Under the lease: the record as it is now (a sibling may have rotated while we waited).
    void read_and_redeem() {
        try {
            auto stored = read_record(*eng->store, id, eng->now());
            if (!stored) return finish({{}, std::nullopt}); // logged out (or expired) meanwhile
            record = std::move(stored->record);
            record_text = std::move(stored->text);
            st = state_from_record(eng, id, record);
            if (!can_log_in_again(record)) return finish({{}, engine::make_session(st)});
            st->key = key_from_record(id, record);
        } catch (...) {
            return finish({current_error_code(), std::nullopt});
        }
        if (!has_refresh_token(record)) return redeem(); // a client-credentials session
        used_refresh_token = *record.refresh_token;
        redeem();
    }

    // The token request must finish while the lease holds, or another process could take the lease
    // and redeem the same refresh token. Discovery comes first (a cached document answers at
    // once), then the lease is renewed if less than the token request's worst case is left: two
    // attempts (the DPoP nonce retry) of total_timeout each. lease_duration is longer than that
    // (checked when the manager is made), so a warm cache never costs a renewal.
    void redeem() {
        eng->core->provider().async_discover(
            st->issuer, [self = shared_from_this()](std::error_code ec, oidc::provider_client::metadata_ptr) {
                if (ec) return self->fail(ec);
                self->renew_lease_and_refresh();
            });
    }

    void renew_lease_and_refresh() {
        try {
            auto& store = *eng->store;
            const auto now = store.now();
            if (now + 2 * eng->options.total_timeout >= lease_expires_at) {
                const auto expiry = now + eng->options.lease_duration;
                if (!store.compare_and_set(lease_key_text, owner, owner, expiry)) {
                    holds_lease = false; // someone else's now: never release it
                    return fail(storage_errc::busy);
                }
                lease_expires_at = expiry;
            }
        } catch (...) {
            return fail(current_error_code());
        }
        ++eng->refreshes;
        auto on_tokens = [self = shared_from_this()](std::error_code ec, oidc::token_set tokens) {
            self->eng->core->offload(
                [self, ec, tokens = std::move(tokens)]() mutable { self->on_tokens(ec, std::move(tokens)); });
        };
        if (used_refresh_token.empty()) {
            // Client credentials: a new login with the stored secret; nothing rotates.
            eng->core->provider().async_client_credentials(st->issuer, st->client, st->key,
                                                           record.scope.value_or(std::string(default_cc_scope)),
                                                           std::move(on_tokens));
            return;
        }
        eng->core->provider().async_refresh(st->issuer, st->client, used_refresh_token, st->key, std::move(on_tokens));
    }

    void on_tokens(std::error_code ec, oidc::token_set tokens) {
        if (ec == oidc_errc::invalid_grant && !adopted_once && adopt_sibling_token()) return;
        if (ec) return fail(ec);

        // Rule 3: a rotated refresh token goes to the store before anything else can fail.
        const auto now = eng->now();
        std::error_code write_error;
        if (tokens.refresh_token_rotated && tokens.refresh_token) {
            const auto lifetime = refresh_token_lifetime(tokens, eng->options);
            write_error = write_record([&](session_record& r) {
                r.refresh_token = tokens.refresh_token;
                r.is_logged_in = true;
                r.updated_at = epoch_ms(now);
                if (tokens.expires_in) r.access_token_expires_at = epoch_ms(now + *tokens.expires_in);
                if (lifetime) r.expires_at = epoch_ms(now + *lifetime);
                return true;
            });
            notify_new_refresh_token(tokens.refresh_token->str());
            if (write_error) return fail(write_error);
        }
        {
            std::lock_guard lock(st->mutex);
            st->access_token = tokens.access_token;
            st->token_type = tokens.token_type;
            st->expires_at = tokens.expires_in ? std::optional<time_point>(now + *tokens.expires_in) : std::nullopt;
            st->refreshed_at = now;
            if (tokens.id_token) st->id_token = tokens.id_token;
        }
        if (!tokens.id_token) return complete(record.webid);
        eng->core->provider().async_verify_jwt(st->issuer, st->client.client_id, tokens.id_token->str(),
                                               [self = shared_from_this()](std::error_code ec, nlohmann::json claims) {
                                                   if (ec) return self->fail(ec);
                                                   std::string webid;
                                                   try {
                                                       webid = oidc::webid_from_claims(claims);
                                                   } catch (...) {
                                                       return self->fail(current_error_code());
                                                   }
                                                   // Already there when the issuer's keys were cached.
                                                   self->eng->core->offload([self, webid = std::move(webid)]() mutable {
                                                       self->complete(std::move(webid));
                                                   });
                                               });
    }

    // Rule 4: after invalid_grant, a sibling (another process, or a writer without leases) may
    // have rotated the token since we read it: take theirs and try once more.
    bool adopt_sibling_token() {
        try {
            auto text = eng->store->get(record_key_text);
            if (!text) return false;
            auto fresh = parse_session_record(id, *text);
            if (!has_refresh_token(fresh) || *fresh.refresh_token == used_refresh_token) return false;
            adopted_once = true;
            ++eng->adopted;
            record = std::move(fresh);
            record_text = std::move(*text);
            used_refresh_token = *record.refresh_token;
            st->key = key_from_record(id, record);
        } catch (...) {
            return false;
        }
        redeem();
        return true;
    }

    /// Rewrites the record with `change` (change_record: compare-and-set, re-applied on a
    /// conflict; the lease makes one rare). Gone means logged out meanwhile: not brought back.
    std::error_code write_record(const std::function<bool(session_record&)>& change) {
        try {
            stored_record current{record_text, record}; // ours stay intact if the store fails
            (void)change_record(*eng->store, id, current, change);
            record = std::move(current.record);
            record_text = std::move(current.text);
            return {};
        } catch (...) {
            return current_error_code();
        }
    }

    bool mark_dead_requested() {
        std::lock_guard lock(eng->core->flights_mutex);
        auto it = eng->core->flights.find(flight_key);
        return it != eng->core->flights.end() && it->second->mark_dead_on_invalid_grant;
    }

    void notify_new_refresh_token(const std::string& token) {
        std::vector<std::function<void(const std::string&)>> callbacks;
        {
            std::lock_guard lock(eng->core->flights_mutex);
            if (auto it = eng->core->flights.find(flight_key); it != eng->core->flights.end())
                callbacks = it->second->on_new_refresh_token;
        }
        for (auto& cb : callbacks) {
            try {
                cb(token);
            } catch (...) {
                // A callback must not break the refresh; its own failure is its business.
            }
        }
        eng->emit({session_event_type::new_refresh_token, id, {}}, st);
    }

    void complete(std::optional<std::string> webid) {
        if (webid && webid != record.webid) {
            // The WebID can be found again next time; the tokens are safe either way.
            (void)write_record([&](session_record& r) {
                r.webid = webid;
                return true;
            });
        }
        if (webid) {
            try {
                put_webid_entry(*eng->store, *webid, id, record);
            } catch (const error&) {
                // list_sessions_of misses it until the next refresh or prune; the session is fine.
            }
        }
        {
            std::lock_guard lock(st->mutex);
            st->webid = std::move(webid);
            st->logged_in = true;
        }
        if (eng->options.maintain_registered_sessions_index) {
            // A Node reader of the same store lists sessions through the index: make sure this
            // one is in it (a record written by another tool may not be).
            try {
                add_to_index(*eng->store, id);
            } catch (const error&) {
                // The session is restored either way; the index is a courtesy to other readers.
            }
        }
        eng->emit({session_event_type::new_tokens, id, {}}, st);
        bool extended = false;
        {
            std::lock_guard lock(st->mutex);
            extended = st->expires_at.has_value();
        }
        if (extended) eng->emit({session_event_type::extended, id, {}}, st);
        eng->handed_out(st);
        finish({{}, engine::make_session(st)});
    }

    // A failed refresh: a typed error and the session marked logged out; the record stays, unless
    // the keep-alive asked for a refresh token the provider refused to be dropped.
    void fail(std::error_code ec) {
        if (!st) return finish({ec, std::nullopt});
        if (ec == oidc_errc::invalid_grant && holds_lease && mark_dead_requested()) {
            const auto refused = used_refresh_token;
            const auto now = epoch_ms(eng->now());
            // Only the token the provider refused is dropped: a sibling's newer one stays. A store
            // failure leaves the record as it was (refused again next time).
            (void)write_record([&](session_record& r) {
                if (r.refresh_token != refused) return false;
                r.refresh_token.reset();
                r.is_logged_in = false;
                r.updated_at = now;
                return true;
            });
        }
        {
            std::lock_guard lock(st->mutex);
            st->logged_in = false;
            st->access_token.clear();
        }
        eng->emit({ec == oidc_errc::invalid_grant ? session_event_type::expired : session_event_type::error, id, ec},
                  st);
        finish({ec, engine::make_session(st)});
    }

    void finish(const refresh_outcome& outcome) {
        if (holds_lease) {
            holds_lease = false;
            try {
                (void)eng->store->compare_and_set(lease_key_text, owner, std::nullopt);
            } catch (...) {
                // The lease runs out by itself.
            }
        }
        std::shared_ptr<flight> fl;
        {
            std::lock_guard lock(eng->core->flights_mutex);
            auto it = eng->core->flights.find(flight_key);
            if (it != eng->core->flights.end()) {
                fl = std::move(it->second);
                eng->core->flights.erase(it);
            }
        }
        if (!fl) return;
        for (auto& waiter : fl->waiters) waiter(outcome);
    }
};

/// Edits the registered-sessions index under compare-and-set until it sticks.
template <class Edit>
void edit_index(storage& store, Edit edit) {
    for (int attempt = 0; attempt < 1000; ++attempt) {
        auto current = store.get(registered_sessions_key);
        auto next = edit(current);
        if (current == next) return; // nothing to change: no write
        if (store.compare_and_set(registered_sessions_key, current, next)) return;
    }
    throw error(storage_errc::busy, "registered sessions index: too many concurrent writers");
}

} // namespace

std::shared_ptr<session_state> state_from_record(const std::shared_ptr<engine>& eng, const std::string& id,
                                                 const session_record& record) {
    auto st = std::make_shared<session_state>();
    st->owner = eng;
    st->id = id;
    st->issuer = record.issuer.value_or("");
    st->client = client_of(record);
    st->webid = record.webid;
    return st;
}

std::string printable_id(std::string_view session_id) { return multisession::detail::printable(session_id, 100); }

void add_to_index(storage& store, std::string_view session_id) {
    edit_index(store, [&](const std::optional<std::string>& current) { return index_with(current, session_id); });
}

void remove_from_index(storage& store, std::string_view session_id) {
    edit_index(store, [&](const std::optional<std::string>& current) { return index_without(current, session_id); });
}

void engine::emit(const session_event& event, const std::shared_ptr<session_state>& state) const {
    if (options.on_event) {
        try {
            options.on_event(event);
        } catch (...) {
            // Handlers must not throw; one that does cannot break the session.
        }
    }
    if (state) emit_to_session(event, state);
}

void engine::emit_to_session(const session_event& event, const std::shared_ptr<session_state>& state) const {
    std::vector<session_event_handler> handlers;
    {
        std::lock_guard lock(state->mutex);
        handlers = state->handlers;
    }
    for (const auto& h : handlers) {
        if (!h) continue;
        try {
            h(event);
        } catch (...) {
            // Handlers must not throw; one that does cannot break the session.
        }
    }
}

void engine::handed_out(const std::shared_ptr<session_state>& state) {
    std::shared_ptr<keep_alive_scheduler> scheduler;
    {
        std::lock_guard lock(live_mutex);
        // Compact when the list doubled since the last compaction: amortised O(1) per session.
        if (live.size() >= 64 && live.size() == live.capacity()) {
            std::erase_if(live, [](const std::weak_ptr<session_state>& w) { return w.expired(); });
        }
        live.push_back(state);
        scheduler = keep_alive;
    }
    if (scheduler) keep_alive_track(*scheduler, state);
}

std::vector<std::shared_ptr<session_state>> engine::live_sessions() {
    std::lock_guard lock(live_mutex);
    std::vector<std::shared_ptr<session_state>> out;
    std::erase_if(live, [&](const std::weak_ptr<session_state>& w) {
        auto st = w.lock();
        if (!st) return true;
        out.push_back(std::move(st));
        return false;
    });
    return out;
}

void engine::refresh_state(const std::shared_ptr<session_state>& state, std::function<void(std::error_code)> done) {
    const std::string id = state->id;
    // The flight (new or already running) marks the record dead on a final invalid_grant.
    get_session(id, {},
                [self = shared_from_this(), state, done = std::move(done)](std::error_code ec, std::optional<session> fresh) {
                    if (!ec && fresh && fresh->is_logged_in()) {
                        const auto& from = state_of(*fresh);
                        bool out = false;
                        {
                            std::scoped_lock lock(state->mutex, from->mutex);
                            // Logged out by the application while the refresh ran: it stays out
                            // (its record is gone; the refresh did not bring it back).
                            out = state->logged_out;
                            if (!out) {
                                state->access_token = from->access_token;
                                state->token_type = from->token_type;
                                state->expires_at = from->expires_at;
                                state->refreshed_at = from->refreshed_at;
                                if (from->id_token) state->id_token = from->id_token;
                                state->webid = from->webid;
                                state->key = from->key;
                                state->client = from->client;
                                state->logged_in = true;
                            }
                        }
                        if (out) return done(oidc_errc::invalid_grant);
                        self->emit_to_session({session_event_type::new_tokens, state->id, {}}, state);
                        return done({});
                    }
                    if (!ec) ec = oidc_errc::invalid_grant; // the record went away: the session is over
                    if (ec == oidc_errc::invalid_grant) {
                        {
                            std::lock_guard lock(state->mutex);
                            state->logged_in = false;
                            state->access_token.clear();
                        }
                        self->emit_to_session({session_event_type::expired, state->id, ec}, state);
                    }
                    done(ec);
                },
                true);
}

void engine::get_session(std::string session_id, get_session_options opts,
                         std::function<void(std::error_code, std::optional<session>)> done, bool mark_dead) {
    session_record record;
    try {
        check_session_id(session_id);
        auto stored = read_record(*store, session_id, now());
        if (!stored) return done({}, std::nullopt);
        record = std::move(stored->record);
    } catch (...) {
        return done(current_error_code(), std::nullopt);
    }
    if (!can_log_in_again(record) || !opts.refresh_session)
        return done({}, make_session(state_from_record(shared_from_this(), session_id, record)));

    // Rule 1: one refresh per (store, id) in this process; later callers join it.
    auto key = std::make_pair(static_cast<const storage*>(store.get()), session_id);
    auto waiter = [done = std::move(done)](const refresh_outcome& o) { done(o.error, o.value); };
    {
        std::lock_guard lock(core->flights_mutex);
        auto& slot = core->flights[key];
        const bool in_flight = slot != nullptr;
        if (!slot) slot = std::make_shared<flight>();
        slot->waiters.push_back(std::move(waiter));
        if (mark_dead) slot->mark_dead_on_invalid_grant = true;
        if (opts.on_new_refresh_token) slot->on_new_refresh_token.push_back(std::move(opts.on_new_refresh_token));
        if (in_flight) {
            ++joined;
            return;
        }
    }
    auto job = std::make_shared<refresh_job>();
    job->eng = shared_from_this();
    job->id = std::move(session_id);
    job->flight_key = std::move(key);
    job->start();
}

} // namespace session_detail

// -------------------------------------------------------------------------------------------------
// session_manager

namespace {

using session_detail::engine;

std::shared_ptr<storage> store_or_default(std::shared_ptr<storage> store) {
    return store ? std::move(store) : default_storage();
}

} // namespace

void engine::check_options(const session_manager_options& options) {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    if (options.total_timeout <= milliseconds::zero() || options.connect_timeout <= milliseconds::zero() ||
        options.read_timeout <= milliseconds::zero())
        throw error(storage_errc::invalid_configuration, "session manager: timeouts must be positive");
    if (duration_cast<milliseconds>(options.lease_duration) <= 2 * options.total_timeout)
        throw error(storage_errc::invalid_configuration,
                    "session manager: lease_duration (" + std::to_string(duration_cast<milliseconds>(options.lease_duration).count()) +
                        " ms) must be longer than two token requests of total_timeout (" +
                        std::to_string(options.total_timeout.count()) + " ms each)");
    if (options.lease_wait < std::chrono::seconds::zero())
        throw error(storage_errc::invalid_configuration, "session manager: lease_wait must not be negative");
}

session_manager::session_manager(session_manager_options options) {
    engine::check_options(options);
    auto store = store_or_default(options.store);
    options.store = store;
    auto core = session_detail::network_core::create(options);
    engine_ = std::make_shared<engine>(std::move(core), std::move(store), std::move(options));
}

session_manager::~session_manager() {
    // The background work goes first: it uses the core.
    stop_keep_alive();
    stop_pruner();
    engine_->core->stop();
}

const std::shared_ptr<storage>& session_manager::store() const noexcept { return engine_->store; }

session_manager::stats_type session_manager::stats() const {
    return {engine_->refreshes.load(),          engine_->joined.load(),
            engine_->lease_waits.load(),        engine_->adopted.load(),
            engine_->keep_alive_refreshes.load(), engine_->keep_alive_retries.load()};
}

void session_manager::async_get_session_from_storage(std::string session_id, get_session_options options,
                                                     std::function<void(std::error_code, std::optional<session>)> done) {
    engine_->get_session(std::move(session_id), std::move(options), std::move(done));
}

namespace {

std::optional<session> wait_for_session(engine& eng, const std::string& session_id, get_session_options options) {
    std::promise<std::pair<std::error_code, std::optional<session>>> promise;
    auto future = promise.get_future();
    eng.get_session(session_id, std::move(options), [&promise](std::error_code ec, std::optional<session> s) {
        promise.set_value({ec, std::move(s)});
    });
    auto [ec, value] = eng.core->wait(future);
    if (ec)
        throw error(ec, "session '" + session_detail::printable_id(session_id) + "'");
    return value;
}

/// Where `needle` first occurs in `text` at or after `from` (npos if nowhere). memmem skips ahead
/// by the needle's length, where string_view::find stops at every quote of a JSON text.
std::size_t find_text(std::string_view text, std::string_view needle, std::size_t from = 0) {
    if (from > text.size()) return std::string_view::npos;
    const void* at = ::memmem(text.data() + from, text.size() - from, needle.data(), needle.size());
    return at ? static_cast<std::size_t>(static_cast<const char*>(at) - text.data()) : std::string_view::npos;
}

/// Whether a stored value may be a session: it names an `issuer` member. A record without an
/// issuer is not a session (Inrupt's rule; it also drops their state -> session id records).
/// Looking for `"issuer"` followed by a colon keeps listing a scan instead of a parse per record
/// (this library writes it first); a value that is not JSON at all is listed, so that rehydrating
/// it reports it.
bool may_be_session(std::string_view value) {
    constexpr std::string_view name = "\"issuer\"";
    if (value.starts_with("{\"issuer\":")) return true;
    const auto first = value.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos || value[first] != '{') return true;
    for (auto at = find_text(value, name); at != std::string_view::npos; at = find_text(value, name, at + 1)) {
        auto after = value.find_first_not_of(" \t\r\n", at + name.size());
        if (after != std::string_view::npos && value[after] == ':') return true;
    }
    return false;
}

/// The record's own expiry ("multisessionExpiresAt", milliseconds), read without a parse; nullopt
/// when absent or not a plain number (the full reader judges those).
std::optional<std::int64_t> own_expiry(std::string_view value) {
    constexpr std::string_view name = "\"multisessionExpiresAt\"";
    auto at = find_text(value, name);
    if (at == std::string_view::npos) return std::nullopt;
    at = value.find_first_not_of(" \t\r\n:\"", at + name.size());
    if (at == std::string_view::npos) return std::nullopt;
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(value.data() + at, value.data() + value.size(), ms);
    if (ec != std::errc()) return std::nullopt;
    return ms;
}

/// Whether a stored value is a session that has not passed its own expiry.
bool is_live_session(std::string_view value, std::int64_t now_ms) {
    if (!may_be_session(value)) return false;
    // Entries carry the same expiry and are invisible after it; this catches raw copies.
    const auto expiry = own_expiry(value);
    return !expiry || *expiry > now_ms;
}

/// Lists the session ids: the keys under the record prefix whose value may be a session and has
/// not passed its own expiry. The values are judged where the store holds them
/// (for_each_key_where), so a listing copies only the keys it keeps.
void for_each_id(storage& store, time_point now, const std::function<bool(std::string_view)>& visit) {
    const auto now_ms = session_detail::epoch_ms(now);
    const value_filter live = [now_ms](std::string_view, std::string_view value) {
        return is_live_session(value, now_ms);
    };
    store.for_each_key_where(session_detail::record_prefix, live, [&](std::string_view key) {
        auto id = session_detail::session_id_of_key(key);
        return id ? visit(*id) : true;
    });
}

std::vector<std::string> all_ids(storage& store) {
    std::vector<std::string> ids;
    for_each_id(store, store.now(), [&](std::string_view id) {
        ids.emplace_back(id);
        return true;
    });
    return ids;
}

/// Removes every record, login state, lease and WebID entry in one batch (remove_prefixes: one
/// transaction with SQLite, one lock in memory), and reports the sessions among the removed
/// records. The index of Inrupt's library, when present (or maintained), is emptied as that
/// library does.
clear_result clear_all(storage& store, bool maintain_index) {
    clear_result result;
    const auto now_ms = session_detail::epoch_ms(store.now());
    const value_filter live_record = [now_ms](std::string_view key, std::string_view value) {
        return key.starts_with(session_detail::record_prefix) && is_live_session(value, now_ms);
    };
    const std::array<std::string_view, 4> prefixes{session_detail::record_prefix, session_detail::lease_prefix,
                                                   session_detail::webid_prefix, session_detail::login_prefix};
    auto removal = store.remove_prefixes(prefixes, live_record);
    result.session_ids.reserve(removal.matched.size());
    for (const auto& key : removal.matched)
        if (auto id = session_detail::session_id_of_key(key)) result.session_ids.emplace_back(*id);
    result.entries_removed = removal.removed;
    if (maintain_index || store.get(session_detail::registered_sessions_key))
        store.set(session_detail::registered_sessions_key, "[]");
    return result;
}

} // namespace

std::optional<session> session_manager::get_session_from_storage(const std::string& session_id,
                                                                 const get_session_options& options) {
    return wait_for_session(*engine_, session_id, options);
}

void session_manager::for_each_session_id(const std::function<bool(std::string_view)>& visit) {
    for_each_id(*engine_->store, engine_->now(), visit);
}

std::vector<std::string> session_manager::get_session_id_from_storage_all() { return all_ids(*engine_->store); }

clear_result session_manager::clear_session_from_storage_all() {
    return clear_all(*engine_->store, engine_->options.maintain_registered_sessions_index);
}

void session_manager::async_rehydrate(std::vector<std::string> ids, batch_options options,
                                      std::function<void(std::vector<rehydrate_result>)> done) {
    struct batch {
        std::shared_ptr<engine> eng;
        std::vector<std::string> ids;
        batch_options options;
        std::function<void(std::vector<rehydrate_result>)> done;
        std::vector<rehydrate_result> results;
        std::mutex mutex;
        std::size_t next = 0, finished = 0;

        void launch_next(const std::shared_ptr<batch>& self) {
            std::size_t index;
            {
                std::lock_guard lock(mutex);
                if (next >= ids.size()) return;
                index = next++;
            }
            get_session_options get;
            get.refresh_session = options.refresh_session;
            eng->get_session(ids[index], get, [self, index](std::error_code ec, std::optional<session> s) {
                std::size_t count;
                {
                    std::lock_guard lock(self->mutex);
                    self->results[index].error = ec;
                    self->results[index].value = std::move(s);
                    count = ++self->finished;
                }
                if (self->options.progress) self->options.progress(count, self->ids.size());
                if (count == self->ids.size()) {
                    self->done(std::move(self->results));
                    return;
                }
                self->launch_next(self);
            });
        }
    };
    auto b = std::make_shared<batch>();
    b->eng = engine_;
    b->ids = std::move(ids);
    b->options = std::move(options);
    b->done = std::move(done);
    b->results.resize(b->ids.size());
    for (std::size_t i = 0; i < b->ids.size(); ++i) b->results[i].session_id = b->ids[i];
    if (b->ids.empty()) return b->done({});
    const auto width = std::max<std::size_t>(1, std::min(b->options.concurrency, b->ids.size()));
    for (std::size_t i = 0; i < width; ++i) b->launch_next(b);
}

std::vector<rehydrate_result> session_manager::rehydrate(const std::vector<std::string>& ids,
                                                         const batch_options& options) {
    std::promise<std::vector<rehydrate_result>> promise;
    auto future = promise.get_future();
    async_rehydrate(ids, options, [&promise](std::vector<rehydrate_result> r) { promise.set_value(std::move(r)); });
    return engine_->core->wait(future);
}

// -------------------------------------------------------------------------------------------------
// The process-wide store and the three free functions

std::shared_ptr<storage> default_storage() {
    static const std::shared_ptr<storage> store = make_memory_storage();
    return store;
}

namespace {

std::mutex default_mutex;
session_manager_options& default_options() {
    static session_manager_options options;
    return options;
}
std::shared_ptr<session_detail::network_core>& default_core() {
    static std::shared_ptr<session_detail::network_core> core;
    return core;
}

/// An engine for `store` over the process-wide core (created on first use).
std::shared_ptr<engine> default_engine(std::shared_ptr<storage> store) {
    std::lock_guard lock(default_mutex);
    auto& core = default_core();
    if (!core) core = session_detail::network_core::create(default_options());
    return std::make_shared<engine>(core, store_or_default(std::move(store)), default_options());
}

} // namespace

void configure_default_session_manager(session_manager_options options) {
    std::lock_guard lock(default_mutex);
    if (default_core()) throw error(storage_errc::invalid_configuration, "the default session manager is already in use");
    engine::check_options(options);
    options.threads = 0;
    default_options() = std::move(options);
}

std::optional<session> get_session_from_storage(const std::string& session_id, const get_session_options& options,
                                                std::shared_ptr<storage> store) {
    return wait_for_session(*default_engine(std::move(store)), session_id, options);
}

std::vector<std::string> get_session_id_from_storage_all(std::shared_ptr<storage> store) {
    return all_ids(*store_or_default(std::move(store)));
}

clear_result clear_session_from_storage_all(std::shared_ptr<storage> store) {
    return clear_all(*store_or_default(std::move(store)), false);
}

} // namespace multisession
