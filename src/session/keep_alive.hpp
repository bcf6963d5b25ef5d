// The keep-alive scheduler: a thread of its own (started only by session_manager::start_keep_alive)
// that refreshes the sessions a manager handed out shortly before their access tokens expire. It
// only decides *when*: each refresh is posted to the manager's I/O and goes through the engine's
// rotation-safe refresh coordinator (engine::refresh_state), so the scheduler's thread never does
// network or store work and never runs an application's event handler.
#pragma once

#include "session/engine.hpp"

#include <multisession/session.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

namespace multisession::session_detail {

/// When a session whose access token was obtained at `refreshed_at` and ends at `expires_at` is
/// refreshed: `refresh_at` of the lifetime, moved by (2 * random_fraction - 1) * jitter of it
/// (random_fraction in [0, 1]), never later than `margin` before the end and never before `now`.
/// The margin takes at most half the lifetime, so a token shorter than twice the margin is
/// refreshed around its middle instead of at once, in a loop; where the jitter window would pass
/// that limit it is moved earlier as a whole (the spread is kept). A token already over when it
/// was obtained is refreshed no sooner than retry_min after it. nullopt without `expires_at`:
/// nothing to keep alive. Without `refreshed_at` the lifetime counts from `now`. Pure; noexcept.
[[nodiscard]] std::optional<time_point> due_time(std::optional<time_point> refreshed_at,
                                                 std::optional<time_point> expires_at, time_point now,
                                                 const keep_alive_options& options, double random_fraction) noexcept;

/// The wait before the retry that follows `failures` transient failures in a row (1 for the
/// first): somewhere between retry_min and a ceiling that doubles from retry_min with each
/// failure, up to retry_max, at `random_fraction` (in [0, 1]) of that range. Pure; noexcept.
[[nodiscard]] std::chrono::milliseconds retry_delay(unsigned failures, const keep_alive_options& options,
                                                    double random_fraction) noexcept;

/// Throws multisession::error(storage_errc::invalid_configuration) naming the first option that
/// cannot work: refresh_at outside (0, 1), jitter outside [0, 1], a negative margin,
/// retry_min not positive, retry_max below retry_min, concurrency 0.
void check_keep_alive_options(const keep_alive_options& options);

/// Refreshes the sessions it tracks when due, at most options.concurrency at once. Sessions are
/// held weakly. Owned by engine::keep_alive; its thread holds it too until stop(). Every member
/// function is thread-safe.
class keep_alive_scheduler : public std::enable_shared_from_this<keep_alive_scheduler> {
public:
    /// A scheduler for the sessions of `owner` (held weakly: the engine holds the scheduler).
    /// Starts nothing: see start(). `options` must have passed check_keep_alive_options.
    keep_alive_scheduler(std::weak_ptr<engine> owner, keep_alive_options options);
    /// Stops the thread if stop() was not called (joins it, or detaches it when run on it).
    ~keep_alive_scheduler();
    keep_alive_scheduler(const keep_alive_scheduler&) = delete;
    keep_alive_scheduler& operator=(const keep_alive_scheduler&) = delete;

    /// Starts the scheduler's thread, once. Throws std::system_error when no thread can be made.
    void start();
    /// Stops: wakes and joins the thread and forgets every session. Refreshes already posted or in
    /// flight finish without it (their callbacks only hold it weakly). Idempotent; noexcept.
    void stop() noexcept;

    /// Starts tracking `state` (a no-op when stopped, when it is tracked already, when it is logged
    /// out or has no access-token expiry).
    void track(const std::shared_ptr<session_state>& state);

private:
    struct entry {
        std::chrono::steady_clock::time_point due;
        std::weak_ptr<session_state> state;
        unsigned failures = 0; ///< transient failures in a row before this attempt
    };
    /// Orders the heap so that its front is the earliest due.
    struct later {
        bool operator()(const entry& a, const entry& b) const noexcept { return a.due > b.due; }
    };

    void run();
    void begin_refresh(const std::weak_ptr<session_state>& weak, unsigned failures);
    void refreshed(const std::weak_ptr<session_state>& weak, unsigned failures, std::error_code ec);
    /// Adds an entry (under mutex_), compacting the heap when it doubled since the last time.
    void push_locked(entry e);
    double random_fraction_locked();

    const std::weak_ptr<engine> owner_;
    const keep_alive_options options_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<entry> heap_;
    /// Every session scheduled or being refreshed, so that one handed out twice (start races
    /// with handed_out) is scheduled once.
    std::set<std::weak_ptr<session_state>, std::owner_less<>> tracked_;
    std::size_t in_flight_ = 0;
    std::size_t compacted_size_ = 0;
    bool stopping_ = false;
    std::mt19937_64 random_;
    std::thread thread_;
};

} // namespace multisession::session_detail
