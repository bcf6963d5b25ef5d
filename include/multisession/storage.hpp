// multisession — the storage contract.
//
// A thread-safe, synchronous key/value store. Keys and values are byte strings (any bytes,
// including NUL); an empty value is a value, not absence. Absence is std::nullopt, never an
// exception. Entries may carry an absolute expiry; an entry whose expiry is at or before the
// store's clock is invisible to every operation, exactly as if it were absent.
//
// Users call the public, non-virtual methods. Backend authors derive from `storage` and implement
// the protected `do_*` virtuals; the public methods validate arguments, read the clock once and
// pass it down, so every backend sees the same rules.
#pragma once

#include <multisession/error.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace multisession {

/// Absolute points in time used for expiry: wall-clock time, so they survive restarts and can be
/// shared between processes and machines.
using time_point = std::chrono::system_clock::time_point;

/// A source of the current time. Empty means std::chrono::system_clock::now. Tests inject their own.
using clock_function = std::function<time_point()>;

/// Receives problems found by work that has no caller to throw to, such as a corrupt entry met
/// while listing (the entry is skipped and the listing goes on). Must not throw.
using error_handler = std::function<void(const error&)>;

/// Decides from an entry's value whether for_each_key_where visits its key. The backend calls it
/// while it reads, possibly under its own lock and with the value where it lies (no copy): it must
/// be quick, must not call the store, and should not throw (an exception ends the enumeration and
/// propagates).
using value_filter = std::function<bool(std::string_view key, std::string_view value)>;

/// Visits one entry during enumeration. `value` is empty when only keys were asked for.
/// Return true to continue, false to stop early.
using entry_visitor = std::function<bool(std::string_view key, std::string_view value)>;

/// The abstract store. All public methods are safe to call from many threads at once; whether
/// several processes may share one store is a property of the backend (file, sqlite and redis:
/// yes; memory: no).
class storage {
public:
    /// Keys longer than this are rejected with storage_errc::invalid_key.
    static constexpr std::size_t max_key_size = 64 * 1024;

    virtual ~storage();
    storage(const storage&) = delete;
    storage& operator=(const storage&) = delete;

    /// The value stored under `key`, or nullopt if there is none (or it has expired).
    /// Throws multisession::error on I/O failure or a corrupt entry (the message names the key).
    std::optional<std::string> get(std::string_view key);

    /// Creates or replaces the value under `key`. With `expires_at` the entry becomes invisible at
    /// that instant; without it any previous expiry is cleared. Durable when it returns (as far as
    /// the backend promises). Throws multisession::error.
    void set(std::string_view key, std::string_view value,
             std::optional<time_point> expires_at = std::nullopt);

    /// Deletes `key`. Returns true if a live entry was removed, false if there was none.
    bool remove(std::string_view key);

