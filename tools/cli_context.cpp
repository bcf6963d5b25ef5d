#include "cli_context.hpp"

#include "cli_keyring.hpp"
#include "cli_output.hpp"

#include "session/session_record.hpp"

#include <multisession/storage/open.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>

namespace multisession::cli {
namespace {

std::optional<std::string> environment(const char* name) {
    // Read on the main thread before anything starts another one.
    const char* value = std::getenv(name); // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// The file or directory a file: or sqlite: URI names, as open_storage() reads it; nullopt for
/// other schemes or a URI it would refuse anyway (it then reports the problem itself).
std::optional<std::filesystem::path> location_of(std::string_view uri) {
    std::string_view rest;
    if (uri.rfind("file:", 0) == 0)
        rest = uri.substr(5);
    else if (uri.rfind("sqlite:", 0) == 0)
        rest = uri.substr(7);
    else
        return std::nullopt;
    rest = rest.substr(0, rest.find_first_of("?#"));
    if (rest.substr(0, 2) == "//") {
        rest.remove_prefix(2);
        const auto slash = rest.find('/');
        if (slash == std::string_view::npos) return std::nullopt;
        rest = rest.substr(slash);
    }
    std::string path;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] != '%') {
            path += rest[i];
            continue;
        }
        if (i + 2 >= rest.size() || hex_value(rest[i + 1]) < 0 || hex_value(rest[i + 2]) < 0) return std::nullopt;
        path += static_cast<char>(hex_value(rest[i + 1]) * 16 + hex_value(rest[i + 2]));
        i += 2;
    }
    if (path.empty()) return std::nullopt;
    return std::filesystem::path(path);
}

} // namespace

bool looks_sealed(std::string_view value) noexcept { return value.substr(0, 4) == "MSE1"; }

context::context(arguments args)
    : args_(std::move(args)), json_(args_.has("json")), quiet_(args_.has("quiet")),
      problems_(std::make_shared<store_problems>()) {
    problems_->command = args_.command;
}

bool context::show_progress() const noexcept { return !json_ && !quiet_ && stderr_is_terminal(); }

void context::require_no_positionals() const {
    if (!args_.positionals.empty())
        throw usage_error("unexpected argument '" + printable(args_.positionals.front(), 40) + "'");
}

std::string context::store_uri() const {
    if (auto uri = args_.value("store")) return *uri;
    if (auto uri = environment("MULTISESSION_STORE")) return *uri;
    throw usage_error("no store: give --store URI or set MULTISESSION_STORE");
}

std::optional<std::string> context::keys_file() const {
    if (auto file = args_.value("keys")) return file;
    return environment("MULTISESSION_KEYS_FILE");
}

std::shared_ptr<storage> context::open_store(bool must_exist) const {
    return open_store(store_uri(), keys_file(), must_exist);
}

std::shared_ptr<storage> context::open_store(const std::string& uri, const std::optional<std::string>& keys,
                                             bool must_exist) const {
    const std::string shown = printable(redact_uri(uri));
    if (must_exist) {
        if (auto location = location_of(uri); location && !std::filesystem::exists(*location))
            throw command_error(exit_store, "store '" + shown + "' does not exist");
    }
    open_storage_options options;
    std::optional<key_ring> ring;
    if (keys) {
        ring.emplace(*keys);
        options.encryption = ring->options();
    }
    options.on_error = [problems = problems_](const error& e) {
        ++problems->count;
        if (!problems->silent) print_error(problems->command, e.what());
    };
    try {
        return open_storage(uri, std::move(options));
    } catch (const error& e) {
        // open_storage's messages name the URI (redacted) or the path already, never a value.
        if (e.code() == storage_errc::invalid_uri) throw command_error(exit_store, e.what());
        throw command_error(exit_store, "cannot open store '" + shown + "': " + e.what());
    }
}

session_manager_options context::manager_options(std::shared_ptr<storage> store) const {
    session_manager_options options;
    options.threads = 0;
    if (auto ca = args_.value("ca-file")) options.ca_file = *ca;
    options.allow_insecure_loopback = args_.has("allow-insecure-loopback");
    if (auto text = args_.value("timeout")) {
        const auto seconds = std::chrono::seconds(parse_count("timeout", *text, std::size_t{24} * 3600));
        options.total_timeout = seconds;
        options.connect_timeout = std::min<std::chrono::milliseconds>(options.connect_timeout, seconds);
        options.read_timeout = std::min<std::chrono::milliseconds>(options.read_timeout, seconds);
        // A refresh lease must outlast two token requests (the DPoP nonce retry).
        options.lease_duration = std::max(options.lease_duration, 2 * seconds + std::chrono::seconds(15));
    }
    // Keep Inrupt's index up to date only where there is one that can be read: a store without an
    // index does not get one, and one that cannot be decrypted or parsed is left alone.
    try {
        const auto index = store->get(session_detail::registered_sessions_key);
        options.maintain_registered_sessions_index = index.has_value();
        (void)session_detail::parse_session_index(index);
    } catch (const error&) {
        options.maintain_registered_sessions_index = false;
    }
    options.store = std::move(store);
    return options;
}

int context::exit_status(int status) const noexcept {
    if (status == exit_ok && problems_->count > 0) return exit_items_failed;
    return status;
}

} // namespace multisession::cli
