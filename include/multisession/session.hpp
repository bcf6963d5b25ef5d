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

/// What a session record says about a session, read without any network request. Times are
/// those the record carries (unset when the writer did not record them).
struct session_info {
    std::string session_id;
    std::string issuer;
    std::optional<std::string> webid{};
    std::string client_id{};
    std::string client_type{};       ///< "static", "solid-oidc" or "dynamic"
    bool client_credentials = false; ///< logged in with the client-credentials grant (no refresh token)
    bool has_refresh_token = false;  ///< a stored refresh token: the session can be rehydrated
    bool dpop = false;               ///< tokens bound to the session's DPoP key
    std::optional<time_point> created_at{};
    std::optional<time_point> last_refreshed{};
    std::optional<time_point> access_token_expires_at{};
    /// When the record stops counting: the refresh token's (or the login's) end, where known. An
    /// expired record is invisible (as if absent) and removed by prune().
    std::optional<time_point> expires_at{};
    bool has_data = false;           ///< application data is attached (see session_manager::session_data)
};

/// How a logout treats the provider. The record is removed in every case.
struct logout_options {
    /// Revoke the refresh token (and the access token held in memory) at the provider's
    /// revocation_endpoint (RFC 7009), when it advertises one.
    bool revoke_tokens = true;
    /// When set and the provider advertises an end_session_endpoint, logout_result carries the
    /// RP-initiated logout URL that sends the user back here.
    std::optional<std::string> post_logout_redirect_uri{};
    /// The `state` put on that URL.
    std::optional<std::string> state{};
};

/// What a logout did.
struct logout_result {
    bool removed = false;           ///< a record was removed (false: there was none)
    bool refresh_token_revoked = false;
    bool access_token_revoked = false;
    /// The revocation failed (transport or provider error); the local logout happened anyway.
    std::error_code revocation_error{};
    /// The provider's end_session_endpoint with id_token_hint, client_id,
    /// post_logout_redirect_uri and state: send the user agent there to end the provider session.
    std::optional<std::string> end_session_url{};
};

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

    /// Logs the session out: marks it logged out, removes its record, its application data and
    /// its WebID entry (and its entry in the registered-sessions index when the manager maintains
    /// it), revokes its tokens when the provider offers revocation (RFC 7009), and fires `logout`.
    /// Idempotent. Throws multisession::error only when the store fails; a failed revocation is
    /// reported in the result.
    logout_result logout(const logout_options& options = {});

    /// The record's view of the session (no network); nullopt once it is logged out and removed.
    [[nodiscard]] std::optional<session_info> info() const;

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
    /// Threads the manager starts for the store work of rehydrations and refreshes (lease, record
    /// writes, ID-token checks); 0: none, that work runs on the I/O thread that reached it. With a
    /// durable store (sqlite, file) and many sessions refreshed at once, a few (4 to 8) let the
    /// network go on while writes wait for the disk, and let concurrent writes share one SQLite
    /// commit; they also spread the client's crypto over more cores.
    std::size_t storage_threads = 0;

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

    /// How long a refresh token lasts when the provider does not say (`refresh_expires_in`):
    /// records get this expiry, renewed at each rotation, and are invisible after it. Unset: no
    /// expiry (the record stays until the provider refuses its token and it is pruned).
    std::optional<std::chrono::seconds> refresh_token_lifetime{};

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
    std::vector<std::string> session_ids; ///< the sessions among the removed records (exactly those removed
                                          ///< where the store batches atomically: memory, SQLite)
    std::size_t entries_removed = 0;      ///< every key removed (records, login states, leases, WebID entries)
};

/// How the application is known to a provider.
struct client_config {
    enum class kind {
        static_client, ///< registered out of band: a client id and maybe a secret
        solid_oidc,    ///< a Solid-OIDC Client Identifier Document: the client id is its https URL
        dynamic,       ///< registered at the provider's registration_endpoint (RFC 7591) and reused
    };
    kind type = kind::dynamic;
    /// static_client: the id; solid_oidc: the document's URL.
    std::string client_id{};
    /// static_client only; a secret.
    std::optional<std::string> client_secret{};
    /// dynamic: the client_name to register.
    std::string client_name = "multisession";