    /// Atomically: if the current value equals `expected` (nullopt: the key is absent or expired),
    /// replace it with `desired` (nullopt: remove it), with `expires_at` as for set(). Returns true
    /// if the swap happened. Atomic across threads, and across processes for shared backends: the
    /// base of refresh-token rotation safety and of leases.
    bool compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                         std::optional<std::string_view> desired,
                         std::optional<time_point> expires_at = std::nullopt);

    /// Streams every live key that starts with `prefix` (empty: all keys) to `visit`, without
    /// building a list. The callback may call this store (no lock is held while it runs). Keys
    /// present for the whole enumeration are visited exactly once; keys added or removed meanwhile
    /// may or may not be. The order is the backend's (sorted for memory and sqlite, directory order
    /// for file). `visit` returns void, or bool where false stops the enumeration.
    template <class Visitor>
    void for_each_key(std::string_view prefix, Visitor&& visit) {
        scan(prefix, false, adapt([&](std::string_view key, std::string_view) { return call(visit, key); }));
    }

    /// As for_each_key, with each entry's value. Cheaper than for_each_key + get on every backend.
    template <class Visitor>
    void for_each(std::string_view prefix, Visitor&& visit) {
        scan(prefix, true, adapt([&](std::string_view key, std::string_view value) { return call(visit, key, value); }));
    }

    /// As for_each_key, visiting only the keys whose entry `keep` accepts. For listings that look
    /// at every value but keep few of them: the values are not copied out of the backend (SQLite,
    /// memory), which makes it several times cheaper than for_each on large stores.
    template <class Visitor>
    void for_each_key_where(std::string_view prefix, const value_filter& keep, Visitor&& visit) {
        scan_where(prefix, keep, adapt([&](std::string_view key, std::string_view) { return call(visit, key); }));
    }

    /// Every live key under `prefix`, collected. Prefer for_each_key for large stores.
    std::vector<std::string> keys(std::string_view prefix = {});

    /// Removes every live key under `prefix` (empty: everything) as one batch operation and
    /// returns how many were removed.
    std::size_t remove_prefix(std::string_view prefix);

    /// What remove_prefixes removed.
    struct prefix_removal {
        std::size_t removed = 0;          ///< live entries removed, over all the prefixes
        std::vector<std::string> matched; ///< keys of removed live entries that `match` accepted
    };

    /// Removes every live key under each of `prefixes`, as remove_prefix does, as one batch: one
    /// transaction with sqlite, one lock with memory, so that other callers see all of it or none
    /// of it; the other backends remove one prefix after the other. With `match`, the keys of the
    /// removed live entries it accepts are returned (with sqlite and memory exactly those removed;
    /// elsewhere those seen just before each prefix is removed). `match` runs where the backend
    /// reads, as for for_each_key_where: it must be quick and must not call the store.
    prefix_removal remove_prefixes(std::span<const std::string_view> prefixes, const value_filter& match = {});

    /// Physically deletes expired entries (they are already invisible) and returns how many.
    std::size_t purge_expired();

    /// The store's notion of now (its injected clock, or the system clock).
    [[nodiscard]] time_point now() const;

    /// Replaces the handler for problems met by operations with no caller to throw to. The default
    /// writes one line to stderr. Thread-safe.
    void set_error_handler(error_handler handler);

protected:
    explicit storage(clock_function clock = {});

    /// Hands `e` to the error handler. Never throws.
    void report(const error& e) const noexcept;

    // The backend's half of the contract. Arguments are already validated: keys are non-empty and
    // at most max_key_size bytes. `now` is the store's clock read once for the call; an entry with
    // an expiry at or before `now` must be treated as absent.
    virtual std::optional<std::string> do_get(std::string_view key, time_point now) = 0;
    virtual void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                        time_point now) = 0;
    virtual bool do_remove(std::string_view key, time_point now) = 0;
    virtual bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                                    std::optional<std::string_view> desired,
                                    std::optional<time_point> expires_at, time_point now) = 0;
    /// Must not hold a lock while calling `visit`. With `with_values` false, pass an empty value.
    virtual void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit,
                         time_point now) = 0;
    /// The filtered enumeration of for_each_key_where: `visit` gets the keys `keep` accepts (with
    /// an empty value). The default runs do_scan with values and filters them; backends that can
    /// look at a value without copying it override this. Must not hold a lock while calling
    /// `visit` (`keep` may run under one).
    virtual void do_scan_where(std::string_view prefix, const value_filter& keep, const entry_visitor& visit,
                               time_point now);
    virtual std::size_t do_remove_prefix(std::string_view prefix, time_point now) = 0;
    /// remove_prefixes; `match` is null when none was given. The default takes each prefix in
    /// turn: do_scan_where (with `match`), then do_remove_prefix. Backends that can remove several
    /// ranges in one transaction or under one lock override it.
    virtual prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const value_filter* match,
                                              time_point now);
    virtual std::size_t do_purge_expired(time_point now) = 0;

private:
    void scan(std::string_view prefix, bool with_values, const entry_visitor& visit);
    void scan_where(std::string_view prefix, const value_filter& keep, const entry_visitor& visit);

    template <class F>
    static entry_visitor adapt(F&& f) { return entry_visitor(std::forward<F>(f)); }

    template <class Visitor, class... Args>
    static bool call(Visitor& visit, Args... args) {
        if constexpr (std::is_same_v<std::invoke_result_t<Visitor&, Args...>, void>) {
            visit(args...);
            return true;
        } else {
            return static_cast<bool>(visit(args...));
        }
    }

    struct handler_slot;
    clock_function clock_;
    std::shared_ptr<handler_slot> handler_;
};

} // namespace multisession
