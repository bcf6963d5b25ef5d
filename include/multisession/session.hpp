// multisession — sessions and the multi-session API.
//
// A session_manager owns what sessions share: a store, the HTTP connection pools, the discovery,
// JWKS and DPoP-nonce caches, and the refresh coordinator that makes rehydration rotation-safe:
//   1. one refresh per session id at a time in a process (late callers share its result);
//   2. across processes, a lease in the store (compare-and-set with an expiry), so two processes
//      never redeem the same refresh token, and a crashed holder's lease runs out;
//   3. a rotated refresh token is written to the store right after the token response, before the
//      ID token is checked, and on_new_refresh_token fires for every rotation;
//   4. on invalid_grant the record is read again: if a sibling rotated the token meanwhile, its
//      token is adopted and the refresh tried once more.
// Records use the layout of Inrupt's Node library ("solidClientAuthenticationUser:<id>", JSON of
// string fields), so a store written by a Node service rehydrates here and the reverse.
//
// Threads: nothing starts a thread or a timer unless asked. With options.threads = 0 the blocking
// calls do the network work on the calling thread (several callers share it); the callback forms
// then need options.threads >= 1 or an executor of yours (multisession/asio.hpp).
#pragma once

#include <multisession/error.hpp>
#include <multisession/storage.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace multisession {

namespace session_detail {
struct engine;
struct session_state;
} // namespace session_detail

/// A request sent with a session's credentials (see session::fetch).
struct fetch_request {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers{};
    std::string body{};
};

/// The answer to a fetch_request: any status (a 404 is an answer, not an error).
struct fetch_response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers{};
    std::string body{};

    /// The first header named `name` (ASCII case ignored), or nullopt.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const;
};

/// What happened to a session. Secrets are never part of an event.
enum class session_event_type {
    new_refresh_token, ///< the provider rotated the refresh token (and it was stored)
    new_tokens,        ///< a refresh succeeded: new access (and ID) token
    extended,          ///< the session's expiry moved later (a refresh that said how long it lasts)
    expired,           ///< the refresh token is no longer accepted (invalid_grant): logged out
    logout,            ///< the session was logged out and its record removed
    error,             ///< a refresh failed for another reason; the record is unchanged
};

struct session_event {
    session_event_type type;
    std::string session_id;
    std::error_code error{}; ///< for `expired` and `error`
};

using session_event_handler = std::function<void(const session_event&)>;

/// One session: a cheap, shareable handle. Safe to use from several threads.
class session {
public:
    [[nodiscard]] const std::string& id() const noexcept;
    [[nodiscard]] const std::string& issuer() const noexcept;
    [[nodiscard]] std::optional<std::string> webid() const;
    [[nodiscard]] bool is_logged_in() const noexcept;
    /// When the current access token expires, if known.
    [[nodiscard]] std::optional<time_point> expiration() const;

    /// Sends `request` with the session's access token: DPoP-bound tokens with a proof (`ath`,
    /// the origin's nonce, one retry on a nonce challenge), Bearer tokens as they are. Throws
    /// multisession::error: oidc_errc::invalid_request when the session is logged out, http_errc
    /// for transport failures.
    fetch_response fetch(fetch_request request) const;
    void async_fetch(fetch_request request, std::function<void(std::error_code, fetch_response)> done) const;

    /// Marks the session logged out, removes its record (and its entry in the registered-sessions
    /// index when the manager maintains it) and fires `logout`. Idempotent.
    void logout();

    /// Adds a handler for this session's events (after the manager's own).
    void on_event(session_event_handler handler);

private:
    friend struct session_detail::engine;
    explicit session(std::shared_ptr<session_detail::session_state> state) : state_(std::move(state)) {}
    std::shared_ptr<session_detail::session_state> state_;
};

struct session_manager_options {
    /// The store; null means default_storage(), the process-wide in-memory store.
    std::shared_ptr<storage> store{};
    /// I/O threads the manager starts; 0: none (blocking calls do the I/O themselves).
    std::size_t threads = 0;

    // HTTP
    std::chrono::milliseconds connect_timeout{5000};
    std::chrono::milliseconds read_timeout{10000};
    std::chrono::milliseconds total_timeout{30000};
    std::size_t max_connections_per_origin = 16;
    /// PEM file of trusted CAs for private issuers; empty: the system's trust store.
    std::string ca_file{};
    /// Plain http:// issuers and resources on 127.0.0.1 / localhost / [::1] (tests, local issuers).
    bool allow_insecure_loopback = false;

    // Protocol
    std::chrono::seconds clock_skew{60};
    std::chrono::seconds discovery_ttl{3600};

    // Rotation safety
    /// How long a process may hold a session's refresh lease; a crashed holder's lease runs out
    /// after this. Must be longer than two token requests (2 x total_timeout: the DPoP nonce
    /// retry), or the manager refuses the options (storage_errc::invalid_configuration); the lease
    /// is renewed right before a token request when less than that is left.
    std::chrono::seconds lease_duration{75};
    /// How long to wait for another process's lease before failing with storage_errc::busy.
    std::chrono::seconds lease_wait{60};

