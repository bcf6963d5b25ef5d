// Starting the storage worker (or any program) as a child process, reading its output line by
// line, and making sure it is gone when the test ends: the destructor kills and reaps it by PID.
#pragma once

#include <csignal>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace multisession::test {

class child_process {
public:
    explicit child_process(const std::vector<std::string>& argv) {
        int fds[2];
        if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        posix_spawn_file_actions_addclose(&actions, fds[1]);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        const int rc = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(fds[1]);
        if (rc != 0) {
            ::close(fds[0]);
            throw std::runtime_error("cannot start " + argv[0]);
        }
        out_ = fds[0];
    }

    ~child_process() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        if (out_ >= 0) ::close(out_);
    }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// The next line the child writes to stdout (without '\n'), or "" at end of output or after
    /// `timeout_ms` without a complete line.
    std::string read_line(int timeout_ms = 60'000) {
        for (;;) {
            if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
                std::string line = buffer_.substr(0, nl);
                buffer_.erase(0, nl + 1);
                return line;
            }
            pollfd pfd{out_, POLLIN, 0};
            if (::poll(&pfd, 1, timeout_ms) <= 0) return {};
            char chunk[4096];
            const ssize_t n = ::read(out_, chunk, sizeof chunk);
            if (n <= 0) return {};
            buffer_.append(chunk, static_cast<std::size_t>(n));
        }
    }

    /// The child's process id.
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    /// Sends `signal_number` (e.g. SIGTERM for an orderly shutdown); false when it could not be sent.
    bool signal(int signal_number) { return pid_ > 0 && ::kill(pid_, signal_number) == 0; }

    /// Sends SIGKILL (a crash the child cannot intercept) and reaps it.
    void kill_hard() {
        ::kill(pid_, SIGKILL);
        (void)wait();
    }

    /// Waits for the child to end; its exit code, or 128 + signal number.
    int wait() {
        int status = 0;
        if (::waitpid(pid_, &status, 0) != pid_) throw std::runtime_error("waitpid failed");
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string buffer_;
};

/// The storage worker built beside the tests (meson passes its path in the environment).
inline std::string storage_worker_path() {
    const char* path = std::getenv("MULTISESSION_STORAGE_WORKER");
    if (path == nullptr || *path == '\0') throw std::runtime_error("MULTISESSION_STORAGE_WORKER is not set");
    return path;
}

} // namespace multisession::test
