// migrate, export, import: entries between two stores, or between a store and JSON lines.
#include "cli_commands.hpp"
#include "cli_files.hpp"
#include "cli_import_line.hpp"
#include "cli_output.hpp"
#include "cli_records.hpp"

#include <multisession/storage/open.hpp>

#include <iomanip>
#include <iostream>

namespace multisession::cli {
namespace {

namespace sd = session_detail;
using ordered_json = nlohmann::ordered_json;


/// Lease keys are never carried: their expiry cannot be read through the storage API, and a lease
/// written without one would block that session's refreshes for good.
bool is_lease(std::string_view key) { return key.substr(0, sd::lease_prefix.size()) == sd::lease_prefix; }

std::size_t count_in_scope(storage& store, std::string_view prefix) {
    std::size_t n = 0;
    store.for_each_key(prefix, [&](std::string_view key) {
        if (!is_lease(key)) ++n;
    });
    return n;
}

// ---------------------------------------------------------------------------------------------
// migrate

struct migrate_counts {
    std::size_t seen = 0, copied = 0, unchanged = 0, overwritten = 0, conflicts = 0;
    std::size_t removed_from_source = 0, kept_at_source = 0;
};

} // namespace

int run_migrate(context& ctx) {
    ctx.require_no_positionals();
    if (ctx.args().has("store") || ctx.args().has("keys"))
        throw usage_error("migrate takes --from and --to (and --from-keys, --to-keys), not --store or --keys");
    const auto from = ctx.args().value("from");
    const auto to = ctx.args().value("to");
    if (!from || !to) throw usage_error("migrate needs --from URI and --to URI");
    if (*from == *to) throw usage_error("--from and --to name the same store");
    const std::string prefix = ctx.args().value("prefix").value_or("");
    const bool move = ctx.args().has("move");
    const bool overwrite = ctx.args().has("overwrite");

    auto source = ctx.open_store(*from, ctx.args().value("from-keys"), true);
    auto destination = ctx.open_store(*to, ctx.args().value("to-keys"), false);

    progress_bar bar("migrate", ctx.show_progress());
    if (bar.enabled()) bar.set_total(count_in_scope(*source, prefix));
    const std::size_t destination_before = move ? count_in_scope(*destination, prefix) : 0;

    migrate_counts n;
    auto report = [&](std::string_view key, const std::string& what) {
        bar.clear();
        print_error(ctx.command(), "'" + printable(key) + "': " + what);
    };
    source->for_each(prefix, [&](std::string_view key, std::string_view value) {
        if (is_lease(key)) return;
        bar.update(++n.seen);
        std::optional<std::string> existing;
        try {
            existing = destination->get(key);
        } catch (const error& e) {
            ++n.conflicts;
            return report(key, std::string("destination value cannot be read (") + code_name(e.code()) + "); kept");
        }
        if (existing == value) {
            ++n.unchanged;
        } else if (!existing) {
            if (!destination->compare_and_set(key, std::nullopt, value)) {
                ++n.conflicts;
                return report(key, "written at the destination meanwhile; kept");
            }
            ++n.copied;
        } else if (overwrite) {
            if (!destination->compare_and_set(key, existing, value)) {
                ++n.conflicts;
                return report(key, "changed at the destination meanwhile; kept");
            }
            ++n.overwritten;
        } else {
            ++n.conflicts;
            return report(key, "the destination holds a different value; kept (--overwrite replaces it)");
        }
        if (!move) return;
        // The source entry goes only once the destination is read back equal, and only if the
        // source still holds the value that was copied.
        if (destination->get(key) != value) {
            ++n.kept_at_source;
            return report(key, "the destination did not read back equal; the source entry is kept");
        }
        if (source->compare_and_set(key, value, std::nullopt)) {
            ++n.removed_from_source;
        } else {
            ++n.kept_at_source;
            report(key, "changed at the source meanwhile; the source entry is kept");
        }
    });
    bar.clear();

    const std::size_t source_after = count_in_scope(*source, prefix);
    const std::size_t destination_after = count_in_scope(*destination, prefix);
    // copy: the destination holds exactly the source's keys. move: the source keeps only what
    // could not be moved, and the destination gained exactly what was copied.
    const bool verified =
        move ? source_after == n.conflicts + n.kept_at_source && destination_after == destination_before + n.copied
             : source_after == destination_after;

    if (ctx.json()) {
        ordered_json o;
        o["mode"] = move ? "move" : "copy";
        o["prefix"] = json_text(prefix);
        o["entries"] = n.seen;
        o["copied"] = n.copied;
        o["unchanged"] = n.unchanged;
        o["overwritten"] = n.overwritten;
        o["conflicts"] = n.conflicts;
        if (move) {
            o["removed-from-source"] = n.removed_from_source;
            o["kept-at-source"] = n.kept_at_source;
            o["destination-keys-before"] = destination_before;
        }
        o["source-keys"] = source_after;
        o["destination-keys"] = destination_after;
        o["verified"] = verified;
        print_json(o);
    } else {
        std::cout << (move ? "moved " : "copied ") << n.copied << " entries, " << n.unchanged << " already there, "
                  << n.overwritten << " overwritten, " << n.conflicts << " conflicts\n";
        if (move) std::cout << "removed " << n.removed_from_source << " entries from the source\n";
        std::cout << "source: " << source_after << " keys in scope; destination: " << destination_after
                  << " keys in scope\n";
    }
    if (!verified) {
        print_error(ctx.command(), move ? "count mismatch: the source keeps " + std::to_string(source_after) +
                                              " keys and the destination holds " + std::to_string(destination_after) +
                                              ", expected " + std::to_string(n.conflicts + n.kept_at_source) + " and " +
                                              std::to_string(destination_before + n.copied)
                                        : "count mismatch: source " + std::to_string(source_after) +
                                              " keys, destination " + std::to_string(destination_after) + " keys");
        return exit_items_failed;
    }
    return ctx.exit_status(n.conflicts + n.kept_at_source > 0 ? exit_items_failed : exit_ok);
}

// ---------------------------------------------------------------------------------------------
// export

int run_export(context& ctx) {
    ctx.require_no_positionals();
    const bool raw = ctx.args().has("raw");
    if (raw && ctx.args().has("keys")) throw usage_error("--raw exports the stored bytes and takes no --keys");
    const auto file = ctx.args().value("output");
    const bool to_stdout = !file || *file == "-";
    if (ctx.json() && to_stdout)
        throw usage_error("--json needs -o FILE (the entries themselves go to stdout otherwise)");
    const std::string prefix = ctx.args().value("prefix").value_or("");

    auto store = raw ? ctx.open_store(ctx.store_uri(), std::nullopt, true) : ctx.open_store();
    const bool decrypted = !raw && ctx.keys_file().has_value();
    line_writer out(file);
    if (decrypted && !ctx.quiet())
        print_error(ctx.command(), std::string("the export holds decrypted values, secrets in clear") +
                                       (to_stdout ? "" : "; '" + printable(*file) + "' is created with mode 0600"));

    progress_bar bar("export", ctx.show_progress() && !to_stdout);
    std::size_t exported = 0;
    store->for_each(prefix, [&](std::string_view key, std::string_view value) {
        if (is_lease(key)) return;
        ordered_json line;
        if (is_utf8(key))
            line["key"] = std::string(key);
        else
            line["key_base64"] = base64_encode(key);
        if (is_utf8(value))
            line["value"] = std::string(value);
        else
            line["value_base64"] = base64_encode(value);
        out.write_line(line.dump());
        bar.update(++exported);
    });
    out.finish();
    bar.clear();
    if (!to_stdout) {
        if (ctx.json())
            print_json(ordered_json{{"exported", exported}, {"file", json_text(*file)}, {"decrypted", decrypted}});
        else
            std::cout << "exported " << exported << " entries to " << printable(*file) << '\n';
    }
    return ctx.exit_status(exit_ok);
}

// ---------------------------------------------------------------------------------------------
// import

int run_import(context& ctx) {
    ctx.require_no_positionals();
    const bool overwrite = ctx.args().has("overwrite");
    line_reader in(ctx.args().value("input"));
    const bool sealing = ctx.keys_file().has_value();
    auto store = ctx.open_store(false);

    // A file is checked whole first, so that a malformed line means nothing was written; a pipe
    // cannot be read twice and is imported up to its first malformed line.
    if (in.rewindable()) {
        std::size_t number = 0;
        while (auto line = in.next())
            (void)parse_import_line(*line, ++number, sealing);
        in.rewind();
    }
    progress_bar bar("import", ctx.show_progress());
    std::size_t number = 0, imported = 0, overwritten = 0, skipped = 0;
    try {
        while (auto line = in.next()) {
            auto entry = parse_import_line(*line, ++number, sealing);
            if (!entry) continue;
            bar.update(number);
            if (is_lease(entry->key)) {
                ++skipped;
                continue;
            }
            if (store->compare_and_set(entry->key, std::nullopt, entry->value)) {
                ++imported;
                continue;
            }
            if (!overwrite || store->get(entry->key) == entry->value) {
                ++skipped;
                continue;
            }
            store->set(entry->key, entry->value);
            ++overwritten;
        }
    } catch (const command_error& e) {
        bar.clear();
        throw command_error(e.code(), std::string(e.what()) + " (" + std::to_string(imported + overwritten) +
                                          " entries before it were imported)");
    }
    bar.clear();
    if (ctx.json()) {
        print_json(ordered_json{
            {"lines", number}, {"imported", imported}, {"overwritten", overwritten}, {"skipped", skipped}});
    } else {
        std::cout << "imported " << imported << " entries, overwritten " << overwritten << ", skipped " << skipped
                  << " (already present" << (overwrite ? "" : "; --overwrite replaces them") << ")\n";
    }
    return ctx.exit_status(exit_ok);
}

} // namespace multisession::cli
