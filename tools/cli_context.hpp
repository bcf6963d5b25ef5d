// What every command of the `multisession` tool starts from: its parsed command line, how to open
// the store it names (with its key ring), the session manager's network options, and a count of
// problems the store reported while listing.
#pragma once

#include "cli_args.hpp"

#include <multisession/session.hpp>
#include <multisession/storage.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::cli {

/// Problems a store met where there was no caller to throw to (an entry that cannot be decrypted,
/// a corrupt file, met while listing): each is printed as an error line unless `silent`, and
/// counted, so that the command can end with exit_items_failed.
struct store_problems {
    std::string command;
    bool silent = false;
    std::atomic<std::size_t> count{0};
};

/// Whether a value is an envelope of the encrypted decorator ("MSE1" ...): a sealed value read
/// without the key ring.
bool looks_sealed(std::string_view value) noexcept;

class context {
public:
    explicit context(arguments args);

    [[nodiscard]] const arguments& args() const noexcept { return args_; }
    [[nodiscard]] const std::string& command() const noexcept { return args_.command; }
    [[nodiscard]] bool json() const noexcept { return json_; }
    [[nodiscard]] bool quiet() const noexcept { return quiet_; }
    /// A progress bar is drawn only on a terminal, and never with --quiet or --json.
    [[nodiscard]] bool show_progress() const noexcept;
    /// Throws usage_error when the command was given positional arguments (it takes none).
    void require_no_positionals() const;
    [[nodiscard]] const std::shared_ptr<store_problems>& problems() const noexcept { return problems_; }

    /// --store, else MULTISESSION_STORE; throws usage_error when neither is set.
    [[nodiscard]] std::string store_uri() const;
    /// --keys, else MULTISESSION_KEYS_FILE, else none.
    [[nodiscard]] std::optional<std::string> keys_file() const;

    /// Opens the store named by --store with the key ring of --keys. `must_exist`: a file: or
    /// sqlite: location that does not exist is an error instead of a new, empty store. Throws
    /// command_error(exit_store).
    [[nodiscard]] std::shared_ptr<storage> open_store(bool must_exist = true) const;
    /// Opens any store the same way (migrate's two stores).
    [[nodiscard]] std::shared_ptr<storage> open_store(const std::string& uri, const std::optional<std::string>& keys,
                                                      bool must_exist) const;

    /// A session manager's options for `store`: --ca-file, --allow-insecure-loopback, --timeout;
    /// Inrupt's registered-sessions index is kept up to date when the store has one.
    [[nodiscard]] session_manager_options manager_options(std::shared_ptr<storage> store) const;

    /// Ends the command with exit_items_failed if the store reported problems.
    [[nodiscard]] int exit_status(int status) const noexcept;

private:
    arguments args_;
    bool json_;
    bool quiet_;
    std::shared_ptr<store_problems> problems_;
};

} // namespace multisession::cli
