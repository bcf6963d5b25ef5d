#include <multisession/storage.hpp>

#include "storage/key_text.hpp"

#include <cstdio>
#include <mutex>

namespace multisession {

struct storage::handler_slot {
    std::mutex mutex;
    error_handler handler;
};

storage::storage(clock_function clock) : clock_(std::move(clock)), handler_(std::make_shared<handler_slot>()) {}

storage::~storage() = default;

namespace {

void check_key(std::string_view key) {
    if (key.empty()) throw error(storage_errc::invalid_key, "empty key");
    if (key.size() > storage::max_key_size)
        throw error(storage_errc::invalid_key, "key of " + std::to_string(key.size()) + " bytes exceeds the limit");
}

} // namespace

time_point storage::now() const { return clock_ ? clock_() : std::chrono::system_clock::now(); }

std::optional<std::string> storage::get(std::string_view key) {
    check_key(key);
    return do_get(key, now());
}

void storage::set(std::string_view key, std::string_view value, std::optional<time_point> expires_at) {
    check_key(key);
    do_set(key, value, expires_at, now());
}

bool storage::remove(std::string_view key) {
    check_key(key);
    return do_remove(key, now());
}

bool storage::compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                              std::optional<std::string_view> desired, std::optional<time_point> expires_at) {
    check_key(key);
    return do_compare_and_set(key, expected, desired, expires_at, now());
}

void storage::scan(std::string_view prefix, bool with_values, const entry_visitor& visit) {
    do_scan(prefix, with_values, visit, now());
}

void storage::scan_where(std::string_view prefix, const value_filter& keep, const entry_visitor& visit) {
    do_scan_where(prefix, keep, visit, now());
}

void storage::do_scan_where(std::string_view prefix, const value_filter& keep, const entry_visitor& visit,
                            time_point now) {
    do_scan(prefix, true, [&](std::string_view key, std::string_view value) {
        return keep(key, value) ? visit(key, {}) : true;
    }, now);
}

std::vector<std::string> storage::keys(std::string_view prefix) {
    std::vector<std::string> out;
    for_each_key(prefix, [&](std::string_view key) { out.emplace_back(key); });
    return out;
}

std::size_t storage::remove_prefix(std::string_view prefix) { return do_remove_prefix(prefix, now()); }

storage::prefix_removal storage::remove_prefixes(std::span<const std::string_view> prefixes,
                                                 const value_filter& match) {
    return do_remove_prefixes(prefixes, match ? &match : nullptr, now());
}

storage::prefix_removal storage::do_remove_prefixes(std::span<const std::string_view> prefixes,
                                                    const value_filter* match, time_point now) {
    prefix_removal result;
    for (const auto prefix : prefixes) {
        if (match) {
            do_scan_where(prefix, *match, [&](std::string_view key, std::string_view) {
                result.matched.emplace_back(key);
                return true;
            }, now);
        }
        result.removed += do_remove_prefix(prefix, now);
    }
    return result;
}

std::size_t storage::purge_expired() { return do_purge_expired(now()); }

void storage::set_error_handler(error_handler handler) {
    std::lock_guard lock(handler_->mutex);
    handler_->handler = std::move(handler);
}

void storage::report(const error& e) const noexcept {
    try {
        error_handler handler;
        {
            std::lock_guard lock(handler_->mutex);
            handler = handler_->handler;
        }
        if (handler) {
            handler(e);
        } else {
            std::fprintf(stderr, "multisession: %s\n", e.what());
        }
    } catch (...) {
        // A handler must not throw; if it does, the report is dropped rather than escaping a
        // noexcept path in the middle of a listing.
    }
}

} // namespace multisession
