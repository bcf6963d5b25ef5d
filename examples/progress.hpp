// A progress display for the demos: a bar redrawn in place on a terminal, and a line per quarter
// when the output goes to a pipe or a file, so logs stay short.
#pragma once

#include <cstddef>
#include <cstdio>
#include <mutex>
#include <string>
#include <utility>

#include <unistd.h>

namespace multisession::demo {

class progress {
public:
    progress(std::string label, std::size_t total)
        : label_(std::move(label)), total_(total), tty_(::isatty(STDOUT_FILENO) != 0) {}

    /// Reports `done` of the total; safe to call from several threads.
    void update(std::size_t done) {
        const std::lock_guard lock(mutex_);
        if (done <= shown_) return;
        if (tty_) {
            if (done != total_ && done - shown_ < step()) return;
            constexpr std::size_t width = 30;
            const std::size_t filled = total_ == 0 ? width : done * width / total_;
            std::printf("\r  %-11s [%s%s] %zu/%zu", label_.c_str(), std::string(filled, '#').c_str(),
                        std::string(width - filled, '.').c_str(), done, total_);
            if (done == total_) std::printf("\n");
            std::fflush(stdout);
        } else if (total_ > 0 && (done * 4 / total_ != shown_ * 4 / total_ || done == total_)) {
            std::printf("  %-11s %zu/%zu\n", label_.c_str(), done, total_);
            std::fflush(stdout);
        }
        shown_ = done;
    }

private:
    [[nodiscard]] std::size_t step() const { return total_ / 100 + 1; }

    std::mutex mutex_;
    std::string label_;
    std::size_t total_;
    bool tty_;
    std::size_t shown_ = 0;
};

} // namespace multisession::demo
