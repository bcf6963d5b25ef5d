#include "storage/redis_connection.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

namespace multisession::detail {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

std::string milliseconds_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

/// The first word of an error reply ("WRONGTYPE", "ERR", ...), which is all that may be shown.
std::string_view error_code_word(const redisReply& reply) {
    std::string_view text = reply_text(reply);
    const auto end = text.find_first_of(" \r\n");
    text = text.substr(0, end);
    // A code word is short and upper case; anything else is not shown at all.
    if (text.empty() || text.size() > 32) return "ERR";
    for (const char c : text) {
        if (!((c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9'))) return "ERR";
    }
    return text;
}

} // namespace

std::string redis_endpoint::address() const {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

redis_connection::redis_connection(const redis_endpoint& endpoint, std::string_view where) : endpoint_(endpoint) {
    errno = 0;
    context_ = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, to_timeval(endpoint_.connect_timeout));
    const int saved_errno = errno;
    if (context_ == nullptr) throw std::bad_alloc();
    if (context_->err != 0) {
        std::string message(where);
        // hiredis reports a connect timeout as an I/O error with errno ETIMEDOUT.
        if (saved_errno == ETIMEDOUT || std::strstr(context_->errstr, "timed out") != nullptr) {
            message += ": no connection to redis at " + endpoint_.address() + " within " +
                       milliseconds_text(endpoint_.connect_timeout);
        } else {
            message += ": cannot connect to redis at " + endpoint_.address() + ": " + context_->errstr;
        }
        redisFree(context_);
        context_ = nullptr;
        throw error(storage_errc::unavailable, message);
    }
    try {
        // From here every read and write of the socket gives up after the command timeout.
        if (redisSetTimeout(context_, to_timeval(endpoint_.command_timeout)) != REDIS_OK)
            throw error(storage_errc::unavailable,
                        std::string(where) + ": cannot set the socket timeout for redis at " + endpoint_.address());
        // Keep-alive probes find a peer that vanished without closing (a network partition, a
        // crashed host) on connections that sit idle in the pool.
        redisEnableKeepAlive(context_);
        if (!endpoint_.password.empty()) {
            const std::string_view auth = "AUTH";
            redis_reply reply =
                endpoint_.user.empty()
                    ? command({auth, std::string_view(endpoint_.password)}, where)
                    : command({auth, std::string_view(endpoint_.user), std::string_view(endpoint_.password)}, where);
            if (reply->type == REDIS_REPLY_ERROR)
                throw error(storage_errc::invalid_configuration,
                            std::string(where) + ": redis at " + endpoint_.address() + " refused the credentials (" +
                                std::string(error_code_word(*reply)) + ")");
        }
        if (endpoint_.db != 0) {
            const std::string db = std::to_string(endpoint_.db);
            redis_reply reply = command({"SELECT", db}, where);
            if (reply->type == REDIS_REPLY_ERROR) {
                const std::string_view code = error_code_word(*reply);
                if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM") throw_reply_error(*reply, where);
                throw error(storage_errc::invalid_configuration,
                            std::string(where) + ": redis at " + endpoint_.address() + " has no database " + db);
            }
        }
    } catch (...) {
        redisFree(context_);
        context_ = nullptr;
        throw;
    }
}

redis_connection::~redis_connection() {
    if (context_ != nullptr) redisFree(context_);
}

redis_reply redis_connection::command(std::span<const std::string_view> args, std::string_view where) {
    if (broken_) throw error(storage_errc::unavailable, std::string(where) + ": the connection is broken");
    if (args.size() > static_cast<std::size_t>(INT_MAX))
        throw error(storage_errc::backend_error, std::string(where) + ": too many arguments");
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const auto arg : args) {
        argv.push_back(arg.data() != nullptr ? arg.data() : ""); // an empty view may have no data
        lengths.push_back(arg.size());
    }
    // hiredis formats and parses; the bytes are sent here with MSG_NOSIGNAL, because hiredis
    // writes with write(2), which raises SIGPIPE (fatal by default) on a connection the server has
    // closed, and a library must not change the process's signal dispositions.
    char* formatted = nullptr;
    const int length = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lengths.data());
    if (length < 0) throw std::bad_alloc();
    const std::unique_ptr<char, void (*)(char*)> owned(formatted, redisFreeCommand);
    for (std::size_t sent = 0; sent < static_cast<std::size_t>(length);) {
        const ssize_t n = ::send(context_->fd, formatted + sent, static_cast<std::size_t>(length) - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            const int saved_errno = errno;
            fail(saved_errno, REDIS_ERR_IO, std::strerror(saved_errno), where);
        }
        sent += static_cast<std::size_t>(n);
    }
    void* raw = nullptr;
    errno = 0;
    // With nothing in hiredis's own output buffer, this only reads (blocking, up to the timeout).
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
        const int saved_errno = errno;
        fail(saved_errno, context_->err, context_->errstr, where);
    }
    return redis_reply(static_cast<redisReply*>(raw));
}

void redis_connection::fail(int saved_errno, int kind, std::string_view reason, std::string_view where) {
    broken_ = true;
    std::string message(where);
    const std::string at = "redis at " + endpoint_.address();
    static constexpr std::string_view unknown_effect = "; the command may or may not have taken effect";
    if (kind == REDIS_ERR_IO && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
        // The socket timeouts (SO_RCVTIMEO / SO_SNDTIMEO) end a blocked read or write with EAGAIN.
        message += ": no answer from " + at + " within " + milliseconds_text(endpoint_.command_timeout);
    } else if (kind == REDIS_ERR_EOF || (kind == REDIS_ERR_IO && (saved_errno == EPIPE || saved_errno == ECONNRESET))) {
        message += ": " + at + " closed the connection";
    } else if (kind == REDIS_ERR_PROTOCOL) {
        throw error(storage_errc::backend_error,
                    message + ": malformed reply from " + at + std::string(unknown_effect));
    } else {
        message += ": connection to " + at + " failed (" + std::string(reason) + ")";
    }
    throw error(storage_errc::unavailable, message + std::string(unknown_effect));
}

bool redis_connection::stale() const noexcept {
    if (broken_ || context_ == nullptr || context_->err != 0) return true;
    // An idle RESP2 connection never has anything to read: readable means end of file (the server
    // went away) or a stray reply; either way the connection's state is not what we think.
    pollfd pfd{context_->fd, POLLIN, 0};
    return ::poll(&pfd, 1, 0) != 0;
}

void throw_reply_error(const redisReply& reply, std::string_view where) {
    const std::string_view code = error_code_word(reply);
    std::string message = std::string(where) + ": redis answered " + std::string(code);
    if (code == "WRONGTYPE")
        throw error(storage_errc::corrupt_record, message + " (the key holds a value that is not a string)");
    if (code == "LOADING" || code == "BUSY" || code == "MASTERDOWN" || code == "TRYAGAIN")
        throw error(storage_errc::unavailable, message + " (the server cannot serve commands right now)");
    if (code == "NOAUTH" || code == "WRONGPASS" || code == "NOPERM")
        throw error(storage_errc::invalid_configuration, message + " (check the user, password and ACL)");
    if (code == "READONLY")
        throw error(storage_errc::invalid_configuration, message + " (the server is a read-only replica)");
    throw error(storage_errc::backend_error, message);
}

} // namespace multisession::detail
