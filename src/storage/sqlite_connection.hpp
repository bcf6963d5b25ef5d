// Thin RAII over the SQLite C API for the sqlite backend: one connection, its cached prepared
// statements, and the mapping of SQLite result codes onto storage_errc. Private: sqlite3.h must
// never reach a public header.
#pragma once

#include <multisession/error.hpp>

#include "storage/key_text.hpp"

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace multisession::detail {

/// The storage_errc for a SQLite result code (primary or extended).
inline storage_errc sqlite_errc(int rc) noexcept {
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return storage_errc::busy;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY: return storage_errc::io_error;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return storage_errc::corrupt_record;
    default: return storage_errc::backend_error;
    }
}

/// What an operation was doing, for error messages: "sqlite get 'key'". Built into a string only
/// when an error is thrown, so the hot path pays nothing for it.
class sqlite_context {
public:
    explicit sqlite_context(std::string_view operation) noexcept : operation_(operation) {}
    sqlite_context(std::string_view operation, std::string_view key) noexcept
        : operation_(operation), key_(key), has_key_(true) {}

    [[nodiscard]] std::string text() const {
        return has_key_ ? key_context(operation_, key_) : std::string(operation_);
    }

private:
    std::string_view operation_;
    std::string_view key_;
    bool has_key_ = false;
};

/// Throws the multisession::error for `rc`, with "<context>: <SQLite's message>" as context.
/// SQLite's messages name tables, columns and constraints, never bound values.
[[noreturn]] inline void throw_sqlite(int rc, sqlite3* db, const sqlite_context& where) {
    std::string context = where.text();
    context += ": ";
    // The connection's message describes the latest failure on it; without a connection (or if
    // it is about another code) fall back to the generic text of the code.
    const bool own_message = db != nullptr && sqlite3_errcode(db) == rc;
    context += own_message ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    throw error(sqlite_errc(rc), context);
}

/// A prepared statement owned by a connection's cache. `use` gives it out for one execution and
/// resets it when done, so a statement never stays active (holding a read snapshot or a write
/// transaction open) past the call that stepped it.
class sqlite_statement {
public:
    sqlite_statement() = default;
    explicit sqlite_statement(sqlite3_stmt* stmt) noexcept : stmt_(stmt) {}
    ~sqlite_statement() { sqlite3_finalize(stmt_); }
    sqlite_statement(sqlite_statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}
    sqlite_statement& operator=(sqlite_statement&& other) noexcept {
        std::swap(stmt_, other.stmt_);
        return *this;
    }

    [[nodiscard]] sqlite3_stmt* get() const noexcept { return stmt_; }
    explicit operator bool() const noexcept { return stmt_ != nullptr; }

private:
    sqlite3_stmt* stmt_ = nullptr;
};

/// One execution of a cached statement: binds, steps, reads columns, and resets on destruction.
/// Blobs are bound SQLITE_STATIC (no copy), so the bound memory must outlive this object, which
/// resetting on destruction guarantees for the callers' locals.
class sqlite_run {
public:
    sqlite_run(sqlite3* db, sqlite3_stmt* stmt, const sqlite_context& context) noexcept
        : db_(db), stmt_(stmt), context_(context) {}
    ~sqlite_run() { sqlite3_reset(stmt_); }
    sqlite_run(const sqlite_run&) = delete;
    sqlite_run& operator=(const sqlite_run&) = delete;

    void bind_blob(int index, std::string_view bytes) {
        // A null pointer would bind SQL NULL, but an empty key bound or an empty value is a
        // zero-length blob, not absence.
        static constexpr char empty[1] = {};
        const char* data = bytes.data() != nullptr ? bytes.data() : empty;
        check(sqlite3_bind_blob64(stmt_, index, data, bytes.size(), SQLITE_STATIC));
    }
    void bind_int64(int index, std::int64_t value) { check(sqlite3_bind_int64(stmt_, index, value)); }
    void bind_null(int index) { check(sqlite3_bind_null(stmt_, index)); }

    /// Steps once: true for a row, false when the statement is done. Throws on any error.
    bool step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        throw_sqlite(rc, db_, context_);
    }

    /// Steps to completion, ignoring any rows.
    void run() {
        while (step()) {
        }
    }

    /// Column `index` of the current row as bytes, valid until the next step or reset.
    [[nodiscard]] std::string_view blob(int index) const noexcept {
        const auto* data = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
        const auto size = static_cast<std::size_t>(sqlite3_column_bytes(stmt_, index));
        return data != nullptr ? std::string_view(data, size) : std::string_view();
    }
    [[nodiscard]] bool is_null(int index) const noexcept { return sqlite3_column_type(stmt_, index) == SQLITE_NULL; }
    [[nodiscard]] std::int64_t int64(int index) const noexcept { return sqlite3_column_int64(stmt_, index); }

private:
    void check(int rc) {
        if (rc != SQLITE_OK) throw_sqlite(rc, db_, context_);
    }

    sqlite3* db_;
    sqlite3_stmt* stmt_;
    const sqlite_context& context_;
};

/// An open database handle with a fixed table of lazily prepared statements, indexed by
/// `statement_count` ids chosen by the user of this class. Not thread-safe: opened with
/// SQLITE_OPEN_NOMUTEX, so exactly one thread may use it at a time.
template <std::size_t statement_count>
class sqlite_connection {
public:
    /// Opens (creating if needed) `file`. Throws multisession::error with `context` on failure.
    sqlite_connection(const std::string& file, const sqlite_context& context) {
        const int rc = sqlite3_open_v2(file.c_str(), &db_,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
        if (rc != SQLITE_OK) {
            // sqlite3_open_v2 may hand back a handle even on failure; read its message, then free it.
            try {
                throw_sqlite(rc, db_, context);
            } catch (...) {
                sqlite3_close_v2(db_);
                throw;
            }
        }
        sqlite3_extended_result_codes(db_, 1);
    }

    ~sqlite_connection() {
        // Statements first: sqlite3_close_v2 would otherwise leave the handle half-open as a
        // "zombie" until they are finalized.
        for (auto& statement : statements_) statement = sqlite_statement();
        sqlite3_close_v2(db_);
    }
    sqlite_connection(const sqlite_connection&) = delete;
    sqlite_connection& operator=(const sqlite_connection&) = delete;

    [[nodiscard]] sqlite3* handle() const noexcept { return db_; }

    /// Runs SQL text with no parameters and no interesting result (pragmas, DDL).
    void exec(const char* sql, const sqlite_context& context) {
        const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) throw_sqlite(rc, db_, context);
    }

    /// The statement `id`, prepared from `sql` on first use and kept for the connection's life.
    sqlite_run run(std::size_t id, const char* sql, const sqlite_context& context) {
        auto& statement = statements_[id];
        if (!statement) {
            sqlite3_stmt* stmt = nullptr;
            const int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
            if (rc != SQLITE_OK) throw_sqlite(rc, db_, context);
            statement = sqlite_statement(stmt);
        }
        return sqlite_run(db_, statement.get(), context);
    }

    /// True unless a transaction was left open (a failed ROLLBACK): such a connection must not be
    /// reused.
    [[nodiscard]] bool reusable() const noexcept { return sqlite3_get_autocommit(db_) != 0; }

private:
    sqlite3* db_ = nullptr;
    sqlite_statement statements_[statement_count];
};

} // namespace multisession::detail
