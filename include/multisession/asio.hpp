// multisession — Asio forms of the session API (optional: needs Boost.Asio 1.81 headers).
//
// Completion-token forms of the network-bound operations: a callback, boost::asio::use_future,
// boost::asio::use_awaitable, boost::asio::deferred, ... Completion signatures carry a
// boost::system::error_code first, as Asio expects; it wraps the library's std::error_code
// unchanged (`std::error_code(ec) == oidc_errc::invalid_grant` holds). Handlers run on their
// associated executor, by default the manager's, and never inside the initiating call.
#pragma once

#include <multisession/detail/asio_adapt.hpp>
#include <multisession/session.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace multisession {

/// A manager whose network work runs on `ex` (an io_context's executor, a strand, a thread
/// pool's executor): it starts no thread of its own. Its blocking forms must not be called on
/// `ex`'s own threads.
std::unique_ptr<session_manager> make_session_manager(boost::asio::any_io_executor ex,
                                                      session_manager_options options = {});

/// The executor a manager (or a session's manager) does its network work on.
boost::asio::any_io_executor session_executor(const session_manager& manager);
boost::asio::any_io_executor session_executor(const session& s);

/// get_session_from_storage with a completion token: void(error_code, std::optional<session>).
/// On a failed refresh the session (marked logged out) comes with the error.
template <class Token>
auto async_get_session_from_storage(session_manager& manager, std::string session_id, get_session_options options,
                                    Token&& token) {
    return asio_detail::adapt<std::optional<session>>(
        session_executor(manager), std::forward<Token>(token),
        [&manager, id = std::move(session_id), options = std::move(options)](auto cb) mutable {
            manager.async_get_session_from_storage(std::move(id), std::move(options), std::move(cb));
        });
}

/// rehydrate with a completion token: void(error_code, std::vector<rehydrate_result>); the error
/// is always empty (each result carries its own).
template <class Token>
auto async_rehydrate(session_manager& manager, std::vector<std::string> ids, batch_options options, Token&& token) {
    return asio_detail::adapt<std::vector<rehydrate_result>>(
        session_executor(manager), std::forward<Token>(token),
        [&manager, ids = std::move(ids), options = std::move(options)](auto cb) mutable {
            manager.async_rehydrate(std::move(ids), std::move(options),
                                    [cb = std::move(cb)](std::vector<rehydrate_result> r) mutable { cb({}, std::move(r)); });
        });
}

/// session::fetch with a completion token: void(error_code, fetch_response).
template <class Token>
auto async_fetch(const session& s, fetch_request request, Token&& token) {
    return asio_detail::adapt<fetch_response>(
        session_executor(s), std::forward<Token>(token),
        [s, request = std::move(request)](auto cb) mutable { s.async_fetch(std::move(request), std::move(cb)); });
}

} // namespace multisession
