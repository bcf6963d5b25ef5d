// The keep-alive scheduler (see keep_alive.hpp) and session_manager's keep-alive functions.
//
// Times: due times come from the engine's clock (options.clock, which tests may move by hand),
// since that is the clock expires_at and refreshed_at were read from; the scheduler then sleeps on
// steady_clock for the difference, measured when the session is scheduled. A clock moved by hand
// after that does not move the wake-up: the next refresh reads it again.
#include "session/keep_alive.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <string>
#include <utility>

namespace multisession {
namespace session_detail {
namespace {

using steady = std::chrono::steady_clock;

/// `x` rounded to a count of Rep, saturated at Rep's limits (a double cannot hold them exactly).
template <class Rep>
Rep rounded(double x) noexcept {
    constexpr auto top = static_cast<double>(std::numeric_limits<Rep>::max());
    if (x >= top) return std::numeric_limits<Rep>::max();
    if (x <= -top) return std::numeric_limits<Rep>::min();
    return static_cast<Rep>(std::llround(x));
}

/// `d` scaled by `x` (|x| <= 1), rounded to the clock's tick.
time_point::duration scaled(time_point::duration d, double x) noexcept {
    return time_point::duration(rounded<time_point::duration::rep>(static_cast<double>(d.count()) * x));
}

[[noreturn]] void refuse(const std::string& what) {
    throw error(storage_errc::invalid_configuration, "keep-alive: " + what);
}

} // namespace

std::optional<time_point> due_time(std::optional<time_point> refreshed_at, std::optional<time_point> expires_at,
                                   time_point now, const keep_alive_options& options, double random_fraction) noexcept {
    if (!expires_at) return std::nullopt;
    const time_point from = refreshed_at.value_or(now);
    const auto lifetime = *expires_at - from;
    // A provider that says a token is over at once would otherwise be asked again and again.
    if (lifetime <= time_point::duration::zero()) return std::max(now, from + options.retry_min);

    const double fraction = std::clamp(random_fraction, 0.0, 1.0);
    const time_point latest = std::max(*expires_at - options.margin, from + lifetime / 2);
    const auto spread = scaled(lifetime, options.jitter);
    const time_point center = std::min(from + scaled(lifetime, options.refresh_at), latest - spread);
    const time_point due = center + scaled(lifetime, options.jitter * (2.0 * fraction - 1.0));
    return std::max(due, now);
}

std::chrono::milliseconds retry_delay(unsigned failures, const keep_alive_options& options,
                                      double random_fraction) noexcept {
    auto ceiling = options.retry_min;
    for (unsigned i = 1; i < failures && ceiling < options.retry_max; ++i)
        ceiling = ceiling > options.retry_max / 2 ? options.retry_max : ceiling * 2;
    ceiling = std::min(ceiling, options.retry_max);
    // Full jitter, above a floor: sessions that failed together (a provider outage) come back
    // spread out, and never sooner than retry_min, so a failing provider is not asked in a loop.
    const double fraction = std::clamp(random_fraction, 0.0, 1.0);
    const auto range = ceiling - options.retry_min;
    const auto part = rounded<std::chrono::milliseconds::rep>(static_cast<double>(range.count()) * fraction);
    return options.retry_min + std::min(range, std::chrono::milliseconds(part));
}

void check_keep_alive_options(const keep_alive_options& options) {
    // Written so that a NaN fails too.
    if (!(options.refresh_at > 0.0 && options.refresh_at < 1.0))
        refuse("refresh_at (" + std::to_string(options.refresh_at) + ") must be between 0 and 1, both excluded");
    // A spread wider than the lifetime would mean nothing.
    if (!(options.jitter >= 0.0 && options.jitter <= 1.0))
        refuse("jitter (" + std::to_string(options.jitter) + ") must be a fraction of the lifetime, from 0 to 1");
    if (options.margin < std::chrono::milliseconds::zero()) refuse("margin must not be negative");
    if (options.retry_min <= std::chrono::milliseconds::zero()) refuse("retry_min must be positive");
    if (options.retry_max < options.retry_min) refuse("retry_max must not be shorter than retry_min");
    if (options.concurrency == 0) refuse("concurrency must be at least 1");
}

void keep_alive_track(keep_alive_scheduler& scheduler, const std::shared_ptr<session_state>& state) {
    scheduler.track(state);
}

keep_alive_scheduler::keep_alive_scheduler(std::weak_ptr<engine> owner, keep_alive_options options)
    : owner_(std::move(owner)), options_(options), random_(std::random_device{}()) {}

keep_alive_scheduler::~keep_alive_scheduler() {
    stop();
    // Only when the last owner let go on the scheduler's own thread (it holds itself while it
    // runs): that thread is about to return and touches nothing of this object any more.
    if (thread_.joinable()) thread_.detach();
}

void keep_alive_scheduler::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable() || stopping_) return;
    thread_ = std::thread([self = shared_from_this()] { self->run(); });
}

