// refresh, clear: sessions through the library's session API, with its rotation safety and its
// index maintenance.
#include "cli_commands.hpp"
#include "cli_output.hpp"
#include "cli_records.hpp"

#include <multisession/session.hpp>
#include <multisession/storage/open.hpp>

#include <algorithm>
#include <iomanip>
#include <iostream>

namespace multisession::cli {
namespace {

using ordered_json = nlohmann::ordered_json;

/// Ids from the command line, or --all; exactly one of the two.
void check_ids_or_all(const context& ctx) {
    const bool all = ctx.args().has("all");
    const bool ids = !ctx.args().positionals.empty();
    if (all && ids) throw usage_error("give session ids or --all, not both");
    if (!all && !ids) throw usage_error("give session ids or --all");
}

/// The outcome of one id, printed as it comes (a table line, or one element of a JSON array).
class outcome_printer {
public:
    explicit outcome_printer(bool json) : json_(json) {
        if (json_) std::cout << "{\"results\":[";
    }

    /// `detail` replaces the code's generic message when there is a better one.
    void add(const std::string& id, std::string_view outcome, std::error_code error = {}, std::string detail = {}) {
        if (error && detail.empty()) detail = error.message();
        if (json_) {
            ordered_json o{{"id", json_text(id)}, {"outcome", outcome}};
            if (error) {
                o["error"] = code_name(error);
                o["message"] = detail;
            }
            std::cout << (first_ ? "\n" : ",\n") << dump(o);
        } else {
            std::cout << std::left << std::setw(11) << outcome << ' ' << shown_id(id);
            if (error) std::cout << ": " << detail << " (" << code_name(error) << ")";
            std::cout << '\n';
        }
        first_ = false;
    }

