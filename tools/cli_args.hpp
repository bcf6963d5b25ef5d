// The command line of the `multisession` tool: options, positionals, exit codes and the two
// exception types that end a command with a given exit code.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::cli {

/// The tool's exit codes; stable, documented in docs/cli.md.
enum exit_code : int {
    exit_ok = 0,
    exit_items_failed = 1, ///< the command ran, and some items failed (or were found corrupt)
    exit_usage = 2,        ///< the command line is wrong
    exit_store = 3,        ///< the store or a key ring cannot be opened, read or written
    exit_not_found = 4,    ///< the one session named (show, clear) does not exist
    exit_bad_input = 5,    ///< import: a malformed input line
};

/// A wrong command line: exit_usage, message printed as is.
class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Ends a command with `code` and a one-line message (never a secret).
class command_error : public std::runtime_error {
public:
    command_error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    [[nodiscard]] int code() const noexcept { return code_; }

private:
    int code_;
};

/// An option a command accepts: "--name" (and "-s" when short_name is set), with or without a
/// value ("--name VALUE" or "--name=VALUE").
struct option_spec {
    std::string_view name;
    bool takes_value = false;
    char short_name = '\0';
};

/// A parsed command line.
struct arguments {
    std::string command;
    std::vector<std::string> positionals;

    [[nodiscard]] bool has(std::string_view name) const { return flags.count(name) != 0 || values.count(name) != 0; }
    [[nodiscard]] std::optional<std::string> value(std::string_view name) const;

    std::set<std::string, std::less<>> flags;
    std::map<std::string, std::string, std::less<>> values;
};

/// The options every command accepts (--store, --keys, --json, --quiet, network options, --help).
const std::vector<option_spec>& global_options();

/// Parses argv: global options anywhere, the first other word is the command, the command's own
/// options after it, "--" ends the options. `command_options` gives a command's option table, or
/// null for an unknown command. Throws usage_error (unknown option, missing value, an option given
/// twice, an unknown command).
arguments parse_arguments(const std::vector<std::string>& argv,
                          const std::vector<option_spec>* (*command_options)(std::string_view command));

/// `text` as a positive integer no larger than `max`; throws usage_error naming `option`.
std::size_t parse_count(std::string_view option, std::string_view text, std::size_t max);

} // namespace multisession::cli