void keep_alive_scheduler::stop() noexcept {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        heap_.clear();
        tracked_.clear();
    }
    wake_.notify_all();
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

double keep_alive_scheduler::random_fraction_locked() {
    return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

void keep_alive_scheduler::push_locked(entry e) {
    heap_.push_back(std::move(e));
    std::push_heap(heap_.begin(), heap_.end(), later{});
    // Sessions the application let go stay in the heap until they come due (an hour later for an
    // hour's token); sweep them when the heap doubled, so churn cannot grow it without bound.
    if (heap_.size() >= 64 && heap_.size() >= 2 * compacted_size_) {
        std::erase_if(heap_, [](const entry& x) { return x.state.expired(); });
        std::make_heap(heap_.begin(), heap_.end(), later{});
        std::erase_if(tracked_, [](const std::weak_ptr<session_state>& w) { return w.expired(); });
        compacted_size_ = heap_.size();
    }
}

void keep_alive_scheduler::track(const std::shared_ptr<session_state>& state) {
    if (!state) return;
    auto eng = owner_.lock();
    if (!eng) return;
    bool logged_in = false;
    std::optional<time_point> refreshed_at, expires_at;
    {
        std::lock_guard lock(state->mutex);
        logged_in = state->logged_in;
        refreshed_at = state->refreshed_at;
        expires_at = state->expires_at;
    }
    if (!logged_in || !expires_at) return;
    const auto now = eng->now();
    const auto steady_now = steady::now();
    {
        std::lock_guard lock(mutex_);
        if (stopping_ || tracked_.contains(state)) return;
        const auto due = due_time(refreshed_at, expires_at, now, options_, random_fraction_locked());
        if (!due) return;
        tracked_.insert(state);
        push_locked({steady_now + std::chrono::duration_cast<steady::duration>(*due - now), state, 0});
    }
    wake_.notify_all();
}

void keep_alive_scheduler::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (heap_.empty()) {
            wake_.wait(lock);
            continue;
        }
        const auto now = steady::now();
        if (heap_.front().due > now) {
            // Capped so that a due time years away cannot overflow the wait.
            wake_.wait_until(lock, std::min(heap_.front().due, now + std::chrono::hours(24)));
            continue;
        }
        if (in_flight_ >= options_.concurrency) {
            wake_.wait(lock); // a refresh that ends wakes us
            continue;
        }
        std::pop_heap(heap_.begin(), heap_.end(), later{});
        entry e = std::move(heap_.back());
        heap_.pop_back();
        if (e.state.expired()) {
            tracked_.erase(e.state);
            continue;
        }
        auto eng = owner_.lock();
        if (!eng) {
            tracked_.erase(e.state);
            continue;
        }
        ++in_flight_;
        lock.unlock();
        // The refresh starts on the manager's I/O, not here: its first steps (store reads, the
        // lease) may block, and failures may run event handlers; this thread only keeps time.
        try {
            eng->core->run_after(std::chrono::milliseconds(0),
                                 [self = weak_from_this(), weak = e.state, failures = e.failures] {
                                     if (auto s = self.lock()) s->begin_refresh(weak, failures);
                                 });
            eng.reset(); // never the last owner of the engine on this thread by accident
            lock.lock();
        } catch (...) {
            eng.reset();
            // Out of memory: try again later, as for a transient failure.
            lock.lock();
            --in_flight_;
            const auto failures = e.failures + 1;
            push_locked({steady::now() + retry_delay(failures, options_, random_fraction_locked()), std::move(e.state),
                         failures});
        }
    }
}

