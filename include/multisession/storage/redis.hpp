// multisession — the Redis backend: one store shared by many server nodes.
#pragma once

#include <multisession/storage.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace multisession {

/// Options of make_redis_storage().
struct redis_storage_options {
    /// Host name or IP address of the Redis server (IPv4 is tried first). Default: 127.0.0.1.
    std::string host = "127.0.0.1";
    /// TCP port. Default: 6379.
    std::uint16_t port = 6379;
    /// ACL user name (Redis 6 and later). Empty: the default user. Needs `password`.
    std::string user;
    /// Password sent with AUTH on every new connection. Empty: no AUTH. Never appears in a message.
    std::string password;
    /// Logical database, selected on every new connection. Default: 0.
    unsigned db = 0;
    /// Longest wait for a TCP connection to be established. Default: 2 s.
    std::chrono::milliseconds connect_timeout{2000};
    /// Longest wait for each read or write of a command and its reply. A command that gets no
    /// answer in time fails with storage_errc::unavailable and its connection is dropped.
    /// Default: 2 s.
    std::chrono::milliseconds command_timeout{2000};
    /// Most connections kept open by this store (at most 1024 are used); threads beyond that wait
    /// for a free one, at most connect_timeout + command_timeout. Default: 8.
    std::size_t pool_size = 8;
    /// Slots SCAN examines per step (its COUNT) when listing or removing by prefix: larger means
    /// fewer round trips over a large keyspace, each holding the server a little longer (at most
    /// 100 000 are used). Default: 1000.
    std::size_t scan_count = 1000;
    /// Clock used for expiry. Empty: the system clock, and each expiry is given to Redis as that
    /// very instant. An injected clock need not follow real time, so its instants are shifted onto
    /// Redis's clock by the difference between the two measured when the store is made.
    clock_function clock;
};

/// A store in a Redis server (7.0 or later): each entry is a plain Redis string under its own key,
/// so other programs can read and write the same entries with GET and SET. Expiry is native
/// (PXAT), and an entry is also invisible as soon as the store's clock reaches its expiry.
/// compare_and_set is one Lua script, atomic across every process and node using the server.
/// Listing uses SCAN, never KEYS. Connections come from a bounded pool; a connection that fails
/// is dropped and the next call opens a new one, but the call that was in flight fails.
/// Safe to use from many threads and by many processes at once.
///
/// Connects once before returning, so a wrong address, password or database is reported here.
/// Throws multisession::error: unavailable (no connection, or no answer within the timeouts),
/// invalid_configuration (bad options, authentication refused, unknown database), backend_error
/// (a server older than 7.0).
std::shared_ptr<storage> make_redis_storage(redis_storage_options options = {});

} // namespace multisession
