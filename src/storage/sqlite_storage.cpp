#include <multisession/storage/sqlite.hpp>

#include "storage/key_text.hpp"
#include "storage/sqlite_connection.hpp"
#include "storage/sqlite_key_range.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace multisession {
namespace {

using detail::sqlite_context;

// The file's identity. application_id (a 32-bit tag in the database header, "MSKV") says the file
// is ours; user_version is the schema version of this layout. A database with neither and no
// tables is adopted; anything else is refused rather than written into, since it belongs to
// someone else and would hold credentials next to unrelated data.
constexpr std::int32_t our_application_id = 0x4d534b56;
constexpr std::int64_t our_schema_version = 1;

// WITHOUT ROWID: the table is clustered on the key, so a lookup or a prefix range is one B-tree
// seek and the row is read from the same leaf. Keys and values are BLOBs, compared with memcmp,
// which makes byte order the key order and prefixes ranges. expires_at is milliseconds since the
// Unix epoch, NULL for never. The partial index holds only expiring rows, so purge_expired costs
// in proportion to what it finds, and rows that never expire cost nothing in it.
constexpr const char* create_schema_sql =
    "CREATE TABLE multisession_kv("
    "  key BLOB NOT NULL PRIMARY KEY,"
    "  value BLOB NOT NULL,"
    "  expires_at INTEGER"
    ") WITHOUT ROWID;"
    "CREATE INDEX multisession_kv_expiry ON multisession_kv(expires_at) WHERE expires_at IS NOT NULL;";

/// The statements each connection prepares once and keeps. The scan and range-delete ones come
/// in a bounded form (key < ?2) and an open one, for prefixes without an upper bound.
enum statement_id : std::size_t {
    stmt_begin_immediate,
    stmt_commit,
    stmt_get,
    stmt_upsert,
    stmt_delete_returning,
    stmt_delete,
    stmt_scan_keys_bounded,
    stmt_scan_keys_open,
    stmt_scan_entries_bounded,
    stmt_scan_entries_open,
    stmt_delete_expired_bounded,
    stmt_delete_expired_open,
    stmt_delete_range_bounded,
    stmt_delete_range_open,
    stmt_delete_all,
    stmt_purge,
    stmt_any_expired,
    statement_count,
};

// Rows per enumeration page: large enough that the per-page seek is noise, small enough that a
// page is a few hundred KB at most for typical sessions.
constexpr std::size_t page_size = 512;

constexpr const char* statement_sql[statement_count] = {
    // BEGIN IMMEDIATE takes the write lock up front, so a read-then-write cannot be invalidated
    // (SQLITE_BUSY_SNAPSHOT) by another writer between its read and its write.
    "BEGIN IMMEDIATE",
    "COMMIT",
    "SELECT value FROM multisession_kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
    "INSERT INTO multisession_kv(key, value, expires_at) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
    "DELETE FROM multisession_kv WHERE key = ?1 RETURNING expires_at",
    "DELETE FROM multisession_kv WHERE key = ?1",
    "SELECT key FROM multisession_kv WHERE key >= ?1 AND key < ?2 AND (expires_at IS NULL OR expires_at > ?3) "
    "ORDER BY key LIMIT ?4",
    "SELECT key FROM multisession_kv WHERE key >= ?1 AND (expires_at IS NULL OR expires_at > ?3) "
    "ORDER BY key LIMIT ?4",
    "SELECT key, value FROM multisession_kv WHERE key >= ?1 AND key < ?2 "
    "AND (expires_at IS NULL OR expires_at > ?3) ORDER BY key LIMIT ?4",
    "SELECT key, value FROM multisession_kv WHERE key >= ?1 AND (expires_at IS NULL OR expires_at > ?3) "
    "ORDER BY key LIMIT ?4",
    "DELETE FROM multisession_kv WHERE key >= ?1 AND key < ?2 AND expires_at <= ?3",
    "DELETE FROM multisession_kv WHERE key >= ?1 AND expires_at <= ?3",
    "DELETE FROM multisession_kv WHERE key >= ?1 AND key < ?2",
    "DELETE FROM multisession_kv WHERE key >= ?1",
    // No WHERE: SQLite clears the table and its index page by page instead of row by row.
    "DELETE FROM multisession_kv",
    "DELETE FROM multisession_kv WHERE expires_at <= ?1",
    // Through the partial index: one seek, whatever the size of the table.
    "SELECT 1 FROM multisession_kv WHERE expires_at <= ?1 LIMIT 1",
};

using connection = detail::sqlite_connection<statement_count>;

/// Expiry instants as stored: whole milliseconds, rounded down. Rounding both the expiry and
/// `now` down can only make an entry expire up to 1 ms early, never late.
std::int64_t to_ms(time_point t) {
    return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t rows_changed(sqlite3* db) {
#if SQLITE_VERSION_NUMBER >= 3037000
    return sqlite3_changes64(db);
#else
    return sqlite3_changes(db);
#endif
}

/// BEGIN IMMEDIATE ... COMMIT, rolled back if left without commit (an exception, or a
/// compare_and_set that found a mismatch).
class write_transaction {
public:
    write_transaction(connection& db, const sqlite_context& where) : db_(db), where_(where) {
        db_.run(stmt_begin_immediate, statement_sql[stmt_begin_immediate], where_).run();
    }
    ~write_transaction() {
        // After some errors (SQLITE_FULL, SQLITE_IOERR) SQLite has already rolled back; ROLLBACK
        // would then fail harmlessly, so only issue it while a transaction is open. Its own
        // failure is ignored: the connection is then not reusable and the pool drops it.
        if (!committed_ && !db_.reusable()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    write_transaction(const write_transaction&) = delete;
    write_transaction& operator=(const write_transaction&) = delete;

    void commit() {
        db_.run(stmt_commit, statement_sql[stmt_commit], where_).run();
        committed_ = true;
    }

private:
    connection& db_;
    const sqlite_context& where_;
    bool committed_ = false;
};

/// One writer of this process at a time, waited for with a timeout. Measured with 8 threads
/// doing set + compare_and_set on 4 connections: 0.70 s with this gate, 0.95 s without (SQLite's
/// busy handler polling), 1.2 s with a gate made of a condition variable.
class write_gate {
public:
    /// Holds the gate until destroyed; holds nothing once moved from.
    class pass {
    public:
        explicit pass(std::timed_mutex* mutex) noexcept : mutex_(mutex) {}
        pass(pass&& other) noexcept : mutex_(std::exchange(other.mutex_, nullptr)) {}
        pass& operator=(pass&&) = delete;
        ~pass() {
            if (mutex_ != nullptr) mutex_->unlock();
        }

    private:
        std::timed_mutex* mutex_;
    };

    /// The gate, or nullopt if other threads held it for all of `timeout`.
    std::optional<pass> enter(std::chrono::milliseconds timeout) {
        // A system_clock deadline, not try_lock_for: libstdc++ waits for it with
        // pthread_mutex_timedlock, which ThreadSanitizer knows, where the steady-clock wait uses
        // pthread_mutex_clocklock, unknown to GCC 12's TSan, which then reports every unlock as an
        // error. A wall-clock step during the wait only stretches or shortens this one wait.
        if (!mutex_.try_lock() && !mutex_.try_lock_until(std::chrono::system_clock::now() + timeout))
            return std::nullopt;
        return std::optional<pass>(std::in_place, &mutex_);
    }

private:
    std::timed_mutex mutex_;
};

/// A store in one SQLite database file.
///
/// Concurrency: a pool of up to max_connections connections, each opened SQLITE_OPEN_NOMUTEX and
/// used by one thread at a time (the pool hands it out), so readers run in parallel on their own
/// WAL snapshots. Writers in this process first take `write_gate_`: SQLite admits one writer at a
/// time anyway, and queueing on a mutex avoids its busy handler, which polls with sleeps of 1 to
/// 100 ms. Between processes the busy handler (busy_timeout) is what waits.
class sqlite_storage final : public storage {
public:
    sqlite_storage(const std::filesystem::path& file, sqlite_storage_options options)
        : storage(std::move(options.clock)),
          synchronous_(options.synchronous),
          busy_timeout_(options.busy_timeout),
          // More connections than this cannot help (one writer, readers bounded by cores) and
          // would only hold memory; the bound also lets the pool reserve its slots up front.
          max_connections_(std::min<std::size_t>(options.max_connections, 256)),
          page_size_(options.page_size) {
        // A relative name is anchored at "./" so that SQLite cannot read it as a special name
        // (":memory:", or a "file:" URI when URI names are enabled by default).
        file_ = (file.is_relative() ? std::filesystem::path(".") / file : file).string();
        open_context_ = "sqlite open '" + file_ + "'";
        const sqlite_context where{open_context_};

        if (file.empty()) throw error(storage_errc::invalid_configuration, "sqlite open: empty file name");
        if (max_connections_ == 0)
            throw error(storage_errc::invalid_configuration, open_context_ + ": max_connections must be at least 1");
        if (busy_timeout_.count() < 0)
            throw error(storage_errc::invalid_configuration, open_context_ + ": negative busy_timeout");
        if (page_size_ < 512 || page_size_ > 65536 || (page_size_ & (page_size_ - 1)) != 0)
            throw error(storage_errc::invalid_configuration,
                        open_context_ + ": page_size must be a power of two from 512 to 65536");

        create_private_file();
        idle_.reserve(max_connections_); // so that give_back, which is noexcept, never allocates
        auto first = open_connection();
        // Setting up a new file upgrades a read lock to a write lock (the switch to WAL). When two
        // connections do that at once, SQLite refuses one at once with SQLITE_BUSY, to avoid a
        // deadlock, instead of waiting in the busy handler. The refusal is transient (the other
        // finishes in milliseconds), so the setup is retried until busy_timeout has passed.
        const auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
        for (;;) {
            try {
                prepare_database(*first, where);
                break;
            } catch (const error& e) {
                if (e.code() != storage_errc::busy || std::chrono::steady_clock::now() >= deadline) throw;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        }
        idle_.push_back(std::move(first));
        open_count_ = 1;
    }

private:
    /// A connection checked out of the pool; goes back (or is closed, if unusable) on destruction.
    class lease {
    public:
        lease(sqlite_storage& owner, std::unique_ptr<connection> db) noexcept : owner_(owner), db_(std::move(db)) {}
        ~lease() { owner_.give_back(std::move(db_)); }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;

        connection& operator*() const noexcept { return *db_; }
        connection* operator->() const noexcept { return db_.get(); }

    private:
        sqlite_storage& owner_;
        std::unique_ptr<connection> db_;
    };

    std::optional<std::string> do_get(std::string_view key, time_point now) override {
        const sqlite_context where{"sqlite get", key};
        lease db = checkout();
        auto query = db->run(stmt_get, statement_sql[stmt_get], where);
        query.bind_blob(1, key);
        query.bind_int64(2, to_ms(now));
        if (!query.step()) return std::nullopt;
        return std::string(query.blob(0));
    }

    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        const sqlite_context where{"sqlite set", key};
        (void)write(where, [&](connection& db) {
            upsert(db, key, value, expires_at, where);
            return true;
        });
    }

    bool do_remove(std::string_view key, time_point now) override {
        const sqlite_context where{"sqlite remove", key};
        const std::int64_t now_ms = to_ms(now);
        return write(where, [&](connection& db) {
            // One statement deletes the row whatever its expiry and reports that expiry, so an
            // expired row is cleaned up but does not count as removed. The liveness test is done
            // here rather than in the RETURNING clause: SQLite 3.40 evaluates "expires_at IS NULL"
            // there wrongly (false for a NULL) on a WITHOUT ROWID table, while the bare column is
            // right.
            auto query = db.run(stmt_delete_returning, statement_sql[stmt_delete_returning], where);
            query.bind_blob(1, key);
            bool removed_live = false;
            while (query.step()) removed_live = query.is_null(0) || query.int64(0) > now_ms;
            return removed_live;
        });
    }

    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point now) override {
        const sqlite_context where{"sqlite compare_and_set", key};
        const std::int64_t now_ms = to_ms(now);
        // The write lock is held from the read to the commit, so no writer of any process can
        // slip in between the comparison and the swap.
        return write(where, [&](connection& db) {
            bool matches = false;
            {
                auto query = db.run(stmt_get, statement_sql[stmt_get], where);
                query.bind_blob(1, key);
                query.bind_int64(2, now_ms);
                const bool present = query.step();
                matches = expected ? present && query.blob(0) == *expected : !present;
            }
            if (!matches) return false; // nothing written
            if (desired) {
                upsert(db, key, *desired, expires_at, where);
            } else {
                // Also deletes an expired row when `expected` was nullopt: invisible either way.
                auto query = db.run(stmt_delete, statement_sql[stmt_delete], where);
                query.bind_blob(1, key);
                query.run();
            }
            return true;
        });
    }

    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point now) override {
        scan_pages(prefix, with_values, nullptr, visit, now);
    }

    void do_scan_where(std::string_view prefix, const value_filter& keep, const entry_visitor& visit,
                       time_point now) override {
        scan_pages(prefix, true, &keep, visit, now);
    }

    /// Keyset pagination: each page is a fresh seek past the last key read, so the statement is
    /// reset and the connection returned before user code runs. No read transaction stays open
    /// across the visitor, which may write to this store. `keep`, when given, sees each value in
    /// SQLite's own buffer; only the keys it accepts are copied. The page's strings are reused
    /// from page to page, so a long enumeration allocates once per page slot, not once per entry.
    void scan_pages(std::string_view prefix, bool read_values, const value_filter* keep, const entry_visitor& visit,
                    time_point now) {
        const sqlite_context where{"sqlite scan", prefix};
        const auto upper = detail::prefix_upper_bound(prefix);
        const statement_id id = read_values ? (upper ? stmt_scan_entries_bounded : stmt_scan_entries_open)
                                            : (upper ? stmt_scan_keys_bounded : stmt_scan_keys_open);
        const bool copy_values = read_values && !keep;
        const std::int64_t now_ms = to_ms(now);
        std::string resume(prefix);
        std::vector<std::pair<std::string, std::string>> page(page_size);
        for (;;) {
            std::size_t read = 0, kept = 0;
            {
                lease db = checkout();
                auto query = db->run(id, statement_sql[id], where);
                query.bind_blob(1, resume);
                if (upper) query.bind_blob(2, *upper);
                query.bind_int64(3, now_ms);
                query.bind_int64(4, static_cast<std::int64_t>(page_size));
                while (query.step()) {
                    const auto key = query.blob(0);
                    if (++read == page_size) resume.assign(key); // the last row read: resume after it
                    if (keep && !(*keep)(key, query.blob(1))) continue;
                    auto& slot = page[kept++];
                    slot.first.assign(key);
                    if (copy_values) slot.second.assign(query.blob(1));
                }
            }
            for (std::size_t i = 0; i < kept; ++i) {
                if (!visit(page[i].first, page[i].second)) return;
            }
            if (read < page_size) return;
            resume = detail::key_successor(resume);
        }
    }

    std::size_t do_remove_prefix(std::string_view prefix, time_point now) override {
        const sqlite_context where{"sqlite remove_prefix", prefix};
        const std::int64_t now_ms = to_ms(now);
        auto gate = enter_writer(where);
        lease db = checkout();
        // One DELETE over the whole range; its change count is the answer once expired rows in the
        // range are gone. Both in one transaction: one commit, one sync, and no writer in between.
        write_transaction transaction(*db, where);
        const std::size_t removed = remove_range(*db, prefix, now_ms, any_expired(*db, now_ms, where), where);
        transaction.commit();
        return removed;
    }

    /// Every range, and the listing of the matched keys, in one write transaction: other
    /// connections and processes see all of it or none, the matched keys are exactly the rows
    /// deleted, and there is one commit (one WAL sync) for the lot. If `match` throws, nothing is
    /// removed.
    prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const value_filter* match,
                                      time_point now) override {
        const sqlite_context where{"sqlite remove_prefixes", prefixes.empty() ? std::string_view() : prefixes[0]};
        const std::int64_t now_ms = to_ms(now);
        prefix_removal result;
        auto gate = enter_writer(where);
        lease db = checkout();
        write_transaction transaction(*db, where);
        const bool expired_rows = any_expired(*db, now_ms, where);
        for (const auto prefix : prefixes) {
            if (match) match_range(*db, prefix, now_ms, *match, result.matched, where);
            result.removed += remove_range(*db, prefix, now_ms, expired_rows, where);
        }
        transaction.commit();
        return result;
    }

    /// Appends the live keys under `prefix` whose value `match` accepts, read in one statement
    /// (the caller holds the write transaction: no pages, no snapshot to resume from).
    static void match_range(connection& db, std::string_view prefix, std::int64_t now_ms, const value_filter& match,
                            std::vector<std::string>& out, const sqlite_context& where) {
        const auto upper = detail::prefix_upper_bound(prefix);
        const statement_id id = upper ? stmt_scan_entries_bounded : stmt_scan_entries_open;
        auto query = db.run(id, statement_sql[id], where);
        query.bind_blob(1, prefix);
        if (upper) query.bind_blob(2, *upper);
        query.bind_int64(3, now_ms);
        query.bind_int64(4, -1); // no LIMIT
        while (query.step()) {
            const auto key = query.blob(0);
            if (match(key, query.blob(1))) out.emplace_back(key);
        }
    }

    /// Deletes the range under `prefix` inside the caller's write transaction and returns how many
    /// live rows it held. Expired rows in the range are deleted first, uncounted, but only when
    /// `expired_rows` (the expiry index shows any expired row at all): a second pass over a large
    /// range costs about a fifth of the delete.
    static std::size_t remove_range(connection& db, std::string_view prefix, std::int64_t now_ms, bool expired_rows,
                                    const sqlite_context& where) {
        const auto upper = detail::prefix_upper_bound(prefix);
        if (expired_rows) {
            if (prefix.empty()) {
                auto purge = db.run(stmt_purge, statement_sql[stmt_purge], where);
                purge.bind_int64(1, now_ms);
                purge.run();
            } else {
                const statement_id id = upper ? stmt_delete_expired_bounded : stmt_delete_expired_open;
                auto purge = db.run(id, statement_sql[id], where);
                purge.bind_blob(1, prefix);
                if (upper) purge.bind_blob(2, *upper);
                purge.bind_int64(3, now_ms);
                purge.run();
            }
        }
        const statement_id id =
            prefix.empty() ? stmt_delete_all : (upper ? stmt_delete_range_bounded : stmt_delete_range_open);
        auto erase = db.run(id, statement_sql[id], where);
        if (!prefix.empty()) erase.bind_blob(1, prefix);
        if (upper) erase.bind_blob(2, *upper);
        erase.run();
        return static_cast<std::size_t>(rows_changed(db.handle()));
    }

    std::size_t do_purge_expired(time_point now) override {
        const sqlite_context where{"sqlite purge_expired"};
        auto gate = enter_writer(where);
        lease db = checkout();
        auto purge = db->run(stmt_purge, statement_sql[stmt_purge], where);
        purge.bind_int64(1, to_ms(now));
        purge.run();
        return static_cast<std::size_t>(rows_changed(db->handle()));
    }

    static bool any_expired(connection& db, std::int64_t now_ms, const sqlite_context& where) {
        auto query = db.run(stmt_any_expired, statement_sql[stmt_any_expired], where);
        query.bind_int64(1, now_ms);
        return query.step();
    }

    static void upsert(connection& db, std::string_view key, std::string_view value,
                       std::optional<time_point> expires_at, const sqlite_context& where) {
        auto query = db.run(stmt_upsert, statement_sql[stmt_upsert], where);
        query.bind_blob(1, key);
        query.bind_blob(2, value);
        if (expires_at) {
            query.bind_int64(3, to_ms(*expires_at));
        } else {
            query.bind_null(3);
        }
        query.run();
    }

    /// One single-key write (set, remove, compare_and_set) waiting for its batch.
    struct pending_write {
        const sqlite_context* where;
        const std::function<bool(connection&)>* apply; // runs inside a write transaction
        bool result = false;
        std::exception_ptr failure{};
        bool done = false;
    };

    /// Group commit. Single-key writes of this process that arrive while another is committing
    /// queue up; the next one to find no batch running becomes the leader and commits everything
    /// queued in one transaction: one WAL sync for the lot instead of one each, which is what
    /// durable (synchronous=FULL) writes from many threads wait for. Each write is applied in
    /// arrival order and sees the ones before it, exactly as if each had its own transaction, and
    /// none returns before its batch is committed. If anything fails after the transaction began
    /// (a full disk, a corrupt page), the batch is rolled back and each write is retried in a
    /// transaction of its own, so every caller gets its own write's outcome and error.
    bool write(const sqlite_context& where, const std::function<bool(connection&)>& apply) {
        pending_write mine{&where, &apply};
        std::unique_lock lock(batch_mutex_);
        batch_queue_.push_back(&mine);
        while (!mine.done) {
            if (batch_running_) {
                batch_finished_.wait(lock);
                continue;
            }
            batch_running_ = true;
            const auto count = std::min(batch_queue_.size(), max_batch);
            std::vector<pending_write*> batch(batch_queue_.begin(), batch_queue_.begin() + static_cast<std::ptrdiff_t>(count));
            batch_queue_.erase(batch_queue_.begin(), batch_queue_.begin() + static_cast<std::ptrdiff_t>(count));
            lock.unlock();
            commit_batch(batch);
            lock.lock();
            for (auto* w : batch) w->done = true;
            batch_running_ = false;
            batch_finished_.notify_all();
        }
        if (mine.failure) std::rethrow_exception(mine.failure);
        return mine.result;
    }

    /// Commits `batch` as one transaction; records each write's result or failure. Never throws.
    void commit_batch(const std::vector<pending_write*>& batch) noexcept {
        // A batch of one reports its own key; a larger one's begin and commit speak for all.
        const sqlite_context batch_where{"sqlite write"};
        bool began = false;
        try {
            apply_in_transaction(batch.size() == 1 ? *batch.front()->where : batch_where, batch.data(),
                                 batch.size(), began);
            return;
        } catch (...) {
            // Before the transaction began (busy, the gate, no connection) nothing was tried and
            // the cause is the same for all: each gets it. After, the batch was rolled back.
            if (!began || batch.size() == 1) {
                for (auto* w : batch) w->failure = std::current_exception();
                return;
            }
        }
        for (auto* w : batch) {
            try {
                apply_in_transaction(*w->where, &w, 1, began);
            } catch (...) {
                w->failure = std::current_exception();
            }
        }
    }

    /// Applies `count` writes in one write transaction and commits it; `began` is set once the
    /// transaction is open. Throws on failure (the transaction is then rolled back).
    void apply_in_transaction(const sqlite_context& where, pending_write* const* writes, std::size_t count,
                              bool& began) {
        auto gate = enter_writer(where);
        lease db = checkout();
        write_transaction transaction(*db, where);
        began = true;
        for (std::size_t i = 0; i < count; ++i) writes[i]->result = (*writes[i]->apply)(*db);
        transaction.commit();
    }

    /// This process's turn to write, waited for at most busy_timeout.
    write_gate::pass enter_writer(const sqlite_context& where) {
        auto pass = write_gate_.enter(busy_timeout_);
        if (!pass)
            throw error(storage_errc::busy, where.text() + ": another writer of this process held the store too long");
        return std::move(*pass);
    }

    lease checkout() {
        std::unique_lock lock(pool_mutex_);
        pool_changed_.wait(lock, [&] { return !idle_.empty() || open_count_ < max_connections_; });
        if (!idle_.empty()) {
            // Last in, first out: the most recently used connection has the warmest page cache.
            auto db = std::move(idle_.back());
            idle_.pop_back();
            return lease(*this, std::move(db));
        }
        ++open_count_; // reserve the slot, then open outside the lock
        lock.unlock();
        try {
            return lease(*this, open_connection());
        } catch (...) {
            lock.lock();
            --open_count_;
            pool_changed_.notify_one();
            throw;
        }
    }

    void give_back(std::unique_ptr<connection> db) noexcept {
        {
            std::lock_guard lock(pool_mutex_);
            if (db->reusable()) {
                idle_.push_back(std::move(db));
            } else {
                --open_count_;
            }
        }
        pool_changed_.notify_one();
        // A connection stuck in a transaction (if any) is closed here, outside the pool's lock.
    }

    /// Opens one more connection on the file with this store's per-connection settings.
    std::unique_ptr<connection> open_connection() const {
        const sqlite_context where{open_context_};
        auto db = std::make_unique<connection>(file_, where);
        sqlite3_busy_timeout(db->handle(),
                             static_cast<int>(std::min<std::chrono::milliseconds::rep>(busy_timeout_.count(), INT_MAX)));
        // In WAL mode NORMAL syncs only at checkpoints: a commit survives a process crash but may
        // be lost on power loss. FULL syncs the WAL on every commit.
        db->exec(synchronous_ == sqlite_synchronous::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                 where);
        // Without a limit the WAL keeps the size of the largest transaction (a big remove_prefix)
        // forever; with one it is truncated back after the next checkpoint.
        db->exec("PRAGMA journal_size_limit=16777216", where);
        // 8 MiB of page cache per connection (SQLite's default is 2 MiB): a store of some ten
        // thousand sessions then stays in memory and a get does no read syscall. Allocated only
        // as pages are used.
        db->exec("PRAGMA cache_size=-8192", where);
        // Deleted entries (refresh tokens) are overwritten with zeros instead of lingering in free
        // pages. Debian builds SQLite with this on; other builds may not, so ask for it.
        db->exec("PRAGMA secure_delete=ON", where);
        return db;
    }

    /// Creates the file with mode 0600 before SQLite sees it: SQLite would create it 0644 (less
    /// the umask), and gives the -wal and -shm files the main file's mode, so all three stay
    /// private. An existing file keeps its mode.
    void create_private_file() const {
        const int fd = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            const int code = errno;
            throw error(storage_errc::io_error, open_context_ + ": " + std::system_category().message(code));
        }
        ::close(fd);
    }

