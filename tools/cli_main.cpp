// The `multisession` tool: inspect and maintain a session store from the command line. This file
// holds the command table, the help texts and the mapping of failures to exit codes; each command
// lives in its own function (cli_commands.hpp).
#include "cli_args.hpp"
#include "cli_commands.hpp"
#include "cli_output.hpp"

#include <multisession/error.hpp>

#include <csignal>
#include <iostream>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#ifndef MULTISESSION_VERSION
#define MULTISESSION_VERSION "unknown"
#endif

namespace multisession::cli {
namespace {

struct command_info {
    std::string_view name;
    std::string_view synopsis;
    std::string_view summary;
    std::vector<option_spec> options;
    std::string_view option_help;
    int (*run)(context&);
};

const std::vector<command_info>& commands() {
    static const std::vector<command_info> table{
        {"list", "list", "the ids of the stored sessions, one per line", {}, "", run_list},
        {"show",
         "show <id>",
         "one session record with its secrets redacted, and whether its refresh lease is held",
         {},
         "",
         run_show},
        {"refresh",
         "refresh <id>... | --all",
         "rehydrate sessions: redeem each refresh token at its provider and store the rotated one",
         {{"all", false}, {"concurrency", true}},
         "  --all                 every stored session\n"
         "  --concurrency N       sessions refreshed at once (default 64)\n",
         run_refresh},
        {"clear",
         "clear <id>... | --all [--yes]",
         "log sessions out and remove their records",
         {{"all", false}, {"yes", false}},
         "  --all                 every session, login state and lease, in one batch per prefix\n"
         "  --yes                 do not ask (needed with --all when stdin is not a terminal)\n",
         run_clear},
        {"prune",
         "prune [--dry-run] [--corrupt] [--pending-logins]",
         "remove what can never come back",
         {{"dry-run", false}, {"corrupt", false}, {"pending-logins", false}},
         "  --dry-run             count only, remove nothing\n"
         "  --corrupt             also remove records that do not parse (never values that fail to decrypt)\n"
         "  --pending-logins      also remove logins in progress (logged out, a code verifier, no token)\n",
         run_prune},
        {"migrate",
         "migrate --from URI --to URI [--move] [--overwrite] [--prefix P] [--from-keys F] [--to-keys F]",
         "copy (or move) every entry between two stores; resumable; verified by count",
         {{"from", true},
          {"to", true},
          {"move", false},
          {"overwrite", false},
          {"prefix", true},
          {"from-keys", true},
          {"to-keys", true}},
         "  --from URI, --to URI  the source and the destination (created if missing)\n"
         "  --from-keys FILE      key ring of an encrypted source\n"
         "  --to-keys FILE        key ring of an encrypted destination\n"
         "  --prefix P            only keys that start with P\n"
         "  --move                remove each source entry once the destination reads back equal\n"
         "  --overwrite           replace destination values that differ (default: report and keep)\n",
         run_migrate},
        {"export",
         "export [--raw] [--prefix P] [-o FILE]",
         "write every entry as a JSON line",
         {{"raw", false}, {"prefix", true}, {"output", true, 'o'}},
         "  --raw                 the stored bytes (sealed envelopes of an encrypted store), no key ring\n"
         "  --prefix P            only keys that start with P\n"
         "  -o, --output FILE     write to FILE (created with mode 0600) instead of stdout\n",
         run_export},
        {"import",
         "import [-i FILE] [--overwrite]",
         "store the entries of JSON lines written by export",
         {{"input", true, 'i'}, {"overwrite", false}},
         "  -i, --input FILE      read FILE instead of stdin\n"
         "  --overwrite           replace existing keys (default: keep them, counted as skipped)\n",
         run_import},
        {"stats", "stats", "counts of what the store holds", {}, "", run_stats},
    };
    return table;
}

const command_info* find_command(std::string_view name) {
    for (const auto& c : commands())
        if (c.name == name) return &c;
    return nullptr;
}

const std::vector<option_spec>* options_of(std::string_view name) {
    const auto* c = find_command(name);
    return c ? &c->options : nullptr;
}

constexpr std::string_view global_help =
    "Global options (every command):\n"
    "  --store URI           the store: memory:, file:/dir, sqlite:/file.db, each with ?prefix=NS\n"
    "                        (default: $MULTISESSION_STORE)\n"
    "  --keys FILE           key ring of an encrypted store (default: $MULTISESSION_KEYS_FILE)\n"
    "  --json                one JSON document on stdout\n"
    "  -q, --quiet           no progress bar and no notices\n"
    "  --ca-file PEM         CAs trusted for the providers (refresh)\n"
    "  --allow-insecure-loopback\n"
    "                        allow plain http:// providers on 127.0.0.1 / localhost (refresh)\n"
    "  --timeout SECONDS     total time allowed for one provider request (refresh)\n"
    "  -h, --help            help; --version: the version\n";

constexpr std::string_view exit_help =
    "Exit codes: 0 success, 1 some items failed, 2 usage error, 3 store or key ring unusable,\n"
    "            4 the one session named does not exist, 5 malformed import input.\n";

void print_tool_help() {
    std::cout << "multisession - inspect and maintain a store of OpenID Connect sessions\n\n"
              << "Usage: multisession <command> [options] [arguments]\n\nCommands:\n";
    for (const auto& c : commands()) {
        std::string name(c.name);
        name.resize(10, ' ');
        std::cout << "  " << name << c.summary << '\n';
    }
    std::cout << '\n'
              << global_help << '\n'
              << exit_help << "\n'multisession <command> --help' describes a command; docs/cli.md has the reference.\n";
}

void print_command_help(const command_info& c) {
    std::cout << "Usage: multisession " << c.synopsis << " [global options]\n\n" << c.summary << ".\n";
    if (!c.option_help.empty()) std::cout << "\nOptions:\n" << c.option_help;
    std::cout << '\n' << global_help << '\n' << exit_help;
}

int run(const std::vector<std::string>& argv) {
    arguments args;
    try {
        args = parse_arguments(argv, options_of);
    } catch (const usage_error& e) {
        print_error("", std::string(e.what()) + " (see multisession --help)");
        return exit_usage;
    }
    if (args.has("version")) {
        std::cout << "multisession " << MULTISESSION_VERSION << '\n';
        return exit_ok;
    }
    const command_info* command = find_command(args.command);
    if (args.has("help")) {
        if (command != nullptr)
            print_command_help(*command);
        else
            print_tool_help();
        return exit_ok;
    }
    if (command == nullptr) {
        print_error("", "no command given (see multisession --help)");
        return exit_usage;
    }

    context ctx(std::move(args));
    try {
        const int status = command->run(ctx);
        std::cout.flush();
        if (!std::cout) {
            print_error(command->name, "cannot write to stdout");
            return exit_store;
        }
        return status;
    } catch (const usage_error& e) {
        print_error(command->name,
                    std::string(e.what()) + " (see multisession " + std::string(command->name) + " --help)");
        return exit_usage;
    } catch (const command_error& e) {
        std::cout.flush();
        print_error(command->name, e.what());
        return e.code();
    } catch (const error& e) {
        // The library's messages name keys, ids and redacted URIs, never a value.
        std::cout.flush();
        print_error(command->name, e.what());
        return exit_store;
    } catch (const std::bad_alloc&) {
        print_error(command->name, "out of memory");
        return exit_store;
    } catch (const std::exception& e) {
        // File-system errors and the like: they name paths, not values.
        print_error(command->name, e.what());
        return exit_store;
    }
}

} // namespace
} // namespace multisession::cli

int main(int argc, char** argv) {
    std::ios::sync_with_stdio(false);
    // Writing to a closed pipe (`multisession list | head`) ends the output quietly, as for any
    // filter, rather than with an error message.
    std::signal(SIGPIPE, SIG_DFL);
    return multisession::cli::run(std::vector<std::string>(argv, argv + argc));
}
