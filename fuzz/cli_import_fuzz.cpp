// Lines of an export file as `multisession import` reads them (tools/cli_import_line.cpp): the
// file may come from anywhere, and a bad line must stop the import with a clear message.
#include "fuzz_target.hpp"

#include "../tools/cli_args.hpp"
#include "../tools/cli_import_line.hpp"

#include <multisession/storage.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

FUZZ_TARGET(cli_import) {
    const std::string line(input);
    for (const bool sealing : {false, true}) {
        try {
            const auto entry = cli::parse_import_line(line, 7, sealing);
            if (!entry) {
                fuzz_check(line.find_first_not_of(" \t") == std::string::npos, "only a blank line is skipped");
                continue;
            }
            fuzz_check(!entry->key.empty() && entry->key.size() <= storage::max_key_size, "an imported key has a valid size");
            if (sealing) fuzz_check(entry->value.substr(0, 4) != "MSE1", "a sealed value is refused when sealing");
        } catch (const cli::command_error& e) {
            fuzz_check(e.code() == cli::exit_bad_input, "a bad line is exit_bad_input");
            fuzz_check(std::string_view(e.what()).starts_with("line 7: "), "the message names the line");
        }
    }
}
