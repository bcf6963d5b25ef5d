// Inside the session layer: the network core (I/O, HTTP pools, protocol caches, the in-process
// single-flight table), the engine behind a session_manager (a store and its options over a core),
// and the state behind a session handle. No Asio here: network_core.cpp holds it.
#pragma once

#include "oidc/provider_client.hpp"
#include "session/session_record.hpp"

#include <multisession/session.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace multisession::session_detail {

/// A session id as messages show it: printable, bounded.
std::string printable_id(std::string_view session_id);

/// Adds `session_id` to / removes it from Inrupt's registered-sessions index, under
/// compare-and-set (never a lost update). Throws multisession::error.
void add_to_index(storage& store, std::string_view session_id);
void remove_from_index(storage& store, std::string_view session_id);

/// The outcome of one rehydration, shared by every caller that joined it.
struct refresh_outcome {
    std::error_code error;
    std::optional<session> value;
};

/// A refresh in flight for one (store, id), and the callers waiting for it.
struct flight {
    std::vector<std::function<void(const refresh_outcome&)>> waiters;
    std::vector<std::function<void(const std::string&)>> on_new_refresh_token;
    /// A caller (the keep-alive scheduler) asked that an invalid_grant the refresh cannot recover
    /// from marks the record logged out (refresh token dropped), under the lease.
    bool mark_dead_on_invalid_grant = false;
};

class keep_alive_scheduler;
class pruner;
/// Hands a session to a running scheduler (keep_alive.cpp).
void keep_alive_track(keep_alive_scheduler& scheduler, const std::shared_ptr<session_state>& state);

/// What sessions of one manager share for the network: I/O, the transport, the provider client.
class network_core {
public:
    /// A core with its own io_context and `options.threads` threads (none when 0).
    static std::shared_ptr<network_core> create(const session_manager_options& options);
    virtual ~network_core();

    [[nodiscard]] const std::shared_ptr<http::transport>& transport() const noexcept { return transport_; }
    [[nodiscard]] oidc::provider_client& provider() const noexcept { return *provider_; }

    /// Runs `fn` on the core's executor after `delay`.
    virtual void run_after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
    /// Runs `fn` on the store threads (session_manager_options::storage_threads), or right here
    /// when there are none or the core is stopping.
    virtual void offload(std::function<void()> fn) = 0;
    /// Whether callback-form operations make progress on their own (threads or an outside
    /// executor run the I/O), or only while a blocking call drives it.
    [[nodiscard]] virtual bool runs_by_itself() const noexcept = 0;

    /// Waits for `f`, doing the core's I/O on this thread meanwhile when nobody else does.
    template <class T>
    T wait(std::future<T>& f) {
        while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
            if (runs_by_itself())
                f.wait();
            else
                run_one_for(std::chrono::milliseconds(5));
        }
        return f.get();
    }

    /// Stops the threads and fails pending requests (http_errc::shut_down); timers still fire,
    /// at once, and work they would start sees stopping().
    virtual void stop() = 0;
    [[nodiscard]] bool stopping() const noexcept { return stopping_; }

    // The in-process single-flight table, keyed by store and session id.
    std::mutex flights_mutex;
    std::map<std::pair<const storage*, std::string>, std::shared_ptr<flight>> flights;

protected:
    virtual void run_one_for(std::chrono::milliseconds max) = 0;
    std::atomic<bool> stopping_{false};
    std::shared_ptr<http::transport> transport_;
    std::shared_ptr<oidc::provider_client> provider_;
};

/// A session_manager's state: a store and its options over a network core.
struct engine : std::enable_shared_from_this<engine> {
    engine(std::shared_ptr<network_core> c, std::shared_ptr<storage> s, session_manager_options o)
        : core(std::move(c)), store(std::move(s)), options(std::move(o)) {}

    /// Throws multisession::error(storage_errc::invalid_configuration) for options that cannot
    /// work: a lease that cannot cover a token request (two attempts of total_timeout), a zero
    /// timeout. Called before anything (threads, pools) is made for them.
    static void check_options(const session_manager_options& options);

    std::shared_ptr<network_core> core;
    std::shared_ptr<storage> store;
    session_manager_options options;

    std::atomic<std::uint64_t> refreshes{0}, joined{0}, lease_waits{0}, adopted{0};
    std::atomic<std::uint64_t> keep_alive_refreshes{0}, keep_alive_retries{0};

