// multisession — the in-memory backend.
#pragma once

#include <multisession/storage.hpp>

namespace multisession {

/// Options of make_memory_storage().
struct memory_storage_options {
    /// Clock used for expiry. Empty: the system clock.
    clock_function clock;
};

/// A store held in this process's memory: fast, thread-safe, gone when the process exits, not
/// shared between processes. Keys enumerate in byte order.
std::shared_ptr<storage> make_memory_storage(memory_storage_options options = {});

} // namespace multisession
