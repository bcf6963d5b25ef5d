// One blocking connection to a Redis server through hiredis, with the timeouts, authentication
// and error mapping the Redis backend needs. Private to the library.
#pragma once

#include <multisession/error.hpp>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace multisession::detail {

/// Where and how to connect. Owned by the store; every connection points to it.
struct redis_endpoint {
    std::string host;
    std::uint16_t port = 6379;
    std::string user;
    std::string password;
    unsigned db = 0;
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};

    /// "host:port" (IPv6 addresses in brackets), for messages. Never includes credentials.
    [[nodiscard]] std::string address() const;
};

struct redis_reply_deleter {
    void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
/// A reply owned by the caller.
using redis_reply = std::unique_ptr<redisReply, redis_reply_deleter>;

/// A connected, authenticated socket with the database selected. Used by one thread at a time.
class redis_connection {
public:
    /// Connects within endpoint.connect_timeout, sets the command timeout on the socket, sends
    /// AUTH (if a password is set) and SELECT (if db is not 0). Throws multisession::error:
    /// unavailable (no connection or no answer), invalid_configuration (credentials refused,
    /// database out of range). `where` prefixes every message.
    redis_connection(const redis_endpoint& endpoint, std::string_view where);
    ~redis_connection();
    redis_connection(const redis_connection&) = delete;
    redis_connection& operator=(const redis_connection&) = delete;

    /// Sends one command (binary-safe arguments) and waits for its reply. A reply of type error is
    /// returned as such (see throw_reply_error). A failure of the connection itself — timeout,
    /// closed or reset by the server — marks this connection broken and throws
    /// multisession::error (unavailable) saying that the command's effect is unknown.
    redis_reply command(std::span<const std::string_view> args, std::string_view where);
    redis_reply command(std::initializer_list<std::string_view> args, std::string_view where) {
        return command(std::span<const std::string_view>(args.begin(), args.size()), where);
    }

    /// True once a command failed on the connection itself: it must not be used again.
    [[nodiscard]] bool broken() const noexcept { return broken_; }

    /// True if the server closed the connection (or sent anything) while it sat idle, as happens
    /// when the server restarts: checked without blocking before a pooled connection is reused.
    [[nodiscard]] bool stale() const noexcept;

private:
    /// Marks the connection broken and throws for a failure of kind `kind` (a REDIS_ERR_* code).
    [[noreturn]] void fail(int saved_errno, int kind, std::string_view reason, std::string_view where);

    const redis_endpoint& endpoint_;
    redisContext* context_ = nullptr;
    bool broken_ = false;
};

/// Throws the multisession::error that a reply of type error stands for: WRONGTYPE →
/// corrupt_record (the key holds something other than a string), LOADING / BUSY / MASTERDOWN /
/// TRYAGAIN → unavailable, NOAUTH / WRONGPASS / NOPERM → invalid_configuration, anything else
/// → backend_error. The message carries the error's code word only: Redis may echo arguments
/// (values) in the rest of an error.
[[noreturn]] void throw_reply_error(const redisReply& reply, std::string_view where);

/// The reply's string (status, bulk string or error text) as a view.
inline std::string_view reply_text(const redisReply& reply) noexcept {
    return reply.str != nullptr ? std::string_view(reply.str, reply.len) : std::string_view();
}

} // namespace multisession::detail
