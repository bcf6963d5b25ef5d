#include "cli_keyring.hpp"

#include "cli_args.hpp"
#include "cli_output.hpp"

#include <openssl/crypto.h>

#include <cerrno>
#include <set>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace multisession::cli {
namespace {

constexpr std::size_t max_file_size = 1 << 20;

void wipe(std::string& bytes) noexcept {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
    bytes.clear();
}

/// Wipes a string when the scope ends, whatever happens.
class wipe_on_exit {
public:
    explicit wipe_on_exit(std::string& bytes) noexcept : bytes_(bytes) {}
    ~wipe_on_exit() { wipe(bytes_); }
    wipe_on_exit(const wipe_on_exit&) = delete;
    wipe_on_exit& operator=(const wipe_on_exit&) = delete;

private:
    std::string& bytes_;
};

/// Closes a descriptor.
class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& why) {
    throw command_error(exit_store, "key ring '" + printable(file.string()) + "': " + why);
}

/// The whole file, after checking that it is a regular file nobody else may access.
std::string read_private_file(const std::filesystem::path& file) {
    const fd_guard fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) fail(file, std::generic_category().message(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) fail(file, std::generic_category().message(errno));
    if (!S_ISREG(st.st_mode)) fail(file, "not a regular file");
    if ((st.st_mode & S_IRWXO) != 0)
        fail(file, "accessible by other users (mode " + std::to_string((st.st_mode >> 6) & 7) +
                       std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
                       "); restrict it, e.g. chmod 600");
    if (static_cast<std::size_t>(st.st_size) > max_file_size) fail(file, "larger than 1 MiB");
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            wipe(text);
            fail(file, std::generic_category().message(errno));
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    return text;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

} // namespace

key_ring::key_ring(const std::filesystem::path& file) {
    std::string text = read_private_file(file);
    const wipe_on_exit wipe_text(text);
    std::set<std::string> ids;
    std::size_t line_number = 0;
    std::size_t start = 0;
    try {
        while (start < text.size()) {
            auto end = text.find('\n', start);
            if (end == std::string::npos) end = text.size();
            const std::string_view line(text.data() + start, end - start);
            start = end + 1;
            ++line_number;
            const std::string where = "line " + std::to_string(line_number) + ": ";

            std::size_t i = 0;
            while (i < line.size() && is_space(line[i]))
                ++i;
            if (i == line.size() || line[i] == '#') continue;
            std::size_t id_end = i;
            while (id_end < line.size() && !is_space(line[id_end]))
                ++id_end;
            std::size_t key_start = id_end;
            while (key_start < line.size() && is_space(line[key_start]))
                ++key_start;
            std::size_t key_end = key_start;
            while (key_end < line.size() && !is_space(line[key_end]))
                ++key_end;
            std::size_t rest = key_end;
            while (rest < line.size() && is_space(line[rest]))
                ++rest;
            if (key_start == key_end || rest != line.size())
                fail(file, where + "expected '<key id> <base64 of 32 bytes>'");

            std::string id(line.substr(i, id_end - i));
            if (id.size() > 255) fail(file, where + "key id longer than 255 bytes");
            if (!ids.insert(id).second) fail(file, where + "key id '" + printable(id, 64) + "' given twice");
            auto bytes = base64_decode(line.substr(key_start, key_end - key_start));
            if (!bytes) fail(file, where + "the key is not base64");
            if (bytes->size() != 32) {
                const auto size = bytes->size();
                wipe(*bytes);
                fail(file, where + "the key is " + std::to_string(size) + " bytes, expected 32");
            }
            if (options_.keys.empty()) options_.current_key_id = id;
            options_.keys.push_back({std::move(id), std::move(*bytes)});
        }
    } catch (...) {
        for (auto& key : options_.keys)
            wipe(key.bytes);
        throw;
    }
    if (options_.keys.empty()) fail(file, "no key in the file");
}

key_ring::~key_ring() {
    for (auto& key : options_.keys)
        wipe(key.bytes);
}

} // namespace multisession::cli
