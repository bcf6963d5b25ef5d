#include <multisession/storage/memory.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <shared_mutex>

namespace multisession {
namespace {

/// A sorted map behind a reader/writer lock. Enumeration copies a page of entries under the shared
/// lock, releases it, then calls the visitor, so visitors may write to the store.
class memory_storage final : public storage {
public:
    explicit memory_storage(memory_storage_options options) : storage(std::move(options.clock)) {}

private:
    struct entry {
        std::string value;
        std::optional<time_point> expires_at;
        [[nodiscard]] bool live(time_point now) const { return !expires_at || *expires_at > now; }
    };
    using map_type = std::map<std::string, entry, std::less<>>;

    static constexpr std::size_t page_size = 256;

    std::optional<std::string> do_get(std::string_view key, time_point now) override {
        std::shared_lock lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end() || !it->second.live(now)) return std::nullopt;
        return it->second.value;
    }

    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        std::unique_lock lock(mutex_);
        put(key, value, expires_at);
    }

    bool do_remove(std::string_view key, time_point now) override {
        std::unique_lock lock(mutex_);
        auto it = entries_.find(key);
        if (it == entries_.end()) return false;
        const bool was_live = it->second.live(now);
        entries_.erase(it);
        return was_live;
    }

    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point now) override {
        std::unique_lock lock(mutex_);
        auto it = entries_.find(key);
        const bool present = it != entries_.end() && it->second.live(now);
        if (expected ? !present || it->second.value != *expected : present) return false;
        if (desired) {
            put(key, *desired, expires_at);
        } else if (it != entries_.end()) {
            entries_.erase(it);
        }
        return true;
    }

    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point now) override {
        scan_pages(prefix, with_values, nullptr, visit, now);
    }

    void do_scan_where(std::string_view prefix, const value_filter& keep, const entry_visitor& visit,
                       time_point now) override {
        scan_pages(prefix, false, &keep, visit, now);
    }

    /// Pages of up to page_size live entries, copied under the shared lock and visited after it is
    /// released. `keep`, when given, looks at each value under the lock, so refused entries cost
    /// no copy.
    void scan_pages(std::string_view prefix, bool with_values, const value_filter* keep, const entry_visitor& visit,
                    time_point now) {
        std::vector<std::pair<std::string, std::string>> page;
        std::string resume(prefix);
        bool first = true;
        for (;;) {
            page.clear();
            std::size_t examined = 0;
            {
                std::shared_lock lock(mutex_);
                auto it = first ? entries_.lower_bound(resume) : entries_.upper_bound(resume);
                const std::string* last = nullptr;
                for (; it != entries_.end() && examined < page_size; ++it) {
                    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
                    if (!it->second.live(now)) continue;
                    ++examined;
                    last = &it->first;
                    if (keep && !(*keep)(it->first, it->second.value)) continue;
                    page.emplace_back(it->first, with_values ? it->second.value : std::string());
                }
                if (last) resume = *last;
            }
            first = false;
            for (const auto& [key, value] : page) {
                if (!visit(key, value)) return;
            }
            if (examined < page_size) return;
        }
    }

    std::size_t do_remove_prefix(std::string_view prefix, time_point now) override {
        std::unique_lock lock(mutex_);
        std::size_t removed = 0;
        auto it = entries_.lower_bound(prefix);
        while (it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
            if (it->second.live(now)) ++removed;
            it = entries_.erase(it);
        }
        return removed;
    }

    /// Every range under one exclusive lock: atomic for other callers. The matching runs before
    /// anything is erased, so a `match` that throws leaves the store as it was.
    prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const value_filter* match,
                                      time_point now) override {
        prefix_removal result;
        auto in = [](std::string_view key, std::string_view prefix) { return key.starts_with(prefix); };
        std::unique_lock lock(mutex_);
        for (std::size_t i = 0; i < prefixes.size(); ++i) {
            for (auto it = entries_.lower_bound(prefixes[i]); it != entries_.end() && in(it->first, prefixes[i]); ++it) {
                // A key under an earlier prefix of the list was counted there.
                if (!it->second.live(now) ||
                    std::any_of(prefixes.begin(), prefixes.begin() + static_cast<std::ptrdiff_t>(i),
                                [&](std::string_view earlier) { return in(it->first, earlier); }))
                    continue;
                ++result.removed;
                if (match && (*match)(it->first, it->second.value)) result.matched.push_back(it->first);
            }
        }
        for (const auto prefix : prefixes) {
            auto it = entries_.lower_bound(prefix);
            while (it != entries_.end() && in(it->first, prefix)) it = entries_.erase(it);
        }
        return result;
    }

    std::size_t do_purge_expired(time_point now) override {
        std::unique_lock lock(mutex_);
        return std::erase_if(entries_, [&](const auto& item) { return !item.second.live(now); });
    }

    void put(std::string_view key, std::string_view value, std::optional<time_point> expires_at) {
        auto it = entries_.find(key);
        if (it == entries_.end()) {
            entries_.emplace(std::string(key), entry{std::string(value), expires_at});
        } else {
            it->second.value.assign(value);
            it->second.expires_at = expires_at;
        }
    }

    std::shared_mutex mutex_;
    map_type entries_;
};

} // namespace

std::shared_ptr<storage> make_memory_storage(memory_storage_options options) {
    return std::make_shared<memory_storage>(std::move(options));
}

} // namespace multisession
