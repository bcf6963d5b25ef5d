#include <multisession/storage/redis.hpp>

#include "storage/key_text.hpp"
#include "storage/redis_connection.hpp"
#include "storage/redis_scripts.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

namespace multisession {
namespace {

using detail::redis_connection;
using detail::redis_reply;
using detail::redis_script;
using detail::reply_text;

// Beyond this a SCAN step would hold the server for too long.
constexpr std::size_t max_scan_count = 100'000;
// Keys whose liveness one script call checks when only keys are listed.
constexpr std::size_t key_batch = 1000;
// Keys whose values one script call fetches: bounds the reply (and memory) for large values.
constexpr std::size_t value_batch = 128;
// More connections than this would only hold sockets; the bound is documented with pool_size.
constexpr std::size_t max_pool_size = 1024;

/// Instants as Redis expiries: whole milliseconds since the epoch, rounded down (as SQLite does,
/// an entry may expire up to 1 ms early, never late).
std::int64_t to_ms(time_point t) { return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count(); }

/// `prefix` as a SCAN MATCH pattern: the glob metacharacters escaped, then `*`.
std::string match_pattern(std::string_view prefix) {
    std::string out;
    out.reserve(prefix.size() + prefix.size() / 8 + 1);
    for (const char c : prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
        out += c;
    }
    out += '*';
    return out;
}

const redis_script& get_script() {
    static const redis_script script(detail::redis_get_script);
    return script;
}
const redis_script& remove_script() {
    static const redis_script script(detail::redis_remove_script);
    return script;
}
const redis_script& compare_and_set_script() {
    static const redis_script script(detail::redis_compare_and_set_script);
    return script;
}
const redis_script& entries_script() {
    static const redis_script script(detail::redis_entries_script);
    return script;
}
const redis_script& remove_batch_script() {
    static const redis_script script(detail::redis_remove_batch_script);
    return script;
}
const redis_script& purge_batch_script() {
    static const redis_script script(detail::redis_purge_batch_script);
    return script;
}

[[noreturn]] void unexpected_reply(std::string_view where) {
    throw error(storage_errc::backend_error, std::string(where) + ": unexpected reply from redis");
}

std::int64_t integer_of(const redisReply& reply, std::string_view where) {
    if (reply.type == REDIS_REPLY_ERROR) detail::throw_reply_error(reply, where);
    if (reply.type != REDIS_REPLY_INTEGER) unexpected_reply(where);
    return reply.integer;
}

void expect_ok(const redisReply& reply, std::string_view where) {
    if (reply.type == REDIS_REPLY_ERROR) detail::throw_reply_error(reply, where);
    if (reply.type != REDIS_REPLY_STATUS) unexpected_reply(where);
}

/// A store in one Redis database.
///
/// Expiry. Redis keeps one expiry per key, on its own clock, while the contract decides expiry by
/// the store's clock, which tests replace by a hand-moved one. Every instant the store sends to
/// Redis is the store's instant plus `offset_ms_`: zero with the default clock (Redis gets the
/// very instant asked for and removes the entry itself at that moment, as other programs sharing
/// the keys expect), and for an injected clock the difference between Redis's clock and it,
/// measured when the store is made (so Redis still removes the entry after the intended time,
/// even when the injected clock is far from real time). Reads go through scripts that compare
/// PEXPIRETIME with the store's now on the same scale, so an entry disappears exactly when the
/// store's clock reaches its expiry.
///
/// Connections. A pool of at most pool_size connections, opened on demand and used by one thread
/// at a time. A connection whose command failed on the socket is closed, and so are the idle
/// ones (a failure usually means the server went away); idle ones are also checked for a closed
/// socket before reuse. The next call then connects afresh: a restarted server is picked up
/// transparently, while the call that was in flight fails with `unavailable`.
class redis_storage final : public storage {
public:
    redis_storage(redis_storage_options options, bool injected_clock)
        : storage(std::move(options.clock)), pool_size_(std::min(options.pool_size, max_pool_size)),
          scan_count_(std::to_string(std::min(options.scan_count, max_scan_count))) {
        endpoint_.host = std::move(options.host);
        endpoint_.port = options.port;
        endpoint_.user = std::move(options.user);
        endpoint_.password = std::move(options.password);
        endpoint_.db = options.db;
        endpoint_.connect_timeout = options.connect_timeout;
        endpoint_.command_timeout = options.command_timeout;
        const std::string where = "redis open " + endpoint_.address();

        if (endpoint_.host.empty()) throw error(storage_errc::invalid_configuration, "redis open: empty host name");
        if (endpoint_.port == 0) throw error(storage_errc::invalid_configuration, where + ": port 0");
        if (pool_size_ == 0) throw error(storage_errc::invalid_configuration, where + ": pool_size must be at least 1");
        if (options.scan_count == 0)
            throw error(storage_errc::invalid_configuration, where + ": scan_count must be at least 1");
        if (endpoint_.connect_timeout.count() < 1 || endpoint_.command_timeout.count() < 1)
            throw error(storage_errc::invalid_configuration, where + ": timeouts must be at least 1 ms");
        if (!endpoint_.user.empty() && endpoint_.password.empty())
            throw error(storage_errc::invalid_configuration, where + ": a user name needs a password");

        idle_.reserve(pool_size_); // so that give_back, which is noexcept, never allocates
        try {
            auto first = std::make_unique<redis_connection>(endpoint_, where);
            check_version(*first, where);
            if (injected_clock) offset_ms_ = measure_offset(*first, where);
            idle_.push_back(std::move(first));
            open_count_ = 1;
        } catch (...) {
            wipe_password(); // no destructor runs for a constructor that throws
            throw;
        }
    }

