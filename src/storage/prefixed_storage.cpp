#include <multisession/storage/prefixed.hpp>

#include <vector>

namespace multisession {
namespace {

/// Forwards to the inner store's public methods with the namespace prepended, and strips it from
/// enumerated keys. Expiry is the inner store's: its clock decides.
class prefixed_storage final : public storage {
public:
    // The view's now() is the inner store's, so `now() + ttl` is measured on the clock that decides.
    prefixed_storage(std::shared_ptr<storage> inner, std::string prefix)
        : storage([inner] { return inner->now(); }), inner_(std::move(inner)), prefix_(std::move(prefix)) {}

private:
    [[nodiscard]] std::string full(std::string_view key) const {
        std::string out;
        out.reserve(prefix_.size() + key.size());
        out += prefix_;
        out += key;
        return out;
    }

    std::optional<std::string> do_get(std::string_view key, time_point) override { return inner_->get(full(key)); }

    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        inner_->set(full(key), value, expires_at);
    }

    bool do_remove(std::string_view key, time_point) override { return inner_->remove(full(key)); }

    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point) override {
        return inner_->compare_and_set(full(key), expected, desired, expires_at);
    }

    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point) override {
        const std::size_t strip = prefix_.size();
        const auto forward = [&](std::string_view key, std::string_view value) {
            return visit(key.substr(strip), value);
        };
        if (with_values) {
            inner_->for_each(full(prefix), forward);
        } else {
            inner_->for_each_key(full(prefix), [&](std::string_view key) { return forward(key, {}); });
        }
    }

    std::size_t do_remove_prefix(std::string_view prefix, time_point) override {
        return inner_->remove_prefix(full(prefix));
    }

    /// One batch in the inner store, so the view keeps the inner store's atomicity.
    prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const value_filter* match,
                                      time_point) override {
        const std::size_t strip = prefix_.size();
        std::vector<std::string> full_prefixes;
        full_prefixes.reserve(prefixes.size());
        for (const auto prefix : prefixes) full_prefixes.push_back(full(prefix));
        const std::vector<std::string_view> views(full_prefixes.begin(), full_prefixes.end());
        value_filter inner_match;
        if (match)
            inner_match = [&](std::string_view key, std::string_view value) { return (*match)(key.substr(strip), value); };
        prefix_removal result = inner_->remove_prefixes(views, inner_match);
        for (auto& key : result.matched) key.erase(0, strip);
        return result;
    }

    // Expired entries of this namespace are the inner store's to purge; purging here purges the
    // whole inner store, which is what an operator asking any view of it expects.
    std::size_t do_purge_expired(time_point) override { return inner_->purge_expired(); }

    std::shared_ptr<storage> inner_;
    std::string prefix_;
};

} // namespace

std::shared_ptr<storage> make_prefixed_storage(std::shared_ptr<storage> inner, std::string prefix) {
    if (!inner) throw error(storage_errc::invalid_configuration, "prefixed storage needs an inner store");
    if (prefix.empty()) throw error(storage_errc::invalid_configuration, "prefixed storage needs a non-empty prefix");
    return std::make_shared<prefixed_storage>(std::move(inner), std::move(prefix));
}

} // namespace multisession
