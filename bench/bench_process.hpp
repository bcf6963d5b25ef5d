// What the benchmarks measure about their own process: elapsed time, CPU time (the process's and
// one thread's), and the threads it runs. Linux only (/proc).
#pragma once

#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>

namespace multisession::bench {

using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// User + system CPU time of the whole process, in seconds.
inline double process_cpu_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
    return sec(ru.ru_utime) + sec(ru.ru_stime);
}

/// The kernel's ids of this process's threads (/proc/self/task).
inline std::set<long> thread_ids() {
    std::set<long> ids;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
        try {
            ids.insert(std::stol(entry.path().filename().string()));
        } catch (...) {
            // not a task directory
        }
    }
    return ids;
}

/// CPU time of one thread of this process: the first field of schedstat is nanoseconds on a CPU.
inline std::optional<double> thread_cpu_seconds(long tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/schedstat");
    unsigned long long ns = 0;
    if (!(in >> ns)) return std::nullopt;
    return static_cast<double>(ns) * 1e-9;
}

} // namespace multisession::bench