    ~redis_storage() override { wipe_password(); }
    redis_storage(const redis_storage&) = delete;
    redis_storage& operator=(const redis_storage&) = delete;

private:
    /// A connection checked out of the pool; goes back (or is closed, if broken) on destruction.
    class lease {
    public:
        lease(redis_storage& owner, std::unique_ptr<redis_connection> connection) noexcept
            : owner_(owner), connection_(std::move(connection)) {}
        ~lease() { owner_.give_back(std::move(connection_)); }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;

        redis_connection& operator*() const noexcept { return *connection_; }
        redis_connection* operator->() const noexcept { return connection_.get(); }

    private:
        redis_storage& owner_;
        std::unique_ptr<redis_connection> connection_;
    };

    std::optional<std::string> do_get(std::string_view key, time_point now) override {
        const std::string where = detail::key_context("redis get", key);
        const std::string now_ms = redis_ms(now);
        const std::string_view keys[] = {key};
        const std::string_view args[] = {now_ms};
        redis_reply reply = eval(get_script(), keys, args, where);
        if (reply->type == REDIS_REPLY_NIL) return std::nullopt;
        if (reply->type != REDIS_REPLY_STRING) unexpected_reply(where);
        return std::string(reply_text(*reply));
    }

    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point now) override {
        const std::string where = detail::key_context("redis set", key);
        lease connection = checkout(where);
        if (!expires_at) {
            // A plain SET also clears any expiry the key had.
            expect_ok(*connection->command({"SET", key, value}, where), where);
            return;
        }
        const std::int64_t expiry = to_ms(*expires_at) + offset_ms_;
        if (expiry <= to_ms(now) + offset_ms_) {
            // Already expired by the store's clock: the entry would be invisible, so it is absent.
            (void)integer_of(*connection->command({"UNLINK", key}, where), where);
            return;
        }
        const std::string at = std::to_string(expiry);
        expect_ok(*connection->command({"SET", key, value, "PXAT", at}, where), where);
    }

