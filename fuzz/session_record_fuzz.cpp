// Stored session records (the JSON of "solidClientAuthenticationUser:<id>"), Inrupt's state
// records and the registered-sessions index: whatever another writer or a damaged store left.
#include "fuzz_target.hpp"

#include "session/session_record.hpp"

#include <multisession/error.hpp>

#include <algorithm>
#include <string>

using namespace multisession;
using namespace multisession::session_detail;
using multisession::fuzz::fuzz_check;

FUZZ_TARGET(session_record) {
    try {
        const auto record = parse_session_record("fuzz-session", input);
        // What this library writes, it reads back as the same record.
        std::string text;
        try {
            text = serialize_session_record(record);
        } catch (const multisession::error& e) {
            // Only a value that is not UTF-8 cannot be written back as JSON.
            fuzz_check(e.code() == storage_errc::corrupt_record, "serialize fails only with corrupt_record");
            text.clear();
        }
        if (!text.empty())
            fuzz_check(parse_session_record("fuzz-session", text) == record, "a written record reads back the same");
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == storage_errc::corrupt_record, "a bad record is reported as corrupt_record");
    }

    if (const auto id = state_record_session_id(input)) fuzz_check(!id->empty(), "a state record names a session");

    try {
        const std::optional<std::string> text{std::string(input)};
        (void)parse_session_index(text);
        const auto grown = index_with(text, "fuzz-session");
        const auto back = parse_session_index(grown);
        fuzz_check(std::find(back.begin(), back.end(), "fuzz-session") != back.end(), "index_with adds the id");
        const auto shrunk = parse_session_index(index_without(grown, "fuzz-session"));
        fuzz_check(std::find(shrunk.begin(), shrunk.end(), "fuzz-session") == shrunk.end(), "index_without removes the id");
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == storage_errc::corrupt_record, "a bad index is reported as corrupt_record");
    }
}
