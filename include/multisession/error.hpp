// multisession — errors.
//
// Every failure the library reports carries a std::error_code from one of its own categories.
// Blocking calls throw multisession::error (a std::system_error); asynchronous ones hand the code
// to their completion handler. Messages name keys, session ids and URIs with credentials removed;
// they never contain a stored value, a token, a secret or a private key.
#pragma once

#include <string>
#include <system_error>

namespace multisession {

/// Error conditions raised by the storage layer and its decorators.
enum class storage_errc {
    io_error = 1,         ///< the operating system refused a read, write, rename, sync or lock
    corrupt_record,       ///< a stored entry does not have the expected on-disk or envelope format
    busy,                 ///< the store stayed locked by another writer past its timeout
    invalid_key,          ///< empty or oversized key
    invalid_uri,          ///< open_storage() could not parse or does not know the URI
    decryption_failed,    ///< authentication tag mismatch: tampered, swapped between keys, or wrong key
    unknown_key_id,       ///< the envelope names an encryption key that is not in the key ring
    invalid_configuration,///< options that cannot work (bad key length, empty key ring, ...)
    backend_error,        ///< the database engine reported an error it did not classify
};

/// The category of storage_errc codes; its name() is "multisession.storage".
const std::error_category& storage_category() noexcept;

/// Makes storage_errc usable wherever a std::error_code is expected.
std::error_code make_error_code(storage_errc e) noexcept;

/// The one exception type of the library. Carries the code; what() is
/// "<context>: <code message>" and never contains a stored value or secret.
class error : public std::system_error {
public:
    error(std::error_code code, const std::string& context) : std::system_error(code, context) {}
};

} // namespace multisession

template <>
struct std::is_error_code_enum<multisession::storage_errc> : std::true_type {};
