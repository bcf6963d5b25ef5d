// prune: removes what can never come back, in bounded batches, each removal a compare-and-set
// against the value that was judged (a record rewritten meanwhile is kept).
#include "cli_commands.hpp"
#include "cli_output.hpp"
#include "cli_records.hpp"

#include <chrono>
#include <iomanip>
#include <iostream>
#include <unordered_set>

namespace multisession::cli {
namespace {

namespace sd = session_detail;
using ordered_json = nlohmann::ordered_json;

enum class dead_kind { logged_out, expired_client, orphan_state, corrupt };

struct prune_counts {
    std::size_t logged_out = 0, expired_client = 0, orphan_states = 0, index_orphans = 0;
    std::optional<std::size_t> expired_entries; ///< unknown in a dry run (expired entries are invisible)
    std::size_t corrupt_removed = 0, pending_logins_kept = 0, sealed = 0, unreadable = 0, changed = 0;
    std::vector<std::string> corrupt_ids;

    std::size_t& of(dead_kind kind) {
        switch (kind) {
        case dead_kind::logged_out:
            return logged_out;
        case dead_kind::expired_client:
            return expired_client;
        case dead_kind::orphan_state:
            return orphan_states;
        case dead_kind::corrupt:
            break;
        }
        return corrupt_removed;
    }
};

/// Removals gathered while listing and done 256 at a time, each only if the value is still the
/// one that was judged.
class removal_batch {
public:
    removal_batch(storage& store, prune_counts& counts) : store_(store), counts_(counts) {}

    void add(std::string_view key, std::string value, dead_kind kind) {
        pending_.push_back({std::string(key), std::move(value), kind});
        if (pending_.size() >= 256) flush();
    }

    void flush() {
        for (const auto& p : pending_) {
            if (store_.compare_and_set(p.key, p.value, std::nullopt))
                ++counts_.of(p.kind);
            else
                ++counts_.changed;
        }
        pending_.clear();
    }

private:
    struct removal {
        std::string key, value;
        dead_kind kind;
    };
    storage& store_;
    prune_counts& counts_;
    std::vector<removal> pending_;
};

struct prune_run {
    prune_run(context& c, storage& s, bool dry, bool corrupt, bool pending, std::int64_t now)
        : ctx(c), store(s), dry_run(dry), remove_corrupt(corrupt), remove_pending_logins(pending), now_seconds(now) {}

    context& ctx;
    storage& store;
    bool dry_run, remove_corrupt, remove_pending_logins;
    std::int64_t now_seconds;
    prune_counts counts{};
    /// In a dry run, the sessions this run would remove: their login states and index entries
    /// count as orphans too.
    std::unordered_set<std::string> doomed{};
    removal_batch batch{store, counts};
    progress_bar bar{"prune", ctx.show_progress()};
    std::size_t visited = 0;

    /// The value under `key`; nullopt when it is gone or cannot be read (then counted and, for a
    /// value that cannot be decrypted, reported: it is never removed, the key ring may be wrong).
    std::optional<std::string> read(std::string_view key, std::string_view id, bool report) {
        try {
            return store.get(key);
        } catch (const error& e) {
            if (e.code() == storage_errc::corrupt_record) {
                if (!report) return std::nullopt;
                counts.corrupt_ids.emplace_back(id);
                if (remove_corrupt && (dry_run || store.remove(key))) ++counts.corrupt_removed;
                return std::nullopt;
            }
            if (e.code() == storage_errc::decryption_failed || e.code() == storage_errc::unknown_key_id) {
                if (report) {
                    ++counts.unreadable;
                    print_error(ctx.command(), e.what());
                }
                return std::nullopt;
            }
            throw;
        }
    }

    void doom(std::string_view key, std::string_view id, std::string value, dead_kind kind) {
        if (dry_run) {
            ++counts.of(kind);
            if (kind != dead_kind::orphan_state) doomed.emplace(id);
        } else {
            batch.add(key, std::move(value), kind);
        }
    }

    void tick() { bar.update(++visited); }

    /// Pass 1: session records that cannot be rehydrated, and corrupt records.
    void records() {
        store.for_each_key(sd::record_prefix, [&](std::string_view key) {
            tick();
            const auto id = sd::session_id_of_key(key);
            auto value = read(key, *id, true);
            if (!value) return;
            auto c = classify_record(*id, *value);
            if (c.kind == record_kind::sealed) {
                ++counts.sealed;
            } else if (c.kind == record_kind::corrupt) {
                counts.corrupt_ids.emplace_back(*id);
                if (remove_corrupt) doom(key, *id, std::move(*value), dead_kind::corrupt);
            } else if (c.kind == record_kind::session) {
                const auto& r = c.record;
                if (client_expired(r, now_seconds)) {
                    doom(key, *id, std::move(*value), dead_kind::expired_client);
                } else if (!has_refresh_token(r) && !r.is_logged_in) {
                    // A code verifier is there between the redirect to the provider and the
                    // return: a login in progress, unless asked otherwise.
                    if (r.code_verifier && !remove_pending_logins)
                        ++counts.pending_logins_kept;
                    else
                        doom(key, *id, std::move(*value), dead_kind::logged_out);
                }
            }
        });
        batch.flush();
    }

    /// Whether session `id` still has a record (after this run, in a dry run). A record that cannot
    /// be read counts as present: nothing is removed on a guess.
    bool session_present(const std::string& id) {
        if (dry_run && doomed.count(id) != 0) return false;
        try {
            return store.get(sd::record_key(id)).has_value();
        } catch (const error&) {
            return true;
        }
    }

