// multisession — the encrypted decorator: values sealed with AES-256-GCM.
#pragma once

#include <multisession/storage.hpp>

#include <string>
#include <vector>

namespace multisession {

/// One AES-256 key and the id recorded in every value it seals.
struct encryption_key {
    std::string id;    ///< 1..255 bytes, stored in clear in each envelope so the right key is found
    std::string bytes; ///< exactly 32 bytes of key material
};

/// Options of make_encrypted_storage().
struct encryption_options {
    /// Every key that may have sealed a stored value. Keep retired keys here until reencrypt() has
    /// rewritten everything sealed with them.
    std::vector<encryption_key> keys;
    /// The id of the key that seals new values; must be one of `keys`.
    std::string current_key_id;
};

/// A view of `inner` in which every value is sealed with AES-256-GCM: a fresh random 96-bit nonce
/// per write, and the entry's key as associated data, so a value moved to another key fails to
/// open. Keys (entry names) stay in clear so that enumeration works. compare_and_set compares
/// plaintexts. Reading a tampered value, a value sealed under another key name, or one sealed with
/// a key that is not in the ring throws multisession::error (decryption_failed / unknown_key_id)
/// naming the entry's key; enumeration reports such entries to the error handler and skips them.
/// Throws multisession::error (invalid_configuration) for a bad key ring.
std::shared_ptr<storage> make_encrypted_storage(std::shared_ptr<storage> inner, encryption_options options);

/// Rewrites every entry under `prefix` of a store made by make_encrypted_storage() that is sealed
/// with a key other than the current one; returns how many were rewritten. Each rewrite is a
/// compare_and_set, so concurrent writers are never overwritten. Throws multisession::error
/// (invalid_configuration) if `store` is not an encrypted store.
std::size_t reencrypt(storage& store, std::string_view prefix = {});

/// 32 bytes from the operating system's cryptographic random generator, for encryption_key::bytes.
std::string generate_encryption_key();

} // namespace multisession
