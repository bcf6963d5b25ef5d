// Expiry: prune() and the background pruner.
//
// Entries that carry a store-level expiry (records with a known lifetime, pending logins, leases,
// WebID entries, client registrations) are already invisible once expired; the store's own bulk
// purge removes them (for SQLite one DELETE on its expiry index). What the store cannot know is
// left to a scan, in batches: records whose own expiry passed (copied without their entry's
// expiry), records that can never log in again, WebID entries whose session is gone. Every removal
// is a compare-and-set against the value judged, so a record rewritten meanwhile is kept.
#include "session/engine.hpp"
#include "session/record_store.hpp"

#include <condition_variable>
#include <cstdio>
#include <thread>

namespace multisession {
namespace session_detail {
namespace {

/// Removals gathered during a scan and done `limit` at a time.
class removal_batch {
public:
    removal_batch(storage& store, std::size_t limit, prune_result& result)
        : store_(store), limit_(limit), result_(result) {}

    void add(std::string_view key, std::string_view value, std::size_t prune_result::*counter) {
        pending_.push_back({std::string(key), std::string(value), counter});
        if (pending_.size() >= limit_) flush();
    }

    void flush() {
        if (pending_.empty()) return;
        for (const auto& p : pending_) {
            if (store_.compare_and_set(p.key, p.value, std::nullopt)) ++(result_.*p.counter);
        }
        pending_.clear();
        ++result_.batches;
    }

private:
    struct removal {
        std::string key, value;
        std::size_t prune_result::*counter;
    };
    storage& store_;
    std::size_t limit_;
    prune_result& result_;
    std::vector<removal> pending_;
};

/// The session id of a WebID entry key (prefix, 64 hex digits, ':', id), or nullopt.
std::optional<std::string_view> session_id_of_webid_entry(std::string_view key) {
    constexpr std::size_t hash_size = 64;
    if (key.size() <= webid_prefix.size() + hash_size + 1 || key.substr(0, webid_prefix.size()) != webid_prefix)
        return std::nullopt;
    if (key[webid_prefix.size() + hash_size] != ':') return std::nullopt;
    return key.substr(webid_prefix.size() + hash_size + 1);
}

prune_result run_prune(engine& eng, const prune_options& options) {
    if (options.batch_size == 0) throw error(storage_errc::invalid_configuration, "prune: batch_size must be positive");
    auto& store = *eng.store;
    prune_result result;
    result.expired = store.purge_expired();
    ++result.batches;

    const auto now = eng.now();
    const auto now_ms = epoch_ms(now);
    removal_batch batch(store, options.batch_size, result);

    store.for_each(record_prefix, [&](std::string_view key, std::string_view value) {
        const auto id = session_id_of_key(key);
        if (!id) return true;
        session_record r;
        try {
            r = parse_session_record(*id, value);
        } catch (const error&) {
            return true; // corrupt: reported where it is read; the tool's prune --corrupt removes it
        }
        if (!r.is_session()) return true; // Inrupt's state -> session id records
        const bool expired = r.expires_at && *r.expires_at <= now_ms;
        // A record with a PKCE verifier and no token is a login in progress (Inrupt writes those).
        const bool dead = options.logged_out && !can_log_in_again(r) && !r.code_verifier;
        if (!expired && !dead) return true;
        batch.add(key, value, expired ? &prune_result::expired : &prune_result::logged_out);
        if (r.webid) batch.add(webid_entry_key(*r.webid, *id), *r.webid, &prune_result::orphans);
        return true;
    });

    store.for_each(login_prefix, [&](std::string_view key, std::string_view value) {
        try {
            const auto pending = parse_session_record("(pending login)", value);
            if (pending.expires_at && *pending.expires_at > now_ms) return true;
        } catch (const error&) {
            // An unreadable pending login can never complete.
        }
        batch.add(key, value, &prune_result::expired);
        return true;
    });
    batch.flush();

    store.for_each(webid_prefix, [&](std::string_view key, std::string_view value) {
        const auto id = session_id_of_webid_entry(key);
        bool keep = false;
        if (id) {
            try {
                auto stored = read_record(store, std::string(*id), now);
                keep = stored && stored->record.webid == value;
            } catch (const error&) {
                keep = false;
            }
        }
        if (!keep) batch.add(key, value, &prune_result::orphans);
        return true;
    });
    batch.flush();
    return result;
}

} // namespace

/// prune() every interval on a thread of its own; one run at a time by construction.
class pruner {
public:
    pruner(std::weak_ptr<engine> eng, pruner_options options) : options_(std::move(options)) {
        thread_ = std::thread([this, eng = std::move(eng)] { run(eng); });
    }

    ~pruner() { stop(); }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    void run(const std::weak_ptr<engine>& weak) {
        std::unique_lock lock(mutex_);
        while (!wake_.wait_for(lock, options_.interval, [this] { return stopping_; })) {
            lock.unlock();
            if (auto eng = weak.lock()) {
                try {
                    auto result = run_prune(*eng, options_.prune);
                    if (options_.on_pruned) options_.on_pruned(result);
                } catch (const error& e) {
                    if (options_.on_error)
                        options_.on_error(e);
                    else
                        std::fprintf(stderr, "multisession: prune: %s\n", e.what());
                } catch (...) {
                    // on_pruned threw: its own business; the pruner goes on.
                }
            }
            lock.lock();
        }
    }

    pruner_options options_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace session_detail

prune_result session_manager::prune(const prune_options& options) { return session_detail::run_prune(*engine_, options); }

void session_manager::start_pruner(pruner_options options) {
    if (options.interval <= std::chrono::milliseconds::zero())
        throw error(storage_errc::invalid_configuration, "pruner: the interval must be positive");
    if (options.prune.batch_size == 0)
        throw error(storage_errc::invalid_configuration, "pruner: batch_size must be positive");
    std::lock_guard lock(engine_->pruner_mutex);
    if (engine_->background_pruner) throw error(storage_errc::invalid_configuration, "pruner: already running");
    engine_->background_pruner = std::make_shared<session_detail::pruner>(engine_, std::move(options));
}

void session_manager::stop_pruner() {
    std::shared_ptr<session_detail::pruner> running;
    {
        std::lock_guard lock(engine_->pruner_mutex);
        running = std::move(engine_->background_pruner);
    }
    if (running) running->stop();
}

} // namespace multisession
