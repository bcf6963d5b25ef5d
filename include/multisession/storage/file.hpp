// multisession — the file backend: one file per key under one directory.
#pragma once

#include <multisession/storage.hpp>

#include <filesystem>

namespace multisession {

/// Options of make_file_storage().
struct file_storage_options {
    /// Clock used for expiry. Empty: the system clock.
    clock_function clock;
    /// true (default): every write is fsync'ed, then its directory, before the call returns, so an
    /// acknowledged write survives a power loss. false: still atomic (never torn), only not synced.
    bool durable = true;
    /// Receives corrupt entries met while listing (they are skipped). Empty: one line to stderr.
    error_handler on_error;
};

/// A store in `directory` (created with mode 0700 if missing). Each key is one file (mode 0600)
/// whose name is derived from the key so that no key can name a path outside the directory.
/// Writes go to a temporary file that is synced and renamed into place, so a reader or a crash
/// sees the old or the new value, never a torn one. Several processes may share the directory:
/// writers take per-key locks on a lock file, so compare_and_set is atomic across processes.
/// Throws multisession::error (io_error) if the directory cannot be created or opened.
std::shared_ptr<storage> make_file_storage(const std::filesystem::path& directory,
                                           file_storage_options options = {});

} // namespace multisession
