#include "cli_files.hpp"

#include "cli_args.hpp"
#include "cli_output.hpp"

#include <array>
#include <cerrno>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace multisession::cli {
namespace {

constexpr std::size_t max_line = 256u << 20;

bool names_standard_stream(const std::optional<std::string>& file) { return !file || *file == "-"; }

[[noreturn]] void fail(const std::string& name, const std::string& what) {
    throw command_error(exit_store,
                        "'" + printable(name) + "': " + what + ": " + std::generic_category().message(errno));
}

} // namespace

line_writer::line_writer(const std::optional<std::string>& file) {
    if (names_standard_stream(file)) {
        name_ = "stdout";
        return;
    }
    name_ = *file;
    fd_ = ::open(name_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd_ < 0) fail(name_, "cannot create");
    owned_ = true;
    // An existing file keeps its mode through O_TRUNC: tighten it before anything is written.
    if (::fchmod(fd_, 0600) != 0) fail(name_, "cannot set mode 0600");
}

line_writer::~line_writer() {
    if (owned_ && fd_ >= 0) ::close(fd_);
}

void line_writer::write_line(const std::string& line) {
    buffer_ += line;
    buffer_ += '\n';
    if (buffer_.size() >= (1u << 16)) flush();
}

void line_writer::flush() {
    std::size_t done = 0;
    while (done < buffer_.size()) {
        const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(name_, "cannot write");
        done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
}

void line_writer::finish() {
    flush();
    if (!owned_) return;
    if (::fsync(fd_) != 0) fail(name_, "cannot sync");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail(name_, "cannot close");
}

line_reader::line_reader(const std::optional<std::string>& file) {
    if (names_standard_stream(file)) {
        name_ = "stdin";
    } else {
        name_ = *file;
        fd_ = ::open(name_.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) fail(name_, "cannot open");
        owned_ = true;
    }
    struct stat st {};
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) start_ = ::lseek(fd_, 0, SEEK_CUR);
}

line_reader::~line_reader() {
    if (owned_) ::close(fd_);
}

std::optional<std::string> line_reader::next() {
    for (;;) {
        if (const auto nl = buffer_.find('\n', used_); nl != std::string::npos) {
            std::string line = buffer_.substr(used_, nl - used_);
            used_ = nl + 1;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (eof_) {
            if (used_ >= buffer_.size()) return std::nullopt;
            std::string line = buffer_.substr(used_);
            used_ = buffer_.size();
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        buffer_.erase(0, used_);
        used_ = 0;
        if (buffer_.size() > max_line)
            throw command_error(exit_bad_input, "'" + printable(name_) + "': a line is longer than 256 MiB");
        std::array<char, 1 << 16> chunk{};
        const ssize_t n = ::read(fd_, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(name_, "cannot read");
        if (n == 0)
            eof_ = true;
        else
            buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    }
}

void line_reader::rewind() {
    if (::lseek(fd_, static_cast<off_t>(start_), SEEK_SET) < 0) fail(name_, "cannot read it again");
    buffer_.clear();
    used_ = 0;
    eof_ = false;
}

} // namespace multisession::cli
