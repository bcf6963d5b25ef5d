// Reading a storage URI (see open_storage()) without opening anything: which backend, where, and
// its options. Split from open_storage() so the parsing can be tested and fuzzed on its own.
#pragma once

#include <multisession/storage/file.hpp>
#include <multisession/storage/redis.hpp>
#include <multisession/storage/sqlite.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace multisession::detail {

/// What a storage URI says. Only the options of `scheme`'s backend are filled in; clocks and
/// error handlers are left empty (a URI cannot carry them).
struct storage_location {
    std::string scheme;                 ///< "memory", "file", "sqlite" or "redis"
    std::string path;                   ///< file: the directory; sqlite: the database file
    file_storage_options file;
    sqlite_storage_options sqlite;
    redis_storage_options redis;
    std::optional<std::string> prefix;  ///< the query's prefix=NS, never empty when set
};

/// Parses `uri` as open_storage() documents. Throws multisession::error(storage_errc::invalid_uri)
/// with the URI redacted (redact_uri) in the message, for the same inputs open_storage() refuses.
storage_location parse_storage_uri(std::string_view uri);

} // namespace multisession::detail
