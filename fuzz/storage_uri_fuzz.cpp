// Storage URIs (open_storage), as configuration files and environment variables give them, and
// their redaction for logs.
#include "fuzz_target.hpp"

#include "storage/storage_uri.hpp"

#include <multisession/error.hpp>
#include <multisession/storage/open.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

FUZZ_TARGET(storage_uri) {
    const auto redacted = redact_uri(input);
    fuzz_check(redact_uri(redacted) == redacted, "redaction is idempotent");
    try {
        const auto location = detail::parse_storage_uri(input);
        fuzz_check(location.scheme == "memory" || location.scheme == "file" || location.scheme == "sqlite" ||
                       location.scheme == "redis",
                   "a parsed URI names a backend");
        fuzz_check(!location.prefix || !location.prefix->empty(), "a prefix is never empty");
        if (location.scheme == "file" || location.scheme == "sqlite")
            fuzz_check(!location.path.empty() && location.path.find('\0') == std::string::npos, "a path is usable");
        if (location.scheme == "redis") {
            fuzz_check(!location.redis.host.empty() && location.redis.port != 0, "a redis URI names a host and port");
            // A password given in the URI never shows in its redacted form.
            if (!location.redis.password.empty())
                fuzz_check(redacted.find(":***@") != std::string::npos, "the redacted URI hides the password");
        }
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == storage_errc::invalid_uri, "a bad URI is invalid_uri");
    }
}
