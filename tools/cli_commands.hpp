// The commands of the `multisession` tool: one function each, returning the exit code. They throw
// usage_error for a wrong command line, command_error for a failure that ends the command, and let
// multisession::error escape for store failures (the caller maps it to exit_store).
#pragma once

#include "cli_context.hpp"

namespace multisession::cli {

// Reading (cli_inspect.cpp)
int run_list(context& ctx);
int run_show(context& ctx);
int run_stats(context& ctx);

// Sessions through the session API (cli_sessions.cpp)
int run_refresh(context& ctx);
int run_clear(context& ctx);

// Maintenance (cli_prune.cpp)
int run_prune(context& ctx);

// Moving entries between stores and files (cli_transfer.cpp)
int run_migrate(context& ctx);
int run_export(context& ctx);
int run_import(context& ctx);

} // namespace multisession::cli
