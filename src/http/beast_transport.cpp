// Connection pools, queues and deadlines of the Beast transport. The socket work is in
// tcp_connection.cpp / tls_connection.cpp; this file needs only Asio's timers and strands.
#include "http/beast_transport.hpp"

#include "http/connection.hpp"
#include "http/url.hpp"

#include <multisession/error.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace multisession::http {

namespace {

namespace asio = boost::asio;
using strand_type = asio::strand<asio::any_io_executor>;
using completion = std::function<void(std::error_code, response)>;

struct pending_request {
    explicit pending_request(const strand_type& strand) : deadline(strand) {}

    request req;
    url_parts where;
    std::string origin;
    completion on_done;
    asio::steady_timer deadline;
    std::shared_ptr<connection> conn; ///< set while connecting or exchanging: it holds a pool slot
    bool done = false;
    bool retried = false;
};

struct idle_connection {
    std::shared_ptr<connection> conn;
    std::unique_ptr<asio::steady_timer> timer;
    std::uint64_t id = 0;
};

struct origin_pool {
    std::size_t open = 0;              ///< slots in use: connecting, busy or idle connections
    std::vector<idle_connection> idle; ///< most recently used last
    std::deque<std::shared_ptr<pending_request>> waiting;
};

/// Header names and values go on the wire verbatim: a line break would let a caller's data
/// smuggle a header or a second request.
bool safe_field(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

bool valid_request(const request& req) {
    if (req.method.empty() ||
        !std::all_of(req.method.begin(), req.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
        return false;
    return std::all_of(req.headers.begin(), req.headers.end(), [](const header& h) {
        return !h.name.empty() && safe_field(h.name) && h.name.find(':') == std::string::npos && safe_field(h.value);
    });
}

class beast_transport final : public transport, public std::enable_shared_from_this<beast_transport> {
public:
    beast_transport(const asio::any_io_executor& ex, client_options options)
        : strand_(asio::make_strand(ex)), options_(std::move(options)), tls_(make_tls_context(options_)) {
        if (options_.max_connections_per_origin == 0) options_.max_connections_per_origin = 1;
    }

    void async_send(request req, completion on_done) override {
        asio::post(strand_, [self = shared_from_this(), req = std::move(req), on_done = std::move(on_done)]() mutable {
            self->start(std::move(req), std::move(on_done));
        });
    }

    void shutdown() override {
        asio::post(strand_, [self = shared_from_this()] { self->stop(); });
    }

private:
    void start(request req, completion on_done) {
        auto p = std::make_shared<pending_request>(strand_);
        p->on_done = std::move(on_done);
        if (shut_down_) return finish(p, http_errc::shut_down);
        std::error_code ec;
        p->where = parse_url(req.url, ec);
        if (ec) return finish(p, ec);
        if (!p->where.tls && !(options_.allow_insecure_loopback && is_loopback_host(p->where.host)))
            return finish(p, http_errc::insecure_url_refused);
        // Not a URL problem strictly, but the request cannot be sent as given: the closest code.
        if (!valid_request(req)) return finish(p, http_errc::invalid_url);
        p->origin = p->where.origin();
        p->req = std::move(req);
        live_.insert(p);
        p->deadline.expires_after(options_.total_timeout);
        p->deadline.async_wait(
            [self = shared_from_this(), weak = std::weak_ptr(p)](const boost::system::error_code& ec) {
                auto req = weak.lock();
                if (!ec && req) self->on_deadline(req);
            });
        acquire(p);
    }

    void acquire(const std::shared_ptr<pending_request>& p) {
        auto& pool = pools_[p->origin];
        if (!pool.idle.empty()) {
            auto entry = std::move(pool.idle.back());
            pool.idle.pop_back();
            entry.timer->cancel();
            entry.conn->cancel_idle_watch();
            return exchange(p, entry.conn);
        }
        if (pool.open < options_.max_connections_per_origin) {
            ++pool.open;
            return open_new(p);
        }
        pool.waiting.push_back(p);
    }

    // The caller has reserved a slot for `p` in its origin's pool.
    void open_new(const std::shared_ptr<pending_request>& p) {
        auto conn = p->where.tls ? make_tls_connection(strand_, p->where, options_, tls_)
                                 : make_tcp_connection(strand_, p->where, options_);
        p->conn = conn;
        conn->async_connect([self = shared_from_this(), p, conn](std::error_code ec) {
            if (p->done) return; // finished by its deadline or shutdown, which released the slot
            if (ec) {
                p->conn.reset();
                conn->close();
                self->release_slot(p->origin);
                return self->finish(p, ec);
            }
            self->exchange(p, conn);
        });
    }

    void exchange(const std::shared_ptr<pending_request>& p, const std::shared_ptr<connection>& conn) {
        p->conn = conn;
        conn->async_exchange(p->req, p->where.target, [self = shared_from_this(), p, conn](exchange_result r) {
            if (p->done) return;
            p->conn.reset();
            if (r.ec) {
                const bool reused = conn->uses() > 1;
                conn->close();
                // A kept-alive connection the server dropped just before we used it: the request
                // never reached the application, so one retry on a fresh connection is safe. The
                // slot passes to the new connection.
                if (reused && r.nothing_received && r.ec == http_errc::connection_closed && !p->retried) {
                    p->retried = true;
                    return self->open_new(p);
                }
                self->release_slot(p->origin);
                return self->finish(p, r.ec);
            }
            self->finish(p, {}, std::move(r.res));
            if (r.keep_alive && !self->shut_down_) {
                self->recycle(p->origin, conn);
            } else {
                conn->close();
                self->release_slot(p->origin);
            }
        });
    }

    // A connection that finished an exchange and may carry another: to the next waiting request,
    // or into the idle list.
    void recycle(const std::string& origin, const std::shared_ptr<connection>& conn) {
        auto& pool = pools_[origin];
        while (!pool.waiting.empty()) {
            auto next = std::move(pool.waiting.front());
            pool.waiting.pop_front();
            if (!next->done) return exchange(next, conn);
        }
        idle_connection entry{conn, std::make_unique<asio::steady_timer>(strand_), ++next_idle_id_};
        const auto id = entry.id;
        entry.timer->expires_after(options_.idle_timeout);
        entry.timer->async_wait([self = shared_from_this(), origin, id](const boost::system::error_code& ec) {
            if (!ec) self->drop_idle(origin, id);
        });
        // Readable while idle means the server closed it (or broke protocol): drop it now rather
        // than fail the next request on it.
        conn->async_watch_idle(
            [self = shared_from_this(), origin, id](std::error_code) { self->drop_idle(origin, id); });
        pool.idle.push_back(std::move(entry));
    }

    void drop_idle(const std::string& origin, std::uint64_t id) {
        auto it = pools_.find(origin);
        if (it == pools_.end()) return;
        auto& idle = it->second.idle;
        auto entry = std::find_if(idle.begin(), idle.end(), [id](const idle_connection& c) { return c.id == id; });
        if (entry == idle.end()) return; // already taken for a request, or already dropped
        entry->timer->cancel();
        entry->conn->close();
        idle.erase(entry);
        release_slot(origin);
    }

    // A connection of `origin` is gone: its slot goes to the first waiting request.
    void release_slot(const std::string& origin) {
        auto it = pools_.find(origin);
        if (it == pools_.end()) return;
        auto& pool = it->second;
        if (pool.open > 0) --pool.open;
        while (!pool.waiting.empty() && pool.open < options_.max_connections_per_origin) {
            auto next = std::move(pool.waiting.front());
            pool.waiting.pop_front();
            if (next->done) continue;
            ++pool.open;
            open_new(next);
        }
        if (pool.open == 0 && pool.waiting.empty() && pool.idle.empty()) pools_.erase(it);
    }

    void on_deadline(const std::shared_ptr<pending_request>& p) {
        if (p->done) return;
        if (p->conn) {
            auto conn = std::move(p->conn);
            conn->close();
            release_slot(p->origin);
        } else if (auto it = pools_.find(p->origin); it != pools_.end()) {
            std::erase(it->second.waiting, p);
        }
        finish(p, http_errc::timeout);
    }

    void stop() {
        shut_down_ = true;
        auto pools = std::exchange(pools_, {});
        for (auto& [origin, pool] : pools) {
            for (auto& entry : pool.idle) {
                entry.timer->cancel();
                entry.conn->close();
            }
        }
        auto live = std::exchange(live_, {});
        for (const auto& p : live) {
            if (p->conn) std::exchange(p->conn, nullptr)->close();
        }
        for (const auto& p : live)
            finish(p, http_errc::shut_down);
    }

    void finish(const std::shared_ptr<pending_request>& p, std::error_code ec, response res = {}) {
        if (p->done) return;
        p->done = true;
        p->deadline.cancel();
        live_.erase(p);
        auto on_done = std::move(p->on_done);
        on_done(ec, std::move(res));
    }

    strand_type strand_;
    client_options options_;
    std::shared_ptr<asio::ssl::context> tls_;
    std::map<std::string, origin_pool> pools_;
    std::set<std::shared_ptr<pending_request>> live_;
    std::uint64_t next_idle_id_ = 0;
    bool shut_down_ = false;
};

} // namespace

std::shared_ptr<transport> make_beast_transport(boost::asio::any_io_executor ex, client_options options) {
    return std::make_shared<beast_transport>(ex, std::move(options));
}

} // namespace multisession::http