    static client_config static_client(std::string id, std::optional<std::string> secret = std::nullopt) {
        client_config c;
        c.type = kind::static_client;
        c.client_id = std::move(id);
        c.client_secret = std::move(secret);
        return c;
    }
    static client_config solid_oidc(std::string client_id_document_url) {
        client_config c;
        c.type = kind::solid_oidc;
        c.client_id = std::move(client_id_document_url);
        return c;
    }
    static client_config dynamic(std::string client_name = "multisession") {
        client_config c;
        c.type = kind::dynamic;
        c.client_name = std::move(client_name);
        return c;
    }
};

/// An authorization-code login (PKCE S256, DPoP-bound tokens by default).
struct login_options {
    std::string issuer;
    /// Where the provider sends the user agent back; handle_incoming_redirect takes that URL.
    std::string redirect_url;
    client_config client = client_config::dynamic();
    std::string scope = "openid offline_access webid";
    bool dpop = true;
    /// The session's id; empty: a new random one.
    std::string session_id{};
    /// How long the login may take: the pending state and record expire after this.
    std::chrono::seconds login_ttl{600};
    /// `prompt` for the authorization request ("consent", "login", ...); unset: none.
    std::optional<std::string> prompt{};
    /// More parameters for the authorization URL (e.g. ui_locales); never ones the login sets.
    std::vector<std::pair<std::string, std::string>> extra_parameters{};
};

/// A login on its way: send the user agent to authorization_url.
struct login_request {
    std::string session_id;
    std::string authorization_url;
    std::string state;
    time_point expires_at;
};

/// A client-credentials login: the session is stored and can be retrieved like any other (it logs
/// in again with the stored client credentials instead of a refresh token).
struct client_credentials_options {
    std::string issuer;
    std::string client_id;
    std::string client_secret; ///< a secret
    std::string scope = "openid webid";
    bool dpop = true;
    /// The session's id; empty: a new random one.
    std::string session_id{};
};

/// The keep-alive scheduler: refreshes logged-in sessions before their access token expires.
struct keep_alive_options {
    /// A session is refreshed when this fraction (0 < refresh_at < 1) of its access token's
    /// lifetime has passed (from each response's expires_in), and never later than `margin` before
    /// it ends. The margin takes at most half the lifetime: a token shorter than twice the margin
    /// is refreshed around its middle.
    double refresh_at = 0.8;
    std::chrono::milliseconds margin{5000};
    /// Spread (0 to 1): each due time moves by up to this fraction of the lifetime, at random, so
    /// sessions logged in together do not refresh together.
    double jitter = 0.05;
    /// Transient failures are retried after a delay that doubles from retry_min to retry_max, with
    /// jitter; invalid_grant ends the session (record marked logged out, `expired` event).
    std::chrono::milliseconds retry_min{1000};
    std::chrono::milliseconds retry_max{60000};
    /// Refreshes in flight at once.
    std::size_t concurrency = 16;
};

/// What prune() looks for and how much it does at once.
struct prune_options {
    /// Entries looked at per batch; removals are compare-and-set against the value judged.
    std::size_t batch_size = 1000;
    /// Also remove records that can never log in again: no refresh token and not a
    /// client-credentials session (logged out, or a login never completed).
    bool logged_out = true;
};

struct prune_result {
    std::size_t expired = 0;     ///< expired entries removed (records, logins, leases, WebID entries)
    std::size_t logged_out = 0;  ///< dead records removed
    std::size_t orphans = 0;     ///< WebID entries and login states whose session is gone
    std::size_t batches = 0;
};

/// The background pruner: prune() every `interval`, never two at once.
struct pruner_options {
    std::chrono::milliseconds interval{std::chrono::minutes(10)};
    prune_options prune{};
    /// Each run's outcome (from the pruner's thread).
    std::function<void(const prune_result&)> on_pruned{};
    /// A run that failed (the next one still comes); empty: one line on stderr. Must not throw.
    error_handler on_error{};
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

    /// Removes every session record, login state (Inrupt's and pending logins of login()), lease
    /// and WebID entry, as one storage::remove_prefixes batch (one transaction with SQLite).
    /// Client registrations stay.
    clear_result clear_session_from_storage_all();

    /// Rehydrates `ids` with bounded concurrency; one result per id, in order. One bad record never
    /// fails the batch.
    std::vector<rehydrate_result> rehydrate(const std::vector<std::string>& ids, const batch_options& options = {});
    void async_rehydrate(std::vector<std::string> ids, batch_options options,
                         std::function<void(std::vector<rehydrate_result>)> done);