    /// Ends the JSON document with `totals`, or prints them as one line.
    void finish(const std::vector<std::pair<std::string, std::size_t>>& totals, std::size_t all) {
        if (json_) {
            ordered_json t;
            t["sessions"] = all;
            for (const auto& [name, count] : totals)
                t[name] = count;
            std::cout << (first_ ? "]" : "\n]") << ",\"totals\":" << dump(t) << "}\n";
            return;
        }
        std::cout << all << (all == 1 ? " session" : " sessions");
        const char* separator = ": ";
        for (const auto& [name, count] : totals) {
            std::string label = name;
            std::replace(label.begin(), label.end(), '-', ' ');
            std::cout << separator << count << ' ' << label;
            separator = ", ";
        }
        std::cout << '\n';
    }

private:
    bool json_;
    bool first_ = true;
};

/// What is wrong with a record the session layer found corrupt: the batch gives the code only.
/// The parser's message names the id and the field, never a value.
std::string corrupt_detail(storage& store, const std::string& id) {
    try {
        const auto text = store.get(session_detail::record_key(id));
        if (!text) return "stored entry is corrupt";
        const auto c = classify_record(id, *text);
        if (c.kind == record_kind::corrupt) return c.problem;
        if (c.kind == record_kind::session && c.record.dpop)
            return "the record says DPoP but its key pair is missing or unusable";
    } catch (const error& e) {
        return e.what();
    }
    return "stored entry is corrupt";
}

/// Ids are rehydrated in slices, so that a store of millions never holds every session at once.
constexpr std::size_t slice_size = 4096;

} // namespace

int run_refresh(context& ctx) {
    check_ids_or_all(ctx);
    const std::size_t concurrency =
        ctx.args().value("concurrency") ? parse_count("concurrency", *ctx.args().value("concurrency"), 100000) : 64;
    auto store = ctx.open_store();
    session_manager manager(ctx.manager_options(store));
    const bool explicit_ids = !ctx.args().has("all");
    const std::vector<std::string> ids =
        explicit_ids ? ctx.args().positionals : manager.get_session_id_from_storage_all();

    progress_bar bar("refresh", ctx.show_progress());
    bar.set_total(ids.size());
    outcome_printer out(ctx.json());
    std::size_t ok = 0, logged_out = 0, not_found = 0, failed = 0;
    for (std::size_t base = 0; base < ids.size(); base += slice_size) {
        const std::vector<std::string> slice(ids.begin() + static_cast<std::ptrdiff_t>(base),
                                             ids.begin() +
                                                 static_cast<std::ptrdiff_t>(std::min(ids.size(), base + slice_size)));
        batch_options options;
        options.concurrency = concurrency;
        options.progress = [&bar, base](std::size_t done, std::size_t) { bar.update(base + done); };
        const auto results = manager.rehydrate(slice, options);
        bar.clear();
        for (const auto& r : results) {
            if (r.error) {
                ++failed;
                out.add(r.session_id, "error", r.error,
                        r.error == storage_errc::corrupt_record ? corrupt_detail(*store, r.session_id) : std::string());
            } else if (!r.value) {
                ++not_found;
                out.add(r.session_id, "not-found");
            } else if (r.value->is_logged_in()) {
                ++ok;
                out.add(r.session_id, "ok");
            } else {
                ++logged_out;
                out.add(r.session_id, "logged-out");
            }
        }
    }
    bar.clear();
    out.finish({{"ok", ok}, {"logged-out", logged_out}, {"not-found", not_found}, {"failed", failed}}, ids.size());
    if (explicit_ids && ids.size() == 1 && not_found == 1) return exit_not_found;
    return ctx.exit_status(failed > 0 || (explicit_ids && not_found > 0) ? exit_items_failed : exit_ok);
}

namespace {

/// clear --all asks on a terminal; elsewhere it needs --yes (a script must never hang on a prompt).
void confirm_clear_all(const context& ctx) {
    if (ctx.args().has("yes")) return;
    if (!stdin_is_terminal())
        throw usage_error("--all removes every session: add --yes (stdin is not a terminal, so there is no prompt)");
    std::cerr << "Remove every session, login state and lease from '" << printable(redact_uri(ctx.store_uri()))
              << "'? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes")
        throw command_error(exit_items_failed, "cancelled, nothing removed");
}

int clear_all(context& ctx) {
    auto store = ctx.open_store();
    confirm_clear_all(ctx);
    const auto result = clear_session_from_storage_all(store);
    if (ctx.json()) {
        print_json(ordered_json{{"sessions", result.session_ids.size()}, {"entries-removed", result.entries_removed}});
    } else {
        std::cout << "removed " << result.session_ids.size() << " sessions (" << result.entries_removed
                  << " entries: records, login states, leases)\n";
    }
    return ctx.exit_status(exit_ok);
}

int clear_ids(context& ctx) {
    const auto& ids = ctx.args().positionals;
    auto store = ctx.open_store();
    session_manager manager(ctx.manager_options(store));
    progress_bar bar("clear", ctx.show_progress());
    bar.set_total(ids.size());
    outcome_printer out(ctx.json());
    std::size_t removed = 0, not_found = 0, failed = 0, done = 0;
    for (const auto& id : ids) {
        get_session_options options;
        options.refresh_session = false;
        try {
            auto s = manager.get_session_from_storage(id, options);
            bar.clear();
            if (s) {
                s->logout();
                ++removed;
                out.add(id, "removed");
            } else {
                ++not_found;
                out.add(id, "not-found");
            }
        } catch (const error& e) {
            bar.clear();
            ++failed;
            out.add(id, "error", e.code(), e.what());
        }
        bar.update(++done);
    }
    bar.clear();
    out.finish({{"removed", removed}, {"not-found", not_found}, {"failed", failed}}, ids.size());
    if (ids.size() == 1 && not_found == 1) return exit_not_found;
    return ctx.exit_status(failed + not_found > 0 ? exit_items_failed : exit_ok);
}

} // namespace

int run_clear(context& ctx) {
    check_ids_or_all(ctx);
    return ctx.args().has("all") ? clear_all(ctx) : clear_ids(ctx);
}

} // namespace multisession::cli