    bool do_remove(std::string_view key, time_point now) override {
        const std::string where = detail::key_context("redis remove", key);
        const std::string now_ms = redis_ms(now);
        const std::string_view keys[] = {key};
        const std::string_view args[] = {now_ms};
        return integer_of(*eval(remove_script(), keys, args, where), where) == 1;
    }

    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point now) override {
        const std::string where = detail::key_context("redis compare_and_set", key);
        const std::string now_ms = redis_ms(now);
        const std::string expiry = expires_at ? redis_ms(*expires_at) : std::string();
        const std::string_view keys[] = {key};
        const std::string_view args[] = {now_ms,
                                         expected ? "1" : "0",
                                         expected.value_or(std::string_view()),
                                         desired ? "1" : "0",
                                         desired.value_or(std::string_view()),
                                         expiry};
        return integer_of(*eval(compare_and_set_script(), keys, args, where), where) == 1;
    }

    /// SCAN walks the whole keyspace (Redis keeps no order to seek a prefix in), MATCH filters on
    /// the server, and TYPE string leaves out keys of other types, which are not entries. SCAN
    /// returns every key present for the whole iteration at least once, and may return one more
    /// than once (when the key table is resized meanwhile), so keys already met are remembered for
    /// the length of the listing and skipped. Each page's liveness (and values) come from one
    /// script call per batch; no connection is held while the visitor runs.
    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point now) override {
        const std::string where = detail::key_context("redis scan", prefix);
        const std::string now_ms = redis_ms(now);
        const std::string_view args[] = {now_ms, with_values ? "1" : "0"};
        const std::size_t batch_size = with_values ? value_batch : key_batch;
        std::unordered_set<std::string> seen;
        std::vector<std::string> fresh;
        std::vector<std::pair<std::string, std::string>> live;
        scan_pages(prefix, where, [&](std::vector<std::string>& page) {
            fresh.clear();
            for (auto& key : page) {
                if (seen.insert(key).second) fresh.push_back(std::move(key));
            }
            for (std::size_t begin = 0; begin < fresh.size(); begin += batch_size) {
                const std::size_t end = std::min(fresh.size(), begin + batch_size);
                const std::vector<std::string_view> keys(fresh.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         fresh.begin() + static_cast<std::ptrdiff_t>(end));
                live.clear();
                {
                    redis_reply reply = eval(entries_script(), keys, args, where);
                    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != keys.size()) unexpected_reply(where);
                    for (std::size_t i = 0; i < keys.size(); ++i) {
                        const redisReply& item = *reply->element[i];
                        if (item.type == REDIS_REPLY_NIL) continue;
                        live.emplace_back(keys[i], with_values ? std::string(reply_text(item)) : std::string());
                    }
                }
                for (const auto& [key, value] : live) {
                    if (!visit(key, value)) return false;
                }
            }
            return true;
        });
    }

    std::size_t do_remove_prefix(std::string_view prefix, time_point now) override {
        const std::string where = detail::key_context("redis remove_prefix", prefix);
        return remove_in_batches(prefix, remove_batch_script(), now, where);
    }

    std::size_t do_purge_expired(time_point now) override {
        return remove_in_batches({}, purge_batch_script(), now, "redis purge_expired");
    }

    /// Runs `script` on every page of keys under `prefix` (each key seen by SCAN is handed to it
    /// at least once; the scripts are idempotent) and adds up the counts it returns.
    std::size_t remove_in_batches(std::string_view prefix, const redis_script& script, time_point now,
                                  const std::string& where) {
        const std::string now_ms = redis_ms(now);
        const std::string_view args[] = {now_ms};
        std::size_t total = 0;
        scan_pages(prefix, where, [&](std::vector<std::string>& page) {
            for (std::size_t begin = 0; begin < page.size(); begin += key_batch) {
                const std::size_t end = std::min(page.size(), begin + key_batch);
                const std::vector<std::string_view> keys(page.begin() + static_cast<std::ptrdiff_t>(begin),
                                                         page.begin() + static_cast<std::ptrdiff_t>(end));
                total += static_cast<std::size_t>(integer_of(*eval(script, keys, args, where), where));
            }
            return true;
        });
        return total;
    }

    /// Walks SCAN over the string keys matching `prefix`, handing each non-empty page to `on_page`
    /// (without holding a connection) until the cursor comes back to 0 or `on_page` returns false.
    template <class OnPage>
    void scan_pages(std::string_view prefix, const std::string& where, OnPage&& on_page) {
        const std::string pattern = prefix.empty() ? std::string() : match_pattern(prefix);
        const std::string& count = scan_count_;
        std::string cursor = "0";
        std::vector<std::string> page;
        do {
            page.clear();
            {
                lease connection = checkout(where);
                redis_reply reply =
                    pattern.empty() ? connection->command({"SCAN", cursor, "COUNT", count, "TYPE", "string"}, where)
                                    : connection->command(
                                          {"SCAN", cursor, "MATCH", pattern, "COUNT", count, "TYPE", "string"}, where);
                if (reply->type == REDIS_REPLY_ERROR) detail::throw_reply_error(*reply, where);
                if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
                    reply->element[0]->type != REDIS_REPLY_STRING || reply->element[1]->type != REDIS_REPLY_ARRAY)
                    unexpected_reply(where);
                cursor = std::string(reply_text(*reply->element[0]));
                const redisReply& keys = *reply->element[1];
                page.reserve(keys.elements);
                for (std::size_t i = 0; i < keys.elements; ++i)
                    page.emplace_back(reply_text(*keys.element[i]));
            }
            if (!page.empty() && !on_page(page)) return;
        } while (cursor != "0");
    }

    /// Runs a script by its SHA-1. A server that does not have it cached (after a restart, a
    /// SCRIPT FLUSH, or on first use) answers NOSCRIPT without running anything, and the script is
    /// then sent in full with EVAL, which also caches it. Reply errors other than that are thrown.
    redis_reply eval(const redis_script& script, std::span<const std::string_view> keys,
                     std::span<const std::string_view> args, const std::string& where) {
        const std::string key_count = std::to_string(keys.size());
        std::vector<std::string_view> argv;
        argv.reserve(3 + keys.size() + args.size());
        argv.insert(argv.end(), {"EVALSHA", script.sha1, key_count});
        argv.insert(argv.end(), keys.begin(), keys.end());
        argv.insert(argv.end(), args.begin(), args.end());
        lease connection = checkout(where);
        redis_reply reply = connection->command(argv, where);
        if (reply->type == REDIS_REPLY_ERROR && reply_text(*reply).starts_with("NOSCRIPT")) {
            argv[0] = "EVAL";
            argv[1] = script.body;
            reply = connection->command(argv, where);
        }
        if (reply->type == REDIS_REPLY_ERROR) detail::throw_reply_error(*reply, where);
        return reply;
    }

    /// The password is kept for reconnecting; its bytes are overwritten before the memory is freed.
    void wipe_password() noexcept { OPENSSL_cleanse(endpoint_.password.data(), endpoint_.password.size()); }

    /// `t` on Redis's scale, as a decimal argument.
    [[nodiscard]] std::string redis_ms(time_point t) const { return std::to_string(to_ms(t) + offset_ms_); }

    /// PEXPIRETIME (used by every script) and SET ... PXAT need Redis 7.0.
    static void check_version(redis_connection& connection, const std::string& where) {
        redis_reply reply = connection.command({"INFO", "server"}, where);
        if (reply->type == REDIS_REPLY_ERROR) detail::throw_reply_error(*reply, where);
        if (reply->type != REDIS_REPLY_STRING) unexpected_reply(where);
        const std::string_view info = reply_text(*reply);
        static constexpr std::string_view field = "redis_version:";
        const auto at = info.find(field);
        int major = 0;
        if (at != std::string_view::npos) {
            const char* begin = info.data() + at + field.size();
            std::from_chars(begin, info.data() + info.size(), major);
        }
        if (major < 7)
            throw error(storage_errc::backend_error,
                        where + ": the server is not Redis 7.0 or later (PEXPIRETIME is needed)");
    }

    /// Redis's clock minus the store's, in milliseconds: TIME against the midpoint of two readings
    /// of the store's clock around it.
    std::int64_t measure_offset(redis_connection& connection, const std::string& where) const {
        const std::int64_t before = to_ms(storage::now());
        redis_reply reply = connection.command({"TIME"}, where);
        const std::int64_t after = to_ms(storage::now());
        if (reply->type == REDIS_REPLY_ERROR) detail::throw_reply_error(*reply, where);
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) unexpected_reply(where);
        std::int64_t seconds = 0;
        std::int64_t micros = 0;
        const auto sec = reply_text(*reply->element[0]);
        const auto usec = reply_text(*reply->element[1]);
        std::from_chars(sec.data(), sec.data() + sec.size(), seconds);
        std::from_chars(usec.data(), usec.data() + usec.size(), micros);
        return seconds * 1000 + micros / 1000 - (before + (after - before) / 2);
    }

    lease checkout(const std::string& where) {
        std::vector<std::unique_ptr<redis_connection>> stale;
        // Each holder keeps a connection for one command at most, which ends within the timeouts;
        // waiting longer than one connect and one command means the pool is starved.
        const auto wait = endpoint_.connect_timeout + endpoint_.command_timeout;
        // A system_clock deadline: libstdc++ waits for it with pthread_cond_timedwait, which
        // ThreadSanitizer knows (see sqlite_storage.cpp's write_gate).
        const auto deadline = std::chrono::system_clock::now() + wait;
        std::unique_lock lock(pool_mutex_);
        for (;;) {
            while (!idle_.empty()) {
                // Last in, first out: the most recently used connection is the likeliest alive.
                auto connection = std::move(idle_.back());
                idle_.pop_back();
                if (!connection->stale()) return lease(*this, std::move(connection));
                stale.push_back(std::move(connection));
                --open_count_;
            }
            if (open_count_ < pool_size_) break;
            if (!pool_changed_.wait_until(lock, deadline, [&] { return !idle_.empty() || open_count_ < pool_size_; }))
                throw error(storage_errc::unavailable, where + ": all " + std::to_string(pool_size_) +
                                                           " connections to redis at " + endpoint_.address() +
                                                           " stayed busy for " + std::to_string(wait.count()) + " ms");
        }
        ++open_count_; // reserve the slot, then connect outside the lock
        lock.unlock();
        stale.clear();
        try {
            return lease(*this, std::make_unique<redis_connection>(endpoint_, where));
        } catch (...) {
            lock.lock();
            --open_count_;
            lock.unlock();
            pool_changed_.notify_one();
            throw;
        }
    }

    void give_back(std::unique_ptr<redis_connection> connection) noexcept {
        {
            std::lock_guard lock(pool_mutex_);
            if (!connection->broken()) {
                idle_.push_back(std::move(connection)); // never allocates: reserved for pool_size_
            } else {
                // The server probably went away: the idle connections are as dead as this one, and
                // finding that out one failed call at a time would fail calls needlessly. clear()
                // keeps the reserved capacity.
                open_count_ -= 1 + idle_.size();
                idle_.clear();
            }
        }
        pool_changed_.notify_all();
        // A broken connection is closed here, outside the pool's lock.
    }

    detail::redis_endpoint endpoint_;
    std::size_t pool_size_;
    std::string scan_count_; // as SCAN's COUNT argument
    std::int64_t offset_ms_ = 0;

    std::mutex pool_mutex_;
    std::condition_variable pool_changed_;
    std::vector<std::unique_ptr<redis_connection>> idle_; // guarded by pool_mutex_
    std::size_t open_count_ = 0;                          // idle + leased; guarded by pool_mutex_
};

} // namespace

std::shared_ptr<storage> make_redis_storage(redis_storage_options options) {
    const bool injected_clock = static_cast<bool>(options.clock);
    return std::make_shared<redis_storage>(std::move(options), injected_clock);
}

} // namespace multisession
