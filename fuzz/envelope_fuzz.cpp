// Encrypted entries (the "MSE1" envelope of make_encrypted_storage): bytes stored under an entry,
// read back through the encrypted view - tampered, truncated, sealed under another key or id.
#include "fuzz_target.hpp"

#include <multisession/error.hpp>
#include <multisession/storage/encrypted.hpp>
#include <multisession/storage/memory.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

namespace {

// Two fixed test keys (they protect nothing), so seed envelopes made with them open.
struct fixture {
    std::shared_ptr<storage> inner = make_memory_storage();
    std::shared_ptr<storage> sealed;

    fixture() {
        encryption_options options;
        options.keys = {{"fuzz-1", std::string(32, '\x11')}, {"fuzz-2", std::string(32, '\x22')}};
        options.current_key_id = "fuzz-2";
        sealed = make_encrypted_storage(inner, std::move(options));
        // Enumeration reports entries it cannot open to the handler and goes on.
        sealed->set_error_handler([](const multisession::error&) {});
    }
};

fixture& the_fixture() {
    static fixture f;
    return f;
}

bool is_entry_error(const std::error_code& code) {
    return code == storage_errc::corrupt_record || code == storage_errc::decryption_failed ||
           code == storage_errc::unknown_key_id;
}

} // namespace

FUZZ_TARGET(envelope) {
    auto& f = the_fixture();
    f.inner->set("entry", input);
    try {
        const auto value = f.sealed->get("entry");
        fuzz_check(value.has_value(), "a stored entry is found");
        // It opened: sealing it again under the current key must give a value that opens the same.
        f.sealed->set("entry", *value);
        fuzz_check(f.sealed->get("entry") == value, "a re-sealed value reads back the same");
    } catch (const multisession::error& e) {
        fuzz_check(is_entry_error(e.code()), "a bad envelope is corrupt, undecryptable or of an unknown key");
    }
    std::size_t listed = 0;
    f.sealed->for_each_key("", [&](std::string_view) { ++listed; return true; });
    fuzz_check(listed <= 1, "one entry at most is listed");
}
