// multisession — building a store from a URI, so deployments choose the backend by configuration.
#pragma once

#include <multisession/storage.hpp>
#include <multisession/storage/encrypted.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace multisession {

/// Options of open_storage() that a URI cannot carry.
struct open_storage_options {
    /// Clock used for expiry by the backend. Empty: the system clock.
    clock_function clock;
    /// When set, the backend is wrapped in make_encrypted_storage() with these keys.
    std::optional<encryption_options> encryption;
    /// Error handler installed on the store (see storage::set_error_handler). Empty: the default.
    error_handler on_error;
};

/// Opens a store from a URI:
///   memory:                         a new in-memory store
///   file:/abs/dir  file:rel/dir  file:///abs/dir
///                                   the file backend; query: durable=true|false
///   sqlite:/abs/file.db  sqlite:rel.db  sqlite:///abs/file.db
///                                   the SQLite backend; query: synchronous=full|normal,
///                                   busy_timeout_ms=N, max_connections=N, page_size=N (of a
///                                   file it creates)
///   redis://[user:password@]host[:port][/db]
///                                   the Redis backend (port 6379 and database 0 by default; user
///                                   and password percent-encoded); query: timeout_ms=N (connect
///                                   and command), connect_timeout_ms=N, pool=N
/// Any URI may carry prefix=NS in its query to wrap the store in make_prefixed_storage(NS).
/// Throws multisession::error (invalid_uri) for an unknown scheme, an empty path, an unknown or
/// malformed query parameter; the message shows the URI with any password removed. Opening the
/// backend may throw its own errors (for redis: unavailable when the server cannot be reached).
std::shared_ptr<storage> open_storage(std::string_view uri, open_storage_options options = {});

/// `uri` with the password of its user-info part (if any) replaced by "***": safe to log.
std::string redact_uri(std::string_view uri);

} // namespace multisession