    /// Keep Inrupt's "solidClientAuthn:registeredSessions" index up to date (under
    /// compare-and-set) for Node readers of the same store. Listing never needs it.
    bool maintain_registered_sessions_index = false;

    /// Every session's events.
    session_event_handler on_event{};
    /// "Now" for leases, token times and DPoP; empty: the system clock.
    clock_function clock{};
};

struct get_session_options {
    /// false: build the session from the record alone, no network (it is then logged out).
    bool refresh_session = true;
    /// Called with each rotated refresh token (a secret: store it, never log it), after it was
    /// written to the store.
    std::function<void(const std::string& new_refresh_token)> on_new_refresh_token{};
};

/// The outcome for one id of a batch.
struct rehydrate_result {
    std::string session_id;
    std::optional<session> value; ///< nullopt with no error: no such session
    std::error_code error{};
};

struct batch_options {
    /// Sessions refreshed at once.
    std::size_t concurrency = 64;
    bool refresh_session = true;
    /// Called after each id with (done, total); from the thread that finished it.
    std::function<void(std::size_t done, std::size_t total)> progress{};
};

/// What clear_session_from_storage_all removed.
struct clear_result {
    std::vector<std::string> session_ids; ///< the sessions found before the removal
    std::size_t entries_removed = 0;      ///< every key removed (records, login states, leases)
};

class session_manager {
public:
    explicit session_manager(session_manager_options options = {});
    /// Stops the I/O threads it started (pending callbacks get http_errc::shut_down).
    ~session_manager();
    session_manager(const session_manager&) = delete;
    session_manager& operator=(const session_manager&) = delete;

    /// The session stored under `session_id`: nullopt when there is none (or the record is not a
    /// session); a logged-out session when it has no refresh token or refresh_session is false;
    /// else a session logged in again with its refresh token. Throws multisession::error: the
    /// refresh failed (oidc_errc::invalid_grant when the provider refused the token — the record
    /// is left as it is), storage_errc::corrupt_record (naming the id), storage_errc::busy.
    std::optional<session> get_session_from_storage(const std::string& session_id,
                                                    const get_session_options& options = {});
    /// The same; `done` gets the error code instead of an exception. For a failed refresh it gets
    /// both the code and the session, marked logged out.
    void async_get_session_from_storage(std::string session_id, get_session_options options,
                                        std::function<void(std::error_code, std::optional<session>)> done);

    /// The ids of every stored session (records without an issuer are left out), in store order.
    std::vector<std::string> get_session_id_from_storage_all();
    /// The same, streamed: `visit` returns false to stop. For stores too big for one vector.
    void for_each_session_id(const std::function<bool(std::string_view session_id)>& visit);

    /// Removes every session record, login state and lease in one batch operation per prefix.
    clear_result clear_session_from_storage_all();

    /// Rehydrates `ids` with bounded concurrency; one result per id, in order. One bad record never
    /// fails the batch.
    std::vector<rehydrate_result> rehydrate(const std::vector<std::string>& ids, const batch_options& options = {});
    void async_rehydrate(std::vector<std::string> ids, batch_options options,
                         std::function<void(std::vector<rehydrate_result>)> done);

    [[nodiscard]] const std::shared_ptr<storage>& store() const noexcept;

    /// Counters for tests and benchmarks.
    struct stats_type {
        std::uint64_t refreshes = 0;       ///< token requests for refreshes started
        std::uint64_t joined = 0;          ///< callers that shared a refresh already in flight
        std::uint64_t lease_waits = 0;     ///< rehydrations that waited for a lease held elsewhere
        std::uint64_t adopted = 0;         ///< invalid_grant answered by adopting a sibling's token
    };
    [[nodiscard]] stats_type stats() const;

private:
    friend struct session_detail::engine;
    explicit session_manager(std::shared_ptr<session_detail::engine> engine) : engine_(std::move(engine)) {}
    std::shared_ptr<session_detail::engine> engine_;
};

/// The process-wide in-memory store used when no store is given (as Inrupt's library does).
std::shared_ptr<storage> default_storage();

/// Options of the process-wide network core behind the three functions below (timeouts, a CA
/// file, loopback issuers, events). Call before their first use; later calls throw
/// multisession::error(storage_errc::invalid_configuration). `store` and `threads` are ignored.
void configure_default_session_manager(session_manager_options options);

// The three functions of Inrupt's multi-session API, with its semantics. They share one
// process-wide network core (connection pools, discovery/JWKS/nonce caches, and the single-flight
// of refreshes per store and session id), created on first use; the I/O runs on the calling
// thread. A null store means default_storage(). For servers, a session_manager of your own gives control over threads,
// timeouts and events.
std::optional<session> get_session_from_storage(const std::string& session_id, const get_session_options& options = {},
                                                std::shared_ptr<storage> store = nullptr);
std::vector<std::string> get_session_id_from_storage_all(std::shared_ptr<storage> store = nullptr);
clear_result clear_session_from_storage_all(std::shared_ptr<storage> store = nullptr);

} // namespace multisession
