// How an application runs the client: an io_context on a thread of its own with the Beast
// transport on it. For tests and benchmarks; the blocking calls of the code under test wait on
// other threads while this one does the I/O.
#pragma once

#include "http/beast_transport.hpp"

#include <multisession/error.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

namespace multisession::test {

class transport_thread {
public:
    explicit transport_thread(http::client_options options)
        : transport_(http::make_beast_transport(ioc_.get_executor(), std::move(options))),
          thread_([this] { ioc_.run(); }) {}

    /// Stops the transport (pending requests fail with shut_down), then joins the thread.
    ~transport_thread() {
        transport_->shutdown();
        work_.reset();
        thread_.join();
    }
    transport_thread(const transport_thread&) = delete;
    transport_thread& operator=(const transport_thread&) = delete;

    [[nodiscard]] boost::asio::io_context& context() noexcept { return ioc_; }
    [[nodiscard]] const std::shared_ptr<http::transport>& transport() const noexcept { return transport_; }
    /// One raw exchange, waiting at most `limit` (then http_errc::timeout): for looking at answers
    /// below the code under test.
    std::pair<std::error_code, http::response> send(http::request req,
                                                    std::chrono::seconds limit = std::chrono::seconds(60)) {
        auto result = std::make_shared<std::promise<std::pair<std::error_code, http::response>>>();
        auto answer = result->get_future();
        transport_->async_send(std::move(req), [result](std::error_code ec, http::response res) {
            result->set_value({ec, std::move(res)});
        });
        if (answer.wait_for(limit) != std::future_status::ready) return {http_errc::timeout, {}};
        return answer.get();
    }

    /// The I/O thread, e.g. for its CPU clock.
    [[nodiscard]] std::thread& thread() noexcept { return thread_; }

private:
    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{ioc_.get_executor()};
    std::shared_ptr<http::transport> transport_;
    std::thread thread_;
};

/// The code of the multisession::error `f` throws, or an empty code when it returns.
template <class F>
std::error_code code_of(F&& f) {
    try {
        std::forward<F>(f)();
    } catch (const error& e) {
        return e.code();
    }
    return {};
}

} // namespace multisession::test
