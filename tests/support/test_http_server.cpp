#include "test_http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <future>
#include <map>
#include <thread>

namespace multisession::test {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
} // namespace

reply reply::text(int status, std::string body, std::string content_type) {
    reply r;
    r.status = status;
    r.headers.push_back({"Content-Type", std::move(content_type)});
    r.body = std::move(body);
    return r;
}

reply reply::json(std::string body, int status) { return text(status, std::move(body), "application/json"); }

struct test_http_server::impl {
    // Declared before the io_context: coroutine frames destroyed with it still touch these.
    handler_type handler;
    std::optional<ssl::context> tls;
    std::atomic<std::size_t> requests{0}, accepted{0}, open{0}, peak{0};
    // Open connections by id, server thread only: how to close one, and where it is in its cycle.
    struct connection_entry {
        std::function<void()> close;
        bool idle = false;    ///< waiting for a request after a response (keep-alive)
        bool writing = false; ///< writing a response: about to become idle or to close
    };
    std::map<std::uint64_t, connection_entry> connections;
    std::uint64_t next_connection_id = 0;

    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    std::uint16_t port = 0;
    std::thread thread;

    explicit impl(handler_type h) : handler(std::move(h)) {}

    void start() {
        tcp::endpoint at(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(at.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(at);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
        asio::co_spawn(ioc, accept_loop(), asio::detached);
        thread = std::thread([this] { ioc.run(); });
    }

    void stop() {
        ioc.stop();
        if (thread.joinable()) thread.join();
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
            if (ec) {
                if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
                continue;
            }
            ++accepted;
            auto now = ++open;
            auto before = peak.load();
            while (now > before && !peak.compare_exchange_weak(before, now)) {
            }
            asio::co_spawn(ioc, serve_socket(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> serve_socket(tcp::socket socket) {
        struct open_count {
            std::atomic<std::size_t>& n;
            ~open_count() { --n; }
        } counted{open};
        if (tls) {
            ssl::stream<tcp::socket> stream(std::move(socket), *tls);
            auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
            if (ec) co_return;
            co_await serve(stream);
        } else {
            co_await serve(socket);
        }
    }

    template <class Stream>
    static void close_stream(Stream& stream) {
        boost::system::error_code ignored;
        auto& socket = beast::get_lowest_layer(stream);
        socket.shutdown(tcp::socket::shutdown_both, ignored);
        socket.close(ignored);
    }

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream) {
        const auto id = ++next_connection_id;
        auto& entry = connections[id];
        entry.close = [&stream] { close_stream(stream); };
        struct unregister {
            impl& server;
            std::uint64_t id;
            ~unregister() { server.connections.erase(id); }
        } registered{*this, id};

        beast::flat_buffer buffer;
        for (bool first = true;; first = false) {
            bhttp::request<bhttp::string_body> in;
            entry.idle = !first;
            auto [ec, n] = co_await bhttp::async_read(stream, buffer, in, use_tuple);
            entry.idle = false;
            if (ec) co_return close_stream(stream);
            ++requests;

            http::request req;
            req.method = std::string(in.method_string());
            req.url = std::string(in.target());
            for (const auto& field : in)
                req.headers.push_back({std::string(field.name_string()), std::string(field.value())});
            req.body = std::move(in.body());
            reply out;
            try {
                out = handler(req);
            } catch (const std::exception& e) {
                out = reply::text(500, std::string("handler threw: ") + e.what());
            }
            const bool keep = co_await respond(stream, out, in.keep_alive(), entry);
            entry.writing = false;
            if (!keep) co_return close_stream(stream);
        }
    }

    // Closes idle connections; connections still writing a response are waited for (up to the
    // deadline), since a client may already hold the whole response while the server has not yet
    // seen its write complete.
    void close_idle(std::chrono::steady_clock::time_point deadline, std::promise<void>& done) {
        bool writing = false;
        for (auto& [id, entry] : connections) {
            if (entry.idle) {
                entry.idle = false;
                entry.close();
            }
            writing = writing || entry.writing;
        }
        if (writing && std::chrono::steady_clock::now() < deadline) {
            asio::post(ioc, [this, deadline, &done] { close_idle(deadline, done); });
        } else {
            done.set_value();
        }
    }

    static asio::awaitable<void> sleep(std::chrono::milliseconds d) {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(d);
        co_await timer.async_wait(use_tuple);
    }

    template <class Stream>
    static asio::awaitable<bool> write(Stream& stream, std::string_view data) {
        auto [ec, n] = co_await asio::async_write(stream, asio::buffer(data.data(), data.size()), use_tuple);
        co_return !ec;
    }

    // Sends `r`; returns whether the connection may carry another request.
    template <class Stream>
    asio::awaitable<bool> respond(Stream& stream, const reply& r, bool client_keep_alive, connection_entry& entry) {
        if (r.delay_before_headers.count() > 0) co_await sleep(r.delay_before_headers);
        if (r.never_answer) {
            char byte = 0;
            for (;;) {
                auto [ec, n] = co_await stream.async_read_some(asio::buffer(&byte, 1), use_tuple);
                if (ec) co_return false;
            }
        }
        if (r.close_without_answer) co_return false;
        entry.writing = true;
        if (r.raw) {
            co_await write(stream, *r.raw);
            co_return false;
        }

        const std::uint64_t body_size = r.stream_body_bytes > 0 ? r.stream_body_bytes : r.body.size();
        const bool keep = client_keep_alive && !r.close_after && !r.close_mid_body && !r.omit_content_length;
        std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " +
                           std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(r.status))) + "\r\n";
        for (const auto& h : r.headers)
            head += h.name + ": " + h.value + "\r\n";
        if (!r.omit_content_length)
            head += "Content-Length: " + std::to_string(r.content_length.value_or(body_size)) + "\r\n";
        if (!keep) head += "Connection: close\r\n";
        head += "\r\n";

        if (r.byte_interval.count() == 0 && r.stream_body_bytes == 0 && !r.close_mid_body)
            co_return co_await write(stream, head + r.body) && keep;
        if (!co_await write(stream, head)) co_return false;

        if (r.stream_body_bytes > 0) {
            const std::string chunk(64 * 1024, 'x');
            for (std::uint64_t left = r.stream_body_bytes; left > 0;) {
                auto size = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
                if (!co_await write(stream, std::string_view(chunk).substr(0, size))) co_return false;
                left -= size;
            }
            co_return keep;
        }
        const std::size_t stop_at = r.close_mid_body ? r.body.size() / 2 : r.body.size();
        if (r.byte_interval.count() == 0)
            co_return co_await write(stream, std::string_view(r.body).substr(0, stop_at)) && keep;
        for (std::size_t i = 0; i < stop_at; ++i) {
            if (!co_await write(stream, std::string_view(r.body).substr(i, 1))) co_return false;
            co_await sleep(r.byte_interval);
        }
        co_return keep;
    }
};

test_http_server::test_http_server(handler_type handler) : impl_(std::make_unique<impl>(std::move(handler))) {
    impl_->start();
}

test_http_server::test_http_server(handler_type handler, const tls_identity& identity)
    : impl_(std::make_unique<impl>(std::move(handler))) {
    auto& ctx = impl_->tls.emplace(ssl::context::tls_server);
    ctx.use_certificate_chain(asio::buffer(identity.cert_pem));
    ctx.use_private_key(asio::buffer(identity.key_pem), ssl::context::pem);
    impl_->start();
}

test_http_server::~test_http_server() { impl_->stop(); }

std::uint16_t test_http_server::port() const noexcept { return impl_->port; }
bool test_http_server::tls() const noexcept { return impl_->tls.has_value(); }

std::string test_http_server::url(std::string_view target, std::string_view host) const {
    return std::string(tls() ? "https://" : "http://") + std::string(host) + ":" + std::to_string(port()) +
           std::string(target);
}

std::size_t test_http_server::request_count() const noexcept { return impl_->requests; }
std::size_t test_http_server::connection_count() const noexcept { return impl_->accepted; }
std::size_t test_http_server::open_connections() const noexcept { return impl_->open; }
std::size_t test_http_server::peak_open_connections() const noexcept { return impl_->peak; }

void test_http_server::close_idle_connections() {
    std::promise<void> done;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    asio::post(impl_->ioc, [this, deadline, &done] { impl_->close_idle(deadline, done); });
    done.get_future().wait();
}

} // namespace multisession::test
