// The key-ring file of the `multisession` tool: the AES-256 keys of an encrypted store.
//
//   # comment lines and blank lines are ignored
//   <key id> <32 bytes in base64 or base64url, padding optional>
//
// The first key seals new values (the current key); the others only open values sealed earlier.
// The file must not be accessible by others (no permission bit for "other"): it is refused.
#pragma once

#include <multisession/storage/encrypted.hpp>

#include <filesystem>

namespace multisession::cli {

/// A key ring read from a file; its key bytes are wiped when it is destroyed.
class key_ring {
public:
    /// Reads `file`. Throws command_error(exit_store) naming the file and the line for a file that
    /// cannot be read, is accessible by others, or is malformed; never shows key material.
    explicit key_ring(const std::filesystem::path& file);
    ~key_ring();
    key_ring(const key_ring&) = delete;
    key_ring& operator=(const key_ring&) = delete;

    /// The options for open_storage (a copy: the library wipes its own).
    [[nodiscard]] const encryption_options& options() const noexcept { return options_; }

private:
    encryption_options options_;
};

} // namespace multisession::cli