    /// Pass 2: Inrupt's login states whose session record is gone.
    void login_states() {
        store.for_each_key(sd::record_prefix, [&](std::string_view key) {
            tick();
            const auto id = sd::session_id_of_key(key);
            auto value = read(key, *id, false);
            if (!value) return;
            auto c = classify_record(*id, *value);
            if (c.kind != record_kind::login_state || session_present(c.state_session_id)) return;
            doom(key, *id, std::move(*value), dead_kind::orphan_state);
        });
        batch.flush();
    }

    /// Pass 3: ids in Inrupt's registered-sessions index without a record, removed under
    /// compare-and-set (a concurrent edit makes it start over).
    void index() {
        for (int attempt = 0; attempt < 100; ++attempt) {
            std::optional<std::string> current;
            std::vector<std::string> ids;
            try {
                current = store.get(sd::registered_sessions_key);
                if (!current) return;
                if (looks_sealed(*current)) {
                    ++counts.sealed;
                    return;
                }
                ids = sd::parse_session_index(current);
            } catch (const error& e) {
                print_error(ctx.command(), std::string(e.what()) + "; the index is kept");
                ++counts.unreadable;
                return;
            }
            nlohmann::json kept = nlohmann::json::array();
            std::size_t orphans = 0;
            for (const auto& id : ids) {
                if (session_present(id))
                    kept.push_back(id);
                else
                    ++orphans;
            }
            if (orphans == 0 || dry_run) {
                counts.index_orphans = orphans;
                return;
            }
            if (store.compare_and_set(sd::registered_sessions_key, current, kept.dump())) {
                counts.index_orphans = orphans;
                return;
            }
        }
        throw command_error(exit_items_failed, "the registered-sessions index kept changing; run prune again");
    }

    void run() {
        records();
        login_states();
        index();
        if (!dry_run) counts.expired_entries = store.purge_expired();
        bar.clear();
    }
};

void print_counts(const context& ctx, const prune_counts& n, bool dry_run, bool remove_corrupt) {
    if (ctx.json()) {
        ordered_json o;
        o["dry-run"] = dry_run;
        o["logged-out"] = n.logged_out;
        o["expired-client"] = n.expired_client;
        o["orphan-login-states"] = n.orphan_states;
        o["index-orphans"] = n.index_orphans;
        o["expired-entries"] = n.expired_entries ? ordered_json(*n.expired_entries) : ordered_json(nullptr);
        o["corrupt"] = n.corrupt_ids.size();
        o["corrupt-removed"] = n.corrupt_removed;
        ordered_json ids = ordered_json::array();
        for (const auto& id : n.corrupt_ids)
            ids.push_back(json_text(id));
        o["corrupt-ids"] = std::move(ids);
        o["pending-logins-kept"] = n.pending_logins_kept;
        o["sealed"] = n.sealed;
        o["unreadable"] = n.unreadable;
        o["changed-meanwhile"] = n.changed;
        print_json(o);
        return;
    }
    const std::string verb = dry_run ? "would remove" : "removed";
    auto line = [](const std::string& name, const std::string& value) {
        std::cout << std::left << std::setw(52) << name << ' ' << value << '\n';
    };
    if (dry_run) std::cout << "dry run: nothing removed\n";
    line(verb + ": logged out, no refresh token", std::to_string(n.logged_out));
    line(verb + ": client registration expired", std::to_string(n.expired_client));
    line(verb + ": login states of missing sessions", std::to_string(n.orphan_states));
    line(verb + ": index ids without a record", std::to_string(n.index_orphans));
    line(verb + ": expired entries",
         n.expired_entries ? std::to_string(*n.expired_entries) : "(counted only when removed)");
    line(verb + ": corrupt records", std::to_string(n.corrupt_removed));
    line("kept: logins in progress", std::to_string(n.pending_logins_kept));
    if (!remove_corrupt) line("kept: corrupt records", std::to_string(n.corrupt_ids.size()));
    if (n.sealed > 0) line("kept: sealed records (no --keys)", std::to_string(n.sealed));
    if (n.unreadable > 0) line("kept: values that cannot be decrypted", std::to_string(n.unreadable));
    if (n.changed > 0) line("kept: changed meanwhile", std::to_string(n.changed));
    for (const auto& id : n.corrupt_ids)
        std::cout << (remove_corrupt ? "corrupt record (removed): " : "corrupt record: ") << shown_id(id) << '\n';
}

} // namespace

int run_prune(context& ctx) {
    ctx.require_no_positionals();
    auto store = ctx.open_store();
    const auto now_seconds = std::chrono::duration_cast<std::chrono::seconds>(store->now().time_since_epoch()).count();
    prune_run run(ctx, *store, ctx.args().has("dry-run"), ctx.args().has("corrupt"), ctx.args().has("pending-logins"),
                  static_cast<std::int64_t>(now_seconds));
    run.run();
    print_counts(ctx, run.counts, run.dry_run, run.remove_corrupt);
    if (run.counts.sealed > 0)
        print_error(ctx.command(), std::to_string(run.counts.sealed) +
                                       " values are encrypted and were left alone: give the key ring (--keys)");
    const bool attention =
        (!run.remove_corrupt && !run.counts.corrupt_ids.empty()) || run.counts.unreadable > 0 || run.counts.sealed > 0;
    return ctx.exit_status(attention ? exit_items_failed : exit_ok);
}

} // namespace multisession::cli
