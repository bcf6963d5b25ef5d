// Running the `multisession` tool as a child process with its stdout, stderr and exit code
// captured (through files), its stdin from a given text, and an environment without the tool's
// own variables unless a test sets them.
#pragma once

#include "../support/temp_dir.hpp"

#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace multisession::test {

/// The tool built beside the tests (meson passes its path in the environment).
inline std::string cli_path() {
    const char* path = std::getenv("MULTISESSION_CLI");
    if (path == nullptr || *path == '\0') throw std::runtime_error("MULTISESSION_CLI is not set");
    return path;
}

struct cli_result {
    int exit_code = -1;
    std::string out;
    std::string err;
};

struct cli_run_options {
    /// Text on the child's stdin (a regular file); unset: /dev/null.
    std::optional<std::string> input{};
    /// Give `input` through a pipe instead (at most 64 KiB: written before the child reads).
    bool input_as_pipe = false;
    /// Variables added to the environment (MULTISESSION_STORE and MULTISESSION_KEYS_FILE are
    /// removed from the inherited one).
    std::vector<std::pair<std::string, std::string>> env{};
    /// A descriptor to use as the child's stderr instead of a capture file (a pseudo-terminal).
    int stderr_fd = -1;
};

class cli_runner {
public:
    cli_runner() : path_(cli_path()) {}

    cli_result run(const std::vector<std::string>& args, const cli_run_options& options = {}) {
        const std::string stem = (dir_.path() / ("run" + std::to_string(++runs_))).string();
        const bool piped = options.input && options.input_as_pipe;
        const std::string in_path = options.input && !piped ? stem + ".in" : "/dev/null";
        if (options.input && !piped) std::ofstream(in_path, std::ios::binary) << *options.input;
        std::array<int, 2> pipe_fds{-1, -1};
        if (piped && ::pipe(pipe_fds.data()) != 0) throw std::runtime_error("pipe failed");

        std::vector<std::string> argv{path_};
        argv.insert(argv.end(), args.begin(), args.end());
        std::vector<char*> c_argv;
        for (auto& a : argv)
            c_argv.push_back(a.data());
        c_argv.push_back(nullptr);

        std::vector<std::string> env;
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string entry(*e);
            if (entry.rfind("MULTISESSION_STORE=", 0) == 0 || entry.rfind("MULTISESSION_KEYS_FILE=", 0) == 0) continue;
            env.push_back(entry);
        }
        for (const auto& [name, value] : options.env)
            env.push_back(name + "=" + value);
        std::vector<char*> c_env;
        for (auto& e : env)
            c_env.push_back(e.data());
        c_env.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        if (piped) {
            posix_spawn_file_actions_adddup2(&actions, pipe_fds[0], STDIN_FILENO);
            posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
            posix_spawn_file_actions_addclose(&actions, pipe_fds[1]);
        } else {
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in_path.c_str(), O_RDONLY, 0);
        }
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, (stem + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
        if (options.stderr_fd >= 0)
            posix_spawn_file_actions_adddup2(&actions, options.stderr_fd, STDERR_FILENO);
        else
            posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, (stem + ".err").c_str(),
                                             O_WRONLY | O_CREAT | O_TRUNC, 0600);
        pid_t pid = -1;
        const int rc = ::posix_spawn(&pid, path_.c_str(), &actions, nullptr, c_argv.data(), c_env.data());
        posix_spawn_file_actions_destroy(&actions);
        if (piped) {
            // Written while this process still holds the read end, so that a child that ends
            // without reading cannot make the write raise SIGPIPE here.
            if (rc == 0) {
                const std::string& text = *options.input;
                for (std::size_t done = 0; done < text.size();) {
                    const ssize_t n = ::write(pipe_fds[1], text.data() + done, text.size() - done);
                    if (n <= 0) break;
                    done += static_cast<std::size_t>(n);
                }
            }
            ::close(pipe_fds[0]);
            ::close(pipe_fds[1]);
        }
        if (rc != 0) throw std::runtime_error("cannot start " + path_);
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) throw std::runtime_error("waitpid failed");
        }
        cli_result result;
        result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        result.out = read_file(stem + ".out");
        if (options.stderr_fd < 0) result.err = read_file(stem + ".err");
        return result;
    }

private:
    static std::string read_file(const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    std::string path_;
    temp_dir dir_;
    int runs_ = 0;
};

} // namespace multisession::test
