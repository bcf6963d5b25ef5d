// Line-oriented input and output files of export and import: an output created with mode 0600
// (it may hold secrets), an input read line by line that can be read twice when it is a file.
#pragma once

#include <optional>
#include <string>

namespace multisession::cli {

/// Lines written to stdout ("-" or no name) or to a file created (or truncated) with mode 0600.
class line_writer {
public:
    /// Throws command_error(exit_store) naming the file when it cannot be created.
    explicit line_writer(const std::optional<std::string>& file);
    ~line_writer();
    line_writer(const line_writer&) = delete;
    line_writer& operator=(const line_writer&) = delete;

    void write_line(const std::string& line);
    /// Writes what is buffered and, for a file, syncs and closes it. Throws command_error.
    void finish();
    [[nodiscard]] bool is_file() const noexcept { return owned_; }

private:
    void flush();

    std::string name_;
    int fd_ = 1;
    bool owned_ = false;
    std::string buffer_;
};

/// Lines read from stdin ("-" or no name) or a file.
class line_reader {
public:
    /// Throws command_error(exit_store) naming the file when it cannot be opened.
    explicit line_reader(const std::optional<std::string>& file);
    ~line_reader();
    line_reader(const line_reader&) = delete;
    line_reader& operator=(const line_reader&) = delete;

    /// The next line without its "\n" (and "\r"), or nullopt at the end. Throws command_error for
    /// a read error or a line longer than 256 MiB.
    std::optional<std::string> next();
    /// Whether the input can be read again from its start (a regular file, also as stdin).
    [[nodiscard]] bool rewindable() const noexcept { return start_ >= 0; }
    /// Starts over from the beginning; only when rewindable().
    void rewind();

private:
    std::string name_;
    int fd_ = 0;
    bool owned_ = false;
    long long start_ = -1;
    std::string buffer_;
    std::size_t used_ = 0;
    bool eof_ = false;
};

} // namespace multisession::cli
