// The session handle: what it reports, authenticated requests, logout.
#include "session/engine.hpp"
#include "session/record_store.hpp"

#include "http/message.hpp"

namespace multisession {

using session_detail::session_state;

std::optional<std::string_view> fetch_response::header(std::string_view name) const {
    for (const auto& [key, value] : headers)
        if (http::header_name_equals(key, name)) return std::string_view(value);
    return std::nullopt;
}

const std::string& session::id() const noexcept { return state_->id; }
const std::string& session::issuer() const noexcept { return state_->issuer; }

std::optional<std::string> session::webid() const {
    std::lock_guard lock(state_->mutex);
    return state_->webid;
}

bool session::is_logged_in() const noexcept {
    std::lock_guard lock(state_->mutex);
    return state_->logged_in;
}

std::optional<time_point> session::expiration() const {
    std::lock_guard lock(state_->mutex);
    return state_->expires_at;
}

void session::on_event(session_event_handler handler) {
    std::lock_guard lock(state_->mutex);
    state_->handlers.push_back(std::move(handler));
}

void session::async_fetch(fetch_request request, std::function<void(std::error_code, fetch_response)> done) const {
    oidc::resource_credentials credentials;
    {
        std::lock_guard lock(state_->mutex);
        if (!state_->logged_in) return done(oidc_errc::invalid_request, {});
        credentials = {state_->access_token, state_->token_type, state_->key};
    }
    http::request req{std::move(request.method), std::move(request.url), {}, std::move(request.body)};
    req.headers.reserve(request.headers.size());
    for (auto& [name, value] : request.headers) req.headers.push_back({std::move(name), std::move(value)});
    state_->owner->core->provider().async_fetch(
        std::move(req), std::move(credentials), [done = std::move(done)](std::error_code ec, http::response res) {
            fetch_response out;
            out.status = res.status;
            out.body = std::move(res.body);
            out.headers.reserve(res.headers.size());
            for (auto& h : res.headers) out.headers.emplace_back(std::move(h.name), std::move(h.value));
            done(ec, std::move(out));
        });
}

fetch_response session::fetch(fetch_request request) const {
    std::promise<std::pair<std::error_code, fetch_response>> promise;
    auto future = promise.get_future();
    async_fetch(std::move(request), [&promise](std::error_code ec, fetch_response res) {
        promise.set_value({ec, std::move(res)});
    });
    auto [ec, response] = state_->owner->core->wait(future);
    if (ec) throw error(ec, "fetch by session '" + session_detail::printable_id(state_->id) + "'");
    return response;
}

logout_result session::logout(const logout_options& options) {
    return session_detail::logout_state(state_, options);
}

std::optional<session_info> session::info() const {
    auto& eng = *state_->owner;
    auto stored = session_detail::read_record(*eng.store, state_->id, eng.now());
    if (!stored) return std::nullopt;
    return session_detail::info_of(state_->id, stored->record);
}

} // namespace multisession
