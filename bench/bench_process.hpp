// What the benchmarks measure about their own process: elapsed time, CPU time (the process's and
// one thread's), and the threads it runs. Linux only (/proc).
#pragma once

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

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

/// CPU time of the whole process, in seconds: in user space and in the kernel.
struct cpu_times {
    double user = 0;
    double system = 0;
    double total() const { return user + system; }
    cpu_times operator-(const cpu_times& o) const { return {user - o.user, system - o.system}; }
};

inline cpu_times process_cpu_times() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
    return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

/// User + system CPU time of the whole process, in seconds.
inline double process_cpu_seconds() { return process_cpu_times().total(); }

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

constexpr double mib = 1024.0 * 1024.0;

/// The process's peak resident set (ru_maxrss), in MiB.
inline double peak_rss_mib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_maxrss) / 1024.0; // KiB on Linux
}

/// The resident set now (/proc/self/statm), in bytes.
inline double current_rss_bytes() {
    std::ifstream statm("/proc/self/statm");
    unsigned long long size = 0, resident = 0;
    statm >> size >> resident;
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

/// Hands the allocator's free memory back to the system, so that resident-set figures show live
/// memory rather than what an earlier run freed and the allocator kept.
inline void release_free_memory() {
#ifdef __GLIBC__
    ::malloc_trim(0);
#endif
}

/// Bytes the allocator has handed out and not got back (every arena): unlike the resident set, it
/// falls when memory is freed, so it shows what a step keeps. nullopt where unknown.
inline std::optional<double> heap_in_use_bytes() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    const auto info = ::mallinfo2();
    return static_cast<double>(info.uordblks + info.hblkhd);
#else
    return std::nullopt;
#endif
}

} // namespace multisession::bench
