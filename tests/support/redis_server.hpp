// A redis-server of the tests' own: started on 127.0.0.1 on a free port, without persistence
// unless asked, with its files in a temporary directory; stopped by its PID and reaped when the
// object dies. Plus a raw hiredis client, to look at what Redis holds without going through the
// store under test.
#pragma once

#include "support/temp_dir.hpp"

#include <hiredis/hiredis.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace multisession::test {

/// A plain hiredis connection to 127.0.0.1:port. Throws std::runtime_error if it cannot connect
/// or the connection fails.
class redis_client {
public:
    struct reply_deleter {
        void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
    };
    using reply = std::unique_ptr<redisReply, reply_deleter>;

    explicit redis_client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                         static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        context_ = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (context_ == nullptr || context_->err != 0) {
            const std::string why = context_ != nullptr ? context_->errstr : "out of memory";
            if (context_ != nullptr) redisFree(context_);
            throw std::runtime_error("cannot connect to redis on port " + std::to_string(port) + ": " + why);
        }
        redisSetTimeout(context_, tv);
    }
    ~redis_client() { redisFree(context_); }
    redis_client(const redis_client&) = delete;
    redis_client& operator=(const redis_client&) = delete;

    /// One command, binary-safe arguments.
    reply command(const std::vector<std::string>& args) {
        std::vector<const char*> argv;
        std::vector<std::size_t> lengths;
        for (const auto& a : args) {
            argv.push_back(a.data());
            lengths.push_back(a.size());
        }
        auto* raw = static_cast<redisReply*>(
            redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
        if (raw == nullptr) throw std::runtime_error(std::string("redis command failed: ") + context_->errstr);
        return reply(raw);
    }

    /// The integer reply of a command (PTTL, EXISTS, DBSIZE, ...).
    long long integer(const std::vector<std::string>& args) {
        auto r = command(args);
        if (r->type != REDIS_REPLY_INTEGER) throw std::runtime_error("redis: not an integer reply to " + args[0]);
        return r->integer;
    }

    /// The bulk or status reply of a command as a string; nullopt for nil.
    std::optional<std::string> text(const std::vector<std::string>& args) {
        auto r = command(args);
        if (r->type == REDIS_REPLY_NIL) return std::nullopt;
        if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("redis error: " + std::string(r->str, r->len));
        if (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS)
            throw std::runtime_error("redis: not a string reply to " + args[0]);
        return std::string(r->str, r->len);
    }

private:
    redisContext* context_ = nullptr;
};

/// A redis-server child process.
///
/// The child gets PR_SET_PDEATHSIG = SIGKILL, so it dies with the thread that started it even if
/// the test binary crashes or is killed before its destructors run; start servers from the main
/// thread. The program is $MULTISESSION_REDIS_SERVER, else redis-server from PATH; without it the
/// constructor throws, so the test fails saying what to install (nothing is skipped).
class redis_server {
public:
    /// Starts a server with `extra_args` appended to the defaults (no RDB snapshots, no AOF, bound
    /// to 127.0.0.1): `{"--appendonly", "yes"}` overrides the default. Files go to a new
    /// temporary directory.
    explicit redis_server(std::vector<std::string> extra_args = {}) : extra_args_(std::move(extra_args)) {
        program_ = find_program();
        std::string failures;
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_port();
            if (try_start(failures)) return;
        }
        throw std::runtime_error("redis-server did not start: " + failures);
    }

    ~redis_server() { stop(SIGKILL); }
    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    /// Sends `signal` to the server and reaps it (SIGKILL: a crash; SIGTERM: a clean shutdown).
    void stop(int signal = SIGKILL) {
        if (pid_ <= 0) return;
        ::kill(pid_, signal);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
    }

    /// Starts the server again on the same port, with the same arguments and directory (so an
    /// append-only file is loaded back); returns once it answers PING.
    void restart() {
        stop(SIGKILL);
        std::string failures;
        // The port was ours a moment ago; a second try covers a slow release of the socket.
        for (int attempt = 0; attempt < 3; ++attempt) {
            if (try_start(failures)) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_) + ": " + failures);
    }

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }
    /// redis://127.0.0.1:<port>/<db>
    [[nodiscard]] std::string uri(unsigned db = 0) const {
        return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
    }

    /// Empties every database of the server.
    void flush_all() const {
        redis_client client(port_);
        client.command({"FLUSHALL", "SYNC"});
    }