    // Logging in. These calls, logout and revocation block until the provider answered: call them
    // from a thread of the application, never on the manager's I/O threads or its executor (they
    // would wait for themselves).

    /// Starts an authorization-code login: discovers the issuer, registers the client when it is
    /// dynamic (a stored registration is reused until it expires), and persists the pending login
    /// (the state, the PKCE verifier, the client) with an expiry of login_ttl. Throws
    /// multisession::error (http_errc, oidc_errc, storage_errc).
    login_request login(const login_options& options);
    /// Finishes a login: takes the URL the provider redirected to, finds the pending login by its
    /// `state` (used once: removed before the code is redeemed), redeems the code with the PKCE
    /// verifier and a DPoP proof, verifies the ID token (issuer, audience, nonce-free, signature),
    /// stores the session and returns it logged in. Throws multisession::error: invalid_state
    /// (unknown, used or expired state), access_denied (the redirect carries an error), and the
    /// token endpoint's and ID token's errors.
    session handle_incoming_redirect(const std::string& redirect_url);
    /// A session logged in with the client-credentials grant and stored like any other.
    session login_client_credentials(const client_credentials_options& options);

    // Per-session and per-user operations (no network unless revoking)

    /// What the record says (no network); nullopt when there is no such session.
    std::optional<session_info> get_session_info(const std::string& session_id);
    /// The sessions of one WebID, from per-session entries (no shared list to race on; entries
    /// whose session is gone or belongs to another WebID now are skipped and removed).
    std::vector<session_info> list_sessions_of(const std::string& webid);
    /// Logs out each of `session_ids` (as session::logout) and returns the ids that had a session.
    std::vector<std::string> revoke_sessions(const std::vector<std::string>& session_ids,
                                             const logout_options& options = {});
    /// Logs out every session of `webid`; returns the ids revoked.
    std::vector<std::string> revoke_user_sessions(const std::string& webid, const logout_options& options = {});
    /// Attaches application data (UTF-8 text, at most 64 KiB, e.g. JSON) to a session; it lives in
    /// the session's record and goes with it. Returns false when there is no such session.
    bool set_session_data(const std::string& session_id, std::string_view data);
    /// The application data of a session, or nullopt (no session, or none attached).
    std::optional<std::string> session_data(const std::string& session_id);

    // Expiry

    /// Removes expired records, login states, leases and WebID entries (and, by default, records
    /// that can never log in again), `batch_size` entries at a time, each removal a
    /// compare-and-set against the value judged (a record rewritten meanwhile is kept).
    prune_result prune(const prune_options& options = {});
    /// Runs prune() every interval on a thread of its own until stop_pruner() (or destruction).
    /// Throws storage_errc::invalid_configuration when already running or the interval is not
    /// positive.
    void start_pruner(pruner_options options = {});
    /// Stops the pruner, waiting for a run in progress. Idempotent.
    void stop_pruner();

    // Keep-alive

    /// Starts refreshing every logged-in session this manager hands out (and those it already
    /// handed out that are still held somewhere) before its access token expires. Sessions are
    /// held weakly: one nobody holds any more is forgotten. Needs I/O that runs by itself
    /// (options.threads >= 1 or an executor of yours), else throws
    /// storage_errc::invalid_configuration, as for a second start.
    void start_keep_alive(keep_alive_options options = {});
    /// Stops the scheduler; no timer or thread of it is left. Refreshes in flight finish.
    /// Idempotent.
    void stop_keep_alive();
    [[nodiscard]] bool keep_alive_running() const;

    [[nodiscard]] const std::shared_ptr<storage>& store() const noexcept;

    /// Counters for tests and benchmarks.
    struct stats_type {
        std::uint64_t refreshes = 0;       ///< token requests for refreshes started
        std::uint64_t joined = 0;          ///< callers that shared a refresh already in flight
        std::uint64_t lease_waits = 0;     ///< rehydrations that waited for a lease held elsewhere
        std::uint64_t adopted = 0;         ///< invalid_grant answered by adopting a sibling's token
        std::uint64_t keep_alive_refreshes = 0; ///< refreshes the keep-alive scheduler started
        std::uint64_t keep_alive_retries = 0;   ///< of them, retries after a transient failure
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