    /// Switches the file to WAL, and creates our schema in an empty database or checks that an
    /// existing one is ours.
    void prepare_database(connection& db, const sqlite_context& where) const {
        // The page size takes effect only in a database that has no page yet (the switch to WAL
        // below writes the first one); a file that exists keeps its own, and the pragma is then
        // a no-op.
        db.exec(("PRAGMA page_size=" + std::to_string(page_size_)).c_str(), where);
        // The journal mode is persistent in the file: set once, seen by every later connection.
        // It must be changed outside a transaction. This is also the first read of the file, where
        // a file that is not a database is found (SQLITE_NOTADB -> corrupt_record).
        if (query_text(db, "PRAGMA journal_mode", where) != "wal" &&
            query_text(db, "PRAGMA journal_mode=WAL", where) != "wal") {
            throw error(storage_errc::backend_error, open_context_ + ": the database cannot use WAL journal mode");
        }
        // Most opens find our schema in place: that is checked under a read transaction, which no
        // writer (of this or another process) blocks in WAL mode. Only an empty database needs the
        // write lock, under which it is checked again: another process may be creating the schema
        // at the same moment.
        if (!adopt_schema(db, false, where)) adopt_schema(db, true, where);
    }

    /// Reads the file's identity in one transaction (BEGIN IMMEDIATE when `create`). Returns true
    /// if the schema is ours, or was just created because the database was empty and `create` is
    /// set; false for an empty database otherwise. Throws for anything that is not ours.
    bool adopt_schema(connection& db, bool create, const sqlite_context& where) const {
        db.exec(create ? "BEGIN IMMEDIATE" : "BEGIN", where);
        try {
            const std::int64_t application_id = query_int(db, "PRAGMA application_id", where);
            const std::int64_t version = query_int(db, "PRAGMA user_version", where);
            const std::int64_t objects = query_int(db, "SELECT count(*) FROM sqlite_master", where);
            bool ready = true;
            if (application_id == 0 && version == 0 && objects == 0) {
                if (create) {
                    db.exec(create_schema_sql, where);
                    db.exec(("PRAGMA application_id=" + std::to_string(our_application_id)).c_str(), where);
                    db.exec(("PRAGMA user_version=" + std::to_string(our_schema_version)).c_str(), where);
                } else {
                    ready = false;
                }
            } else if (application_id != our_application_id) {
                throw error(storage_errc::corrupt_record,
                            open_context_ + ": not a multisession store (a SQLite database with another schema)");
            } else if (version > our_schema_version) {
                throw error(storage_errc::backend_error, open_context_ + ": schema version " + std::to_string(version) +
                                                             " is newer than this library's (" +
                                                             std::to_string(our_schema_version) + ")");
            } else if (version != our_schema_version ||
                       query_int(db,
                                 "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'multisession_kv'",
                                 where) != 1) {
                throw error(storage_errc::corrupt_record, open_context_ + ": the multisession schema is damaged");
            }
            db.exec("COMMIT", where);
            return ready;
        } catch (...) {
            sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }

    static std::string query_text(connection& db, const char* sql, const sqlite_context& where) {
        detail::sqlite_statement statement = prepare_once(db, sql, where);
        detail::sqlite_run query(db.handle(), statement.get(), where);
        return query.step() ? std::string(query.blob(0)) : std::string();
    }

    static std::int64_t query_int(connection& db, const char* sql, const sqlite_context& where) {
        detail::sqlite_statement statement = prepare_once(db, sql, where);
        detail::sqlite_run query(db.handle(), statement.get(), where);
        return query.step() ? query.int64(0) : 0;
    }

    static detail::sqlite_statement prepare_once(connection& db, const char* sql, const sqlite_context& where) {
        sqlite3_stmt* stmt = nullptr;
        const int rc = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt, nullptr);
        if (rc != SQLITE_OK) detail::throw_sqlite(rc, db.handle(), where);
        return detail::sqlite_statement(stmt);
    }

    std::string file_;
    std::string open_context_;
    sqlite_synchronous synchronous_;
    std::chrono::milliseconds busy_timeout_;
    std::size_t max_connections_;
    std::size_t page_size_;

    write_gate write_gate_;

    /// At most this many writes per batch: bounds the transaction (and the wait of the last).
    static constexpr std::size_t max_batch = 256;
    std::mutex batch_mutex_;
    std::condition_variable batch_finished_;
    std::vector<pending_write*> batch_queue_; // guarded by batch_mutex_
    bool batch_running_ = false;              // guarded by batch_mutex_

    std::mutex pool_mutex_;
    std::condition_variable pool_changed_;
    std::vector<std::unique_ptr<connection>> idle_; // guarded by pool_mutex_
    std::size_t open_count_ = 0;                    // idle + leased; guarded by pool_mutex_
};

} // namespace

std::shared_ptr<storage> make_sqlite_storage(const std::filesystem::path& file, sqlite_storage_options options) {
    return std::make_shared<sqlite_storage>(file, std::move(options));
}

} // namespace multisession