private:
    static std::string find_program() {
        if (const char* configured = std::getenv("MULTISESSION_REDIS_SERVER"); configured && *configured)
            return configured;
        const char* path = std::getenv("PATH");
        std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
        std::string dir;
        while (std::getline(dirs, dir, ':')) {
            const auto candidate = std::filesystem::path(dir.empty() ? "." : dir) / "redis-server";
            if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
        }
        throw std::runtime_error(
            "redis-server was not found on PATH: the Redis tests need it (Debian package redis-server, "
            "installed by ./run.sh deps), or set MULTISESSION_REDIS_SERVER to its path");
    }

    /// A port the kernel just handed out on 127.0.0.1 and took back: free unless someone takes it
    /// in between, which the start then notices (the server exits, or another process answers).
    static std::uint16_t free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) throw std::runtime_error("socket() failed");
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = 0;
        socklen_t size = sizeof address;
        if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
            ::close(fd);
            throw std::runtime_error("cannot find a free port on 127.0.0.1");
        }
        ::close(fd);
        return ntohs(address.sin_port);
    }

    bool try_start(std::string& failures) {
        const std::string log = (dir_ / "redis.log").string();
        std::vector<std::string> args = {program_, "--port", std::to_string(port_), "--bind",    "127.0.0.1",
                                         "--save", "",       "--appendonly",        "no",        "--daemonize",
                                         "no",     "--dir",  dir_.path().string(),  "--logfile", log};
        args.insert(args.end(), extra_args_.begin(), extra_args_.end());
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);

        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            // Only async-signal-safe calls between fork and exec.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) ::_exit(126);
            const int null = ::open("/dev/null", O_RDWR);
            if (null >= 0) {
                ::dup2(null, STDIN_FILENO);
                ::dup2(null, STDOUT_FILENO);
                ::dup2(null, STDERR_FILENO);
            }
            // The test's own sockets and pipes are not the server's business.
            ::close_range(3, ~0U, 0);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        pid_ = pid;
        if (wait_ready()) return true;
        stop(SIGKILL);
        failures += "[port " + std::to_string(port_) + ": " + log_tail(log) + "] ";
        return false;
    }

    /// True once this server (not some other process on the port) answers PING; false if it
    /// exited or stayed silent for 20 s.
    bool wait_ready() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            try {
                redis_client client(port_, std::chrono::milliseconds(500));
                auto pong = client.command({"PING"});
                if (pong->type == REDIS_REPLY_STATUS && std::string_view(pong->str, pong->len) == "PONG") {
                    const auto info = client.text({"INFO", "server"});
                    if (info && info->find("process_id:" + std::to_string(pid_) + "\r\n") != std::string::npos)
                        return true;
                }
            } catch (const std::exception&) {
                // Not listening yet, or still loading its data.
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return false;
    }

    static std::string log_tail(const std::string& log) {
        std::ifstream in(log);
        std::string line;
        std::string last;
        while (std::getline(in, line)) {
            if (!line.empty()) last = line;
        }
        return last.empty() ? "no log" : last;
    }

    std::string program_;
    std::vector<std::string> extra_args_;
    temp_dir dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// The server shared by every Redis fixture of one test binary: started on first use, stopped
/// when the binary exits. Fixtures empty it before use.
inline redis_server& shared_redis_server() {
    static redis_server server;
    return server;
}

} // namespace multisession::test
