#include "oidc_provider_process.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace multisession::test {

namespace {

using clock_type = std::chrono::steady_clock;

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Both ends close-on-exec: a provider started later must not inherit the pipes of an earlier one,
// or the earlier one would not see its stdin end when this process dies.
std::pair<int, int> cloexec_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    return {fds[0], fds[1]};
}

// Reaps `pid` if it has ended; true when it has.
bool reaped(pid_t pid, int& status) {
    return ::waitpid(pid, &status, WNOHANG) == pid;
}

std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "ended";
}

} // namespace

std::string interop_webid(std::string_view account_id) {
    // encodeURIComponent's rules, as provider.mjs applies them.
    static constexpr std::string_view unescaped = "-_.!~*'()";
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string encoded;
    for (const char c : account_id) {
        const auto u = static_cast<unsigned char>(c);
        if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
            unescaped.find(c) != std::string_view::npos) {
            encoded += c;
        } else {
            encoded += '%';
            encoded += hex[u >> 4];
            encoded += hex[u & 0xF];
        }
    }
    return "https://pod.example/" + encoded + "/profile/card#me";
}

std::filesystem::path interop_dir() {
    const char* dir = std::getenv("MULTISESSION_INTEROP_DIR");
    if (dir == nullptr || *dir == '\0') throw std::runtime_error("MULTISESSION_INTEROP_DIR is not set");
    return dir;
}

bool interop_available() {
    const char* dir = std::getenv("MULTISESSION_INTEROP_DIR");
    if (dir == nullptr || *dir == '\0') return false;
    std::error_code ec;
    return std::filesystem::is_regular_file(std::filesystem::path(dir) / "node_modules/oidc-provider/package.json", ec);
}

oidc_provider_process::oidc_provider_process(oidc_provider_options options) : options_(std::move(options)) {
    const auto dir = interop_dir();
    if (!interop_available()) {
        throw std::runtime_error("oidc-provider is not installed in " + (dir / "node_modules").string() +
                                 ": install it with `./run.sh deps` (or `npm ci` in " + dir.string() + ")");
    }

    std::vector<std::string> argv{"node", (dir / "provider.mjs").string(), "0", "--watch-stdin"};
    if (options_.tls) {
        const auto cert = dir_ / "provider-cert.pem";
        const auto key = dir_ / "provider-key.pem";
        write_pem_file(cert, options_.tls->cert_pem);
        write_pem_file(key, options_.tls->key_pem);
        argv.insert(argv.end(), {"--cert", cert.string(), "--key", key.string()});
    }
    if (options_.require_dpop_nonce) argv.emplace_back("--dpop-nonce");
    if (options_.client_secret_post_only) argv.emplace_back("--post-only");
    if (options_.access_token_ttl)
        argv.insert(argv.end(), {"--access-ttl", std::to_string(options_.access_token_ttl->count())});

    auto [in_read, in_write] = cloexec_pipe();
    auto [out_read, out_write] = cloexec_pipe();
    const std::string err_path = (dir_ / "provider-stderr.log").string();

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out_write, STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, "node", &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in_read);
    ::close(out_write);
    stdin_ = in_write;
    stdout_ = out_read;
    if (rc != 0) {
        pid_ = -1;
        close_fd(stdin_);
        close_fd(stdout_);
        throw std::runtime_error(std::string("cannot start node (is it on PATH?): ") + std::strerror(rc));
    }

    // Wait for "READY <port>". End of output means the child died; its stderr says why.
    std::string buffer;
    const auto give_up = clock_type::now() + options_.start_timeout;
    std::string failure;
    for (;;) {
        if (const auto nl = buffer.find('\n'); nl != std::string::npos) {
            const std::string line = buffer.substr(0, nl);
            unsigned port = 0;
            if (line.rfind("READY ", 0) == 0 && (port = static_cast<unsigned>(std::atoi(line.c_str() + 6))) > 0 &&
                port <= 65535) {
                port_ = static_cast<std::uint16_t>(port);
                break;
            }
            failure = "unexpected first line \"" + line + "\"";
            break;
        }
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - clock_type::now());
        if (left.count() <= 0) {
            failure = "no READY line within " + std::to_string(options_.start_timeout.count()) + " ms";
            break;
        }
        pollfd pfd{stdout_, POLLIN, 0};
        const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue; // the deadline check above ends the loop
        char chunk[256];
        const ssize_t n = ::read(stdout_, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            // The output ended: the child is exiting; give it a moment so its status is known.
            int status = 0;
            bool ended = false;
            for (int i = 0; i < 50 && !(ended = reaped(pid_, status)); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            failure = ended ? describe_status(status) : "closed its output";
            if (ended) pid_ = -1;
            break;
        }
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
    if (!failure.empty()) {
        stop();
        throw std::runtime_error("oidc-provider did not start (" + failure + "); its stderr:\n" + stderr_tail());
    }
    issuer_ = std::string(options_.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

oidc_provider_process::~oidc_provider_process() { stop(); }

void oidc_provider_process::stop() noexcept {
    if (pid_ > 0) {
        int status = 0;
        if (!reaped(pid_, status)) {
            ::kill(pid_, SIGTERM);
            const auto give_up = clock_type::now() + options_.stop_timeout;
            while (!reaped(pid_, status)) {
                if (clock_type::now() >= give_up) {
                    ::kill(pid_, SIGKILL);
                    ::waitpid(pid_, &status, 0);
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
        pid_ = -1;
    }
    close_fd(stdin_);
    close_fd(stdout_);
}

std::string oidc_provider_process::stderr_tail(std::size_t max_bytes) const {
    std::string text = read_file(dir_ / "provider-stderr.log");
    if (text.size() > max_bytes) text.erase(0, text.size() - max_bytes);
    return text.empty() ? "(empty)" : text;
}

std::string oidc_provider_process::mint_refresh_token(http::transport& transport, std::string_view client_id,
                                                      std::string_view account_id,
                                                      const std::optional<std::string>& dpop_jkt,
                                                      std::chrono::milliseconds timeout) const {
    nlohmann::json body{{"client_id", client_id}, {"account_id", account_id}};
    if (dpop_jkt) body["dpop_jkt"] = *dpop_jkt;
    http::request req{"POST", issuer_ + "/test/mint", {{"Content-Type", "application/json"}}, body.dump()};

    // Shared with the callback: after a timeout it may still run, and must find the promise alive.
    auto result = std::make_shared<std::promise<std::pair<std::error_code, http::response>>>();
    auto answer = result->get_future();
    transport.async_send(std::move(req), [result](std::error_code ec, http::response res) {
        result->set_value({ec, std::move(res)});
    });
    if (answer.wait_for(timeout) != std::future_status::ready) {
        throw std::runtime_error("minting a refresh token: no answer within " + std::to_string(timeout.count()) + " ms");
    }
    auto [ec, res] = answer.get();
    if (ec) throw std::runtime_error("minting a refresh token: " + ec.message());
    if (res.status != 200) {
        throw std::runtime_error("minting a refresh token: status " + std::to_string(res.status) + ": " + res.body +
                                 "\nprovider stderr:\n" + stderr_tail());
    }
    const auto reply = nlohmann::json::parse(res.body, nullptr, false);
    if (!reply.is_object() || !reply.contains("refresh_token") || !reply["refresh_token"].is_string()) {
        throw std::runtime_error("minting a refresh token: unexpected answer " + res.body);
    }
    return reply["refresh_token"].get<std::string>();
}

} // namespace multisession::test
