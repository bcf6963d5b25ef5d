// multisession — the SQLite backend.
#pragma once

#include <multisession/storage.hpp>

#include <chrono>
#include <filesystem>

namespace multisession {

/// How hard SQLite syncs on commit (its `synchronous` pragma, in WAL mode).
enum class sqlite_synchronous {
    normal, ///< durable against a process crash; the last commits may be lost on power loss
    full,   ///< durable against power loss too (default): every commit syncs the WAL
};

/// Options of make_sqlite_storage().
struct sqlite_storage_options {
    /// Clock used for expiry. Empty: the system clock.
    clock_function clock;
    /// Commit durability. Default: full.
    sqlite_synchronous synchronous = sqlite_synchronous::full;
    /// How long a writer waits for another connection's (or process's) write lock before the call
    /// fails with storage_errc::busy.
    std::chrono::milliseconds busy_timeout{5000};
    /// Most connections kept open for concurrent readers (WAL lets readers run beside one writer).
    std::size_t max_connections = 4;
    /// Page size, in bytes, of a database file this store creates: a power of two from 512 to
    /// 65 536. A file that already exists keeps the page size it was made with. A session record
    /// (~800 bytes) fills a quarter of SQLite's default 4 KiB page; with 16 KiB pages listing and
    /// clearing a million sessions take a third and half less time, and writes cost the same
    /// (docs/backends/sqlite.md, "Page size"). Larger pages make each write log more.
    std::size_t page_size = 16384;
};

/// A store in the SQLite database `file` (created if missing, mode 0600). WAL journal, prepared
/// statements, BEGIN IMMEDIATE for compare_and_set; safe to share between threads and processes.
/// Throws multisession::error if the file cannot be opened or is not a database of ours.
std::shared_ptr<storage> make_sqlite_storage(const std::filesystem::path& file,
                                             sqlite_storage_options options = {});

} // namespace multisession