    /// Every logged-in session handed out, held weakly, for the keep-alive scheduler (which may
    /// start after they were handed out). Compacted as it grows.
    std::mutex live_mutex;
    std::vector<std::weak_ptr<session_state>> live;
    /// The keep-alive scheduler while it runs (under live_mutex).
    std::shared_ptr<keep_alive_scheduler> keep_alive;
    /// The background pruner while it runs.
    std::mutex pruner_mutex;
    std::shared_ptr<pruner> background_pruner;

    /// Records a logged-in session that leaves the engine (rehydrated, logged in), and hands it to
    /// the keep-alive scheduler when one runs.
    void handed_out(const std::shared_ptr<session_state>& state);
    /// The live sessions (those still held somewhere), compacting the list.
    std::vector<std::shared_ptr<session_state>> live_sessions();

    /// Refreshes `state` in place (a rehydration through the refresh coordinator, whose tokens are
    /// then copied into `state`): the keep-alive scheduler's refresh. On an invalid_grant that
    /// adoption cannot fix, the record is marked logged out and `state` too (`expired` event).
    /// `done` runs once, on an I/O thread or the calling thread.
    void refresh_state(const std::shared_ptr<session_state>& state, std::function<void(std::error_code)> done);

    /// Fires `event` to the session's own handlers only.
    void emit_to_session(const session_event& event, const std::shared_ptr<session_state>& state) const;

    [[nodiscard]] time_point now() const { return options.clock ? options.clock() : std::chrono::system_clock::now(); }

    /// The body of get_session_from_storage: `done` runs exactly once. With `mark_dead`, a final
    /// invalid_grant marks the record logged out (see flight).
    void get_session(std::string session_id, get_session_options options,
                     std::function<void(std::error_code, std::optional<session>)> done, bool mark_dead = false);

    /// Fires `event` to the manager's handler and the session's own handlers.
    void emit(const session_event& event, const std::shared_ptr<session_state>& state) const;

    /// The engine of a manager, and a manager over an engine (friend access).
    static const std::shared_ptr<engine>& of(const session_manager& m) { return m.engine_; }
    static std::unique_ptr<session_manager> make_manager(std::shared_ptr<engine> e) {
        return std::unique_ptr<session_manager>(new session_manager(std::move(e)));
    }

    /// Builds a session handle (friend access to session's constructor).
    static session make_session(std::shared_ptr<session_state> state) { return session(std::move(state)); }
    static const std::shared_ptr<session_state>& state_of(const session& s) { return s.state_; }
};

/// The state of a session as its record describes it (issuer, client, WebID), logged out.
std::shared_ptr<session_state> state_from_record(const std::shared_ptr<engine>& eng, const std::string& id,
                                                 const session_record& record);

/// Runs an async provider operation and waits for it, driving the core's I/O when nobody else
/// does. `start` gets the completion callback. Throws multisession::error with `context`.
template <class T, class Start>
T await_provider(engine& eng, const std::string& context, Start start);

/// Logs `state` out (session::logout, revoke_sessions): local removal first, then revocation
/// and the end-session URL. Throws multisession::error for store failures only.
logout_result logout_state(const std::shared_ptr<session_state>& state, const logout_options& options);

/// The state behind a session handle.
struct session_state {
    std::shared_ptr<engine> owner;
    std::string id;
    std::string issuer;
    oidc::client_info client;
    std::optional<oidc::dpop_key> key;

    mutable std::mutex mutex;
    std::optional<std::string> webid;
    bool logged_in = false;
    /// Set by logout: a refresh that completes afterwards (the keep-alive's) must not log it in again.
    bool logged_out = false;
    detail::secret_string access_token;  ///< a secret
    std::string token_type;
    std::optional<time_point> expires_at;
    /// When the access token was obtained (with expires_at: its lifetime, for the keep-alive).
    std::optional<time_point> refreshed_at;
    std::optional<detail::secret_string> id_token; ///< the last ID token (an id_token_hint for RP-initiated logout)
    std::vector<session_event_handler> handlers;
};

template <class T, class Start>
T await_provider(engine& eng, const std::string& context, Start start) {
    std::promise<std::pair<std::error_code, T>> promise;
    auto future = promise.get_future();
    start([&promise](std::error_code ec, T value) { promise.set_value({ec, std::move(value)}); });
    auto [ec, value] = eng.core->wait(future);
    if (ec) throw error(ec, context);
    return std::move(value);
}

} // namespace multisession::session_detail
