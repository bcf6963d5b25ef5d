// One line of an export file (`multisession export`), as `multisession import` reads it:
// a JSON object with exactly one of "key" / "key_base64" and one of "value" / "value_base64".
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace multisession::cli {

struct import_entry {
    std::string key, value;
};

/// The entry on `line` (line `number` of the input), or nullopt for a blank line. `sealing`: the
/// target store seals values, so a value that is already an encryption envelope is refused.
/// Throws command_error(exit_bad_input) naming the line number and the problem, never any content.
std::optional<import_entry> parse_import_line(const std::string& line, std::size_t number, bool sealing);

} // namespace multisession::cli