void keep_alive_scheduler::begin_refresh(const std::weak_ptr<session_state>& weak, unsigned failures) {
    auto state = weak.lock();
    auto eng = owner_.lock();
    bool logged_in = false;
    if (state) {
        std::lock_guard lock(state->mutex);
        logged_in = state->logged_in;
    }
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        if (!state || !eng || !logged_in) {
            // Let go by the application, or logged out by it: nothing to keep alive.
            --in_flight_;
            tracked_.erase(weak);
            wake_.notify_all();
            return;
        }
    }
    ++eng->keep_alive_refreshes;
    if (failures > 0) ++eng->keep_alive_retries;
    // refresh_state promises one call of `done`; the flag also covers a throw after it was called.
    auto called = std::make_shared<std::atomic<bool>>(false);
    try {
        eng->refresh_state(state, [self = weak_from_this(), weak, failures, called](std::error_code ec) {
            if (called->exchange(true)) return;
            if (auto s = self.lock()) s->refreshed(weak, failures, ec);
        });
    } catch (...) {
        if (!called->exchange(true)) refreshed(weak, failures, std::make_error_code(std::errc::not_enough_memory));
    }
}

void keep_alive_scheduler::refreshed(const std::weak_ptr<session_state>& weak, unsigned failures, std::error_code ec) {
    auto state = weak.lock();
    auto eng = owner_.lock();
    bool logged_in = false;
    std::optional<time_point> refreshed_at, expires_at;
    if (state) {
        std::lock_guard lock(state->mutex);
        logged_in = state->logged_in;
        refreshed_at = state->refreshed_at;
        expires_at = state->expires_at;
    }
    const auto now = eng ? eng->now() : time_point{};
    const auto steady_now = steady::now();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        --in_flight_;
        // invalid_grant: refresh_state has marked the record and the session logged out and fired
        // `expired`. Logged out by the application meanwhile, or let go: over too.
        bool keep = state && eng && logged_in && ec != oidc_errc::invalid_grant;
        if (keep && !ec) {
            // A response without expires_in leaves nothing to schedule by.
            const auto due = due_time(refreshed_at, expires_at, now, options_, random_fraction_locked());
            keep = due.has_value();
            if (keep) push_locked({steady_now + std::chrono::duration_cast<steady::duration>(*due - now), weak, 0});
        } else if (keep) {
            // Transient (timeout, 5xx, connection, store busy): again later, even past the access
            // token's end; the refresh token usually outlives it.
            const auto next = failures + 1;
            push_locked({steady_now + retry_delay(next, options_, random_fraction_locked()), weak, next});
        }
        if (!keep) tracked_.erase(weak);
    }
    wake_.notify_all();
}

} // namespace session_detail

// -------------------------------------------------------------------------------------------------
// session_manager

void session_manager::start_keep_alive(keep_alive_options options) {
    session_detail::check_keep_alive_options(options);
    auto& eng = *engine_;
    if (!eng.core->runs_by_itself())
        throw error(storage_errc::invalid_configuration,
                    "keep-alive needs I/O threads (session_manager_options::threads >= 1) or an executor");
    std::shared_ptr<session_detail::keep_alive_scheduler> scheduler;
    {
        std::lock_guard lock(eng.live_mutex);
        if (eng.keep_alive) throw error(storage_errc::invalid_configuration, "keep-alive: already running");
        scheduler = std::make_shared<session_detail::keep_alive_scheduler>(engine_, options);
        scheduler->start();
        eng.keep_alive = scheduler;
    }
    // Sessions handed out from here on reach it through engine::handed_out; one handed out while
    // this runs may be tracked twice, which the scheduler ignores.
    for (const auto& state : eng.live_sessions())
        scheduler->track(state);
}

void session_manager::stop_keep_alive() {
    std::shared_ptr<session_detail::keep_alive_scheduler> scheduler;
    {
        std::lock_guard lock(engine_->live_mutex);
        scheduler = std::move(engine_->keep_alive);
        engine_->keep_alive.reset();
    }
    // Joined outside live_mutex: handed_out takes it on I/O threads.
    if (scheduler) scheduler->stop();
}

bool session_manager::keep_alive_running() const {
    std::lock_guard lock(engine_->live_mutex);
    return engine_->keep_alive != nullptr;
}

} // namespace multisession
