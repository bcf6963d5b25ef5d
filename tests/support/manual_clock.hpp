// A clock that tests move by hand, shared by every store opened with it.
#pragma once

#include <multisession/storage.hpp>

#include <atomic>
#include <chrono>
#include <memory>

namespace multisession::test {

class manual_clock {
public:
    /// Starts at a fixed, realistic instant (2026-01-01T00:00:00Z) so expiries are plain numbers.
    manual_clock() : ms_(std::make_shared<std::atomic<std::int64_t>>(1767225600000)) {}

    [[nodiscard]] time_point now() const {
        return time_point(std::chrono::milliseconds(ms_->load()));
    }
    void advance(std::chrono::milliseconds by) { ms_->fetch_add(by.count()); }

    /// A clock_function reading this clock; copies share the same time.
    [[nodiscard]] clock_function function() const {
        return [ms = ms_] { return time_point(std::chrono::milliseconds(ms->load())); };
    }

private:
    std::shared_ptr<std::atomic<std::int64_t>> ms_;
};

} // namespace multisession::test
