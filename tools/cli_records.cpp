#include "cli_records.hpp"

#include "cli_context.hpp"
#include "cli_output.hpp"

#include <multisession/error.hpp>

#include <algorithm>
#include <iostream>

namespace multisession::cli {

classified_record classify_record(std::string_view id, std::string_view value) {
    classified_record out;
    if (looks_sealed(value)) {
        out.kind = record_kind::sealed;
        return out;
    }
    auto as_state = [&] {
        auto target = session_detail::state_record_session_id(value);
        if (target) {
            out.kind = record_kind::login_state;
            out.state_session_id = std::move(*target);
        }
        return target.has_value();
    };
    try {
        out.record = session_detail::parse_session_record(id, value);
        if (out.record.is_session()) {
            out.kind = record_kind::session;
        } else if (!as_state()) {
            out.kind = record_kind::other;
        }
    } catch (const error& e) {
        if (!as_state()) {
            out.kind = record_kind::corrupt;
            out.problem = e.what();
        }
    }
    return out;
}

bool has_refresh_token(const session_detail::session_record& record) noexcept {
    return record.refresh_token && !record.refresh_token->empty();
}

bool client_expired(const session_detail::session_record& record, std::int64_t now_seconds) noexcept {
    return record.client_expires_at && *record.client_expires_at > 0 && *record.client_expires_at < now_seconds;
}

std::string shown_id(std::string_view id) {
    const bool plain = is_utf8(id) && std::none_of(id.begin(), id.end(), [](char c) {
                           const auto u = static_cast<unsigned char>(c);
                           return u < 0x20 || u == 0x7f;
                       });
    return plain ? std::string(id) : printable(id, 1024);
}

std::string json_text(std::string_view text) { return is_utf8(text) ? std::string(text) : printable(text, 1024); }

std::string dump(const nlohmann::ordered_json& document) {
    return document.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void print_json(const nlohmann::ordered_json& document) { std::cout << dump(document) << '\n'; }

} // namespace multisession::cli
