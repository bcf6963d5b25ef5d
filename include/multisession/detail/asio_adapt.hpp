// multisession — the one adapter from the library's callbacks to Asio completion tokens, shared by
// the session API's Asio forms and the internal provider client's.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include <memory>
#include <system_error>
#include <utility>

namespace multisession {

namespace asio_detail {

/// Adapts `start(callback)` (a callback taking std::error_code and T) to a completion token.
template <class T, class Token, class Start>
auto adapt(boost::asio::any_io_executor ex, Token&& token, Start start) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, T)>(
        [ex = std::move(ex), start = std::move(start)](auto handler) mutable {
            auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler, ex));
            auto held = std::make_shared<decltype(handler)>(std::move(handler));
            start([held, work = std::move(work)](std::error_code ec, T value) mutable {
                auto target = work.get_executor();
                boost::asio::post(target, [held, ec, value = std::move(value)]() mutable {
                    std::move (*held)(boost::system::error_code(ec), std::move(value));
                });
                work.reset();
            });
        },
        token);
}

} // namespace asio_detail

} // namespace multisession
