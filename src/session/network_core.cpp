// The Asio side of the session layer: an io_context, optional threads running it, timers, and the
// Beast transport (behind its factory; Beast itself stays in src/http).
#include "session/engine.hpp"

#include "http/beast_transport.hpp"

#include <multisession/asio.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <thread>

namespace multisession::session_detail {
namespace {

namespace asio = boost::asio;

http::client_options http_options_of(const session_manager_options& o) {
    http::client_options h;
    h.connect_timeout = o.connect_timeout;
    h.read_timeout = o.read_timeout;
    h.total_timeout = o.total_timeout;
    h.max_connections_per_origin = o.max_connections_per_origin;
    h.ca_file = o.ca_file;
    h.allow_insecure_loopback = o.allow_insecure_loopback;
    return h;
}

oidc::provider_client_options provider_options_of(const session_manager_options& o) {
    oidc::provider_client_options p;
    p.allow_insecure_loopback = o.allow_insecure_loopback;
    p.discovery_ttl = o.discovery_ttl;
    p.clock_skew = o.clock_skew;
    p.clock = o.clock;
    return p;
}

/// A core whose executor Asio code can reach (multisession/asio.hpp).
class asio_core : public network_core {
public:
    virtual asio::any_io_executor executor() = 0;

    void offload(std::function<void()> fn) final {
        if (!store_pool_ || stopping() || store_pool_->get_executor().running_in_this_thread()) return fn();
        asio::post(*store_pool_, [this, fn = std::move(fn)] {
            fn();
            // A blocking call drives the I/O on its own thread and looks at its result between
            // handlers: wake it, or it would only notice after its next 5 ms wait.
            if (!runs_by_itself()) asio::post(executor(), [] {});
        });
    }

    void run_after(std::chrono::milliseconds delay, std::function<void()> fn) final {
        if (stopping()) delay = std::chrono::milliseconds(0);
        auto timer = std::make_shared<asio::steady_timer>(executor(), delay);
        timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code&) { fn(); });
    }

protected:
    void start_store_threads(std::size_t count) {
        if (count > 0) store_pool_ = std::make_unique<asio::thread_pool>(count);
    }
    /// Lets queued store work finish: it sees stopping(), and the requests it starts fail with
    /// http_errc::shut_down.
    void join_store_threads() {
        if (store_pool_) store_pool_->join();
    }

private:
    std::unique_ptr<asio::thread_pool> store_pool_;
};

class owned_core final : public asio_core {
public:
    asio::any_io_executor executor() override { return ioc_.get_executor(); }

    explicit owned_core(const session_manager_options& options) {
        transport_ = http::make_beast_transport(ioc_.get_executor(), http_options_of(options));
        provider_ = oidc::provider_client::create(transport_, provider_options_of(options));
        start_store_threads(options.storage_threads);
        for (std::size_t i = 0; i < options.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    }

    ~owned_core() override {
        stop();
        // The transport's strand and sockets belong to ioc_, which goes before the base class's
        // members would: release them while it still exists.
        provider_.reset();
        transport_.reset();
    }

    bool runs_by_itself() const noexcept override { return !threads_.empty(); }

    void stop() override {
        std::call_once(stopped_, [this] {
            stopping_ = true;
            transport_->shutdown();
            join_store_threads();
            work_.reset();
            for (auto& t : threads_) t.join();
            // Run what is ready (the shutdown's own callbacks), then drop what is left (timers).
            ioc_.restart();
            ioc_.poll();
            ioc_.stop();
        });
    }

protected:
    void run_one_for(std::chrono::milliseconds max) override { ioc_.run_one_for(max); }

private:
    asio::io_context ioc_;
    // Kept until stop(): with no thread of its own, callers drive the context one handler at a
    // time, and it must not run out of work (and stop) between them.
    asio::executor_work_guard<asio::io_context::executor_type> work_{ioc_.get_executor()};
    std::vector<std::thread> threads_;
    std::once_flag stopped_;
};

/// A core on an executor the application runs (an io_context of its own, a thread pool).
class external_core final : public asio_core {
public:
    external_core(asio::any_io_executor ex, const session_manager_options& options) : ex_(std::move(ex)) {
        transport_ = http::make_beast_transport(ex_, http_options_of(options));
        provider_ = oidc::provider_client::create(transport_, provider_options_of(options));
        start_store_threads(options.storage_threads);
    }
    ~external_core() override { stop(); }

    asio::any_io_executor executor() override { return ex_; }

    bool runs_by_itself() const noexcept override { return true; }

    void stop() override {
        std::call_once(stopped_, [this] {
            stopping_ = true;
            transport_->shutdown();
            join_store_threads();
        });
    }

protected:
    void run_one_for(std::chrono::milliseconds) override {}

private:
    asio::any_io_executor ex_;
    std::once_flag stopped_;
};

} // namespace

network_core::~network_core() = default;

std::shared_ptr<network_core> network_core::create(const session_manager_options& options) {
    return std::make_shared<owned_core>(options);
}

} // namespace multisession::session_detail

namespace multisession {

std::unique_ptr<session_manager> make_session_manager(boost::asio::any_io_executor ex, session_manager_options options) {
    session_detail::engine::check_options(options);
    auto store = options.store ? options.store : default_storage();
    options.store = store;
    options.threads = 0;
    auto core = std::make_shared<session_detail::external_core>(std::move(ex), options);
    return session_detail::engine::make_manager(
        std::make_shared<session_detail::engine>(std::move(core), std::move(store), std::move(options)));
}

boost::asio::any_io_executor session_executor(const session_manager& manager) {
    return dynamic_cast<session_detail::asio_core&>(*session_detail::engine::of(manager)->core).executor();
}

boost::asio::any_io_executor session_executor(const session& s) {
    return dynamic_cast<session_detail::asio_core&>(*session_detail::engine::state_of(s)->owner->core).executor();
}

} // namespace multisession
