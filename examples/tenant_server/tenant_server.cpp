// A multi-tenant HTTP server that serves many users' sessions at once.
//
//   tenant_server --store URI --tenant NAME[:ephemeral] [--tenant ...] [--listen 127.0.0.1:8080]
//                 [--ca-file PEM] [--allow-insecure-loopback] [--shutdown-deadline SECONDS]
//
// All tenants share one store; each one sees only its own namespace of it ("tenant:NAME:", through
// make_prefixed_storage) and has a session_manager of its own over that namespace. A request names
// its tenant in the path and its session in a cookie (Cookie: session=<session id>):
//
//   GET /<tenant>/me              the session, rehydrated on first use: {"session","webid","issuer","expires"}
//   GET /<tenant>/fetch?url=URL   URL fetched with the session's credentials; its status and body relayed
//
// No or unknown cookie: 401. Unknown tenant: 404. A refresh the provider refuses: 401 with the error
// message (messages never contain a token). Rehydrated sessions are kept in memory, so a user's
// later requests cost no token request; the managers also share a refresh between concurrent
// first requests, so a burst for one session still makes one token request.
//
// On SIGTERM or SIGINT the server stops accepting, lets requests in flight finish, then clears every
// ephemeral tenant's sessions from the store (all tenants at once, each in one batch), prints
// "cleared NAME: N sessions" per ephemeral tenant and "stopped", and exits with 0. The other
// tenants' sessions stay in the store for the next start.
//
// The session id in the cookie is a bearer credential: whoever holds it acts as the user. Serve
// this over TLS (behind a proxy) and let the login flow issue unguessable ids, as Inrupt's does.
//
// Everything runs on one io_context driven by a few threads: connections are coroutines, each on a
// strand of its own, and the managers do their network work on the same io_context
// (make_session_manager(executor, ...)), so waiting for a provider holds no thread.
#include <multisession/asio.hpp>
#include <multisession/multisession.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ms = multisession;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// Completion token for coroutines that look at errors instead of catching them.
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace limits {
constexpr std::size_t header_bytes = 8 * 1024; // request line and headers: a URL and a cookie fit
constexpr std::size_t body_bytes = 4 * 1024;   // the routes take no body; a stray small one is read and ignored
/// To receive a whole request, counted from the end of the previous answer: bounds both a slow
/// sender and an idle keep-alive connection.
constexpr auto request_timeout = 30s;
constexpr auto write_timeout = 30s;
/// A cached session whose access token expires sooner than this is rehydrated again (a refresh
/// with the rotated token the store now holds) rather than used.
constexpr auto expiry_margin = 30s;
} // namespace limits

// ---------------------------------------------------------------------------------------------
// Small pieces of HTTP

/// The value of the cookie `name` in a Cookie header ("theme=dark; session=abc"), or nullopt.
std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const auto end = header.find(';');
        std::string_view pair = header.substr(0, end);
        header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
        while (!pair.empty() && pair.front() == ' ')
            pair.remove_prefix(1);
        if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
            return pair.substr(name.size() + 1);
    }
    return std::nullopt;
}

/// `text` with %XX escapes and '+' decoded (application/x-www-form-urlencoded); nullopt when an
/// escape is malformed.
std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] != '%') {
            out += text[i];
        } else {
            unsigned value = 0;
            if (i + 2 >= text.size()) return std::nullopt;
            const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
            if (ec != std::errc{} || end != text.data() + i + 3) return std::nullopt;
            out += static_cast<char>(value);
            i += 2;
        }
    }
    return out;
}

/// The decoded value of the query parameter `name` ("a=1&url=https%3A%2F%2F..."), or nullopt.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto end = query.find('&');
        const std::string_view pair = query.substr(0, end);
        query = end == std::string_view::npos ? std::string_view{} : query.substr(end + 1);
        if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=')
            return percent_decode(pair.substr(name.size() + 1));
    }
    return std::nullopt;
}

/// `t` as an RFC 3339 UTC timestamp, e.g. "2025-01-31T12:00:00Z".
std::string rfc3339(ms::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

response json_response(http::status status, const nlohmann::json& body, unsigned version) {
    response res{status, version};
    res.set(http::field::content_type, "application/json");
    // Answers carry a user's identity: no shared cache may keep them.
    res.set(http::field::cache_control, "no-store");
    // Session ids and WebIDs come from outside; replace invalid UTF-8 rather than fail on it.
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return res;
}

response error_response(http::status status, std::string_view message, unsigned version) {
    return json_response(status, {{"error", message}}, version);
}

// ---------------------------------------------------------------------------------------------
// Tenants

/// A live session, or why there is none: the status to answer and a message safe to show.
struct session_lookup {
    std::optional<ms::session> session;
    http::status status = http::status::ok;
    std::string error;

    static session_lookup found(ms::session s) { return {std::move(s), http::status::ok, {}}; }
    static session_lookup refused(http::status status, std::string error) {
        return {std::nullopt, status, std::move(error)};
    }
};

/// How a failed rehydration is answered. The provider refusing (a revoked or rotated-away refresh
/// token, a client it no longer knows) means the user must log in again: 401. Trouble reaching the
/// provider or the store is the server's problem, not the user's: 5xx, so clients retry.
http::status status_for(std::error_code ec) {
    if (ec == ms::oidc_errc::server_error) return http::status::bad_gateway;
    if (ec.category() == ms::oidc_category()) return http::status::unauthorized;
    if (ec.category() == ms::http_category()) return http::status::bad_gateway;
    if (ec == ms::storage_errc::busy) return http::status::service_unavailable;
    return http::status::internal_server_error;
}

/// One tenant: a namespace of the shared store, the manager over it, and its live sessions.
class tenant {
public:
    tenant(std::string name, bool ephemeral, std::unique_ptr<ms::session_manager> manager)
        : name_(std::move(name)), ephemeral_(ephemeral), manager_(std::move(manager)) {}

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] bool ephemeral() const noexcept { return ephemeral_; }

    /// The session `id` ready to use: from memory when its access token is still good, else
    /// rehydrated from the store (a refresh-token grant).
    asio::awaitable<session_lookup> live_session(std::string id) {
        if (auto cached = find_cached(id)) co_return session_lookup::found(std::move(*cached));

        auto [ec, found] = co_await ms::async_get_session_from_storage(*manager_, id, {}, use_tuple);
        if (ec) {
            // The message names the failure (e.g. invalid_grant), never a token; the id stays out
            // of the log because the cookie is a credential.
            std::fprintf(stderr, "%s: a session could not be restored: %s\n", name_.c_str(), ec.message().c_str());
            co_return session_lookup::refused(status_for(ec), ec.message());
        }
        if (!found) co_return session_lookup::refused(http::status::unauthorized, "unknown session");
        if (!found->is_logged_in())
            co_return session_lookup::refused(http::status::unauthorized, "the session is logged out");
        remember(*found);
        co_return session_lookup::found(std::move(*found));
    }

    /// Removes every session of this tenant from the store (one batch).
    ms::clear_result clear() {
        {
            std::lock_guard lock(mutex_);
            live_.clear();
        }
        return manager_->clear_session_from_storage_all();
    }

private:
    std::optional<ms::session> find_cached(const std::string& id) {
        std::lock_guard lock(mutex_);
        const auto it = live_.find(id);
        if (it == live_.end()) return std::nullopt;
        const auto expires = it->second.expiration();
        if (it->second.is_logged_in() &&
            (!expires || *expires > std::chrono::system_clock::now() + limits::expiry_margin))
            return it->second;
        live_.erase(it); // logged out, or about to expire: rehydrate it again
        return std::nullopt;
    }

    void remember(const ms::session& s) {
        std::lock_guard lock(mutex_);
        live_.insert_or_assign(s.id(), s);
    }

    std::string name_;
    bool ephemeral_;
    std::unique_ptr<ms::session_manager> manager_;
    std::mutex mutex_; // guards live_: connections on every I/O thread use it
    // One entry per session in use. A server with very many occasional users may want to bound
    // it (least recently used out): a dropped session costs one refresh when it comes back.
    std::unordered_map<std::string, ms::session> live_;
};

using tenant_map = std::map<std::string, std::unique_ptr<tenant>, std::less<>>;

// ---------------------------------------------------------------------------------------------
// Routes

response answer_me(const ms::session& s, unsigned version) {
    const auto webid = s.webid();
    const auto expires = s.expiration();
    return json_response(http::status::ok,
                         {{"session", s.id()},
                          {"webid", webid ? nlohmann::json(*webid) : nlohmann::json(nullptr)},
                          {"issuer", s.issuer()},
                          {"expires", expires ? nlohmann::json(rfc3339(*expires)) : nlohmann::json(nullptr)}},
                         version);
}

asio::awaitable<response> answer_fetch(const ms::session& s, std::string_view query, unsigned version) {
    auto url = query_parameter(query, "url");
    if (!url || url->empty())
        co_return error_response(http::status::bad_request, "a url parameter is required", version);

    // Any URL the user asks for, with the user's credentials: the point of a Solid client, and
    // what this example shows. A server of yours may want to allow only the user's own pods.
    ms::fetch_request outgoing;
    outgoing.url = std::move(*url);
    auto [failure, upstream] = co_await ms::async_fetch(s, std::move(outgoing), use_tuple);
    const std::error_code ec = failure; // the library's own code, for comparing with its enums
    if (ec == ms::http_errc::invalid_url || ec == ms::http_errc::insecure_url_refused)
        co_return error_response(http::status::bad_request, ec.message(), version);
    if (ec) co_return error_response(http::status::bad_gateway, ec.message(), version);

    response res{http::status::ok, version};
    res.result(static_cast<unsigned>(upstream.status));
    if (const auto type = upstream.header("Content-Type")) res.set(http::field::content_type, *type);
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(upstream.body);
    co_return res;
}

/// The answer to one request: /<tenant>/me or /<tenant>/fetch?url=...
asio::awaitable<response> answer(const tenant_map& tenants, const request& req) {
    const unsigned version = req.version();
    const std::string_view target = req.target();
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

    // "/<tenant>/<route>"
    const auto slash = path.find('/', 1);
    if (!path.starts_with('/') || slash == std::string_view::npos)
        co_return error_response(http::status::not_found, "no such route", version);
    const auto found = tenants.find(path.substr(1, slash - 1));
    if (found == tenants.end()) co_return error_response(http::status::not_found, "no such tenant", version);
    tenant& t = *found->second;
    const std::string_view route = path.substr(slash + 1);
    if (route != "me" && route != "fetch") co_return error_response(http::status::not_found, "no such route", version);
    if (req.method() != http::verb::get) {
        auto res = error_response(http::status::method_not_allowed, "only GET is served", version);
        res.set(http::field::allow, "GET");
        co_return res;
    }

    const auto id = cookie_value(req[http::field::cookie], "session");
    if (!id || id->empty()) co_return error_response(http::status::unauthorized, "no session cookie", version);
    auto lookup = co_await t.live_session(std::string(*id));
    if (!lookup.session) co_return error_response(lookup.status, lookup.error, version);

    if (route == "me") co_return answer_me(*lookup.session, version);
    co_return co_await answer_fetch(*lookup.session, query, version);
}

// ---------------------------------------------------------------------------------------------
// The server: accepting, keep-alive connections, and a graceful stop

class server : public std::enable_shared_from_this<server> {
public:
    server(asio::io_context& ioc, const tcp::endpoint& where, const tenant_map& tenants)
        : ioc_(ioc), strand_(asio::make_strand(ioc)), acceptor_(strand_, where), drained_(strand_), tenants_(tenants) {}

    [[nodiscard]] tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

    void start() { asio::co_spawn(strand_, accept_loop(shared_from_this()), report_failure("accepting")); }

    /// Stops accepting, ends idle connections, lets requests in flight finish (for at most
    /// `grace`; then their connections are closed too), and then calls `done`.
    void shut_down(std::chrono::steady_clock::duration grace, std::function<void()> done) {
        asio::co_spawn(strand_, drain(shared_from_this(), grace),
                       [done = std::move(done)](const std::exception_ptr&) { done(); });
    }

private:
    /// One client connection. `stream` and `reading` are used on the connection's strand only.
    struct connection {
        explicit connection(tcp::socket socket) : stream(std::move(socket)) {}
        beast::tcp_stream stream;
        bool reading = false; ///< waiting for a request, not working on one
    };

    static std::function<void(std::exception_ptr)> report_failure(const char* what) {
        return [what](const std::exception_ptr& e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "%s failed: %s\n", what, x.what());
            } catch (...) {
                std::fprintf(stderr, "%s failed\n", what);
            }
        };
    }

    // `self` keeps the server alive for as long as the coroutine runs.
    static asio::awaitable<void> accept_loop(std::shared_ptr<server> self) {
        while (!self->stopping_) {
            // Each connection gets a strand: its coroutine runs on any I/O thread, one step at a time.
            auto [ec, socket] = co_await self->acceptor_.async_accept(asio::make_strand(self->ioc_), use_tuple);
            if (ec == asio::error::operation_aborted || self->stopping_) break;
            if (ec) {
                // E.g. out of file descriptors: wait a little instead of spinning on the error.
                std::fprintf(stderr, "accept: %s\n", ec.message().c_str());
                asio::steady_timer pause(self->strand_, 100ms);
                co_await pause.async_wait(use_tuple);
                continue;
            }
            auto c = std::make_shared<connection>(std::move(socket));
            {
                std::lock_guard lock(self->mutex_);
                self->connections_.insert(c);
            }
            asio::co_spawn(c->stream.get_executor(), serve(self, c), report_failure("a connection"));
        }
    }

    static asio::awaitable<void> serve(std::shared_ptr<server> self, std::shared_ptr<connection> c) {
        // Whatever happens below, the connection leaves the set (and may finish the drain).
        struct registration {
            server& s;
            const std::shared_ptr<connection>& c;
            ~registration() { s.forget(c); }
        } registered{*self, c};

        beast::flat_buffer buffer;
        while (!self->stopping_) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(limits::header_bytes);
            parser.body_limit(limits::body_bytes);
            c->stream.expires_after(limits::request_timeout);
            c->reading = true;
            auto [ec, received] = co_await http::async_read(c->stream, buffer, parser, use_tuple);
            c->reading = false;
            if (ec == http::error::header_limit || ec == http::error::body_limit) {
                co_await send(*c, error_response(ec == http::error::header_limit
                                                     ? http::status::request_header_fields_too_large
                                                     : http::status::payload_too_large,
                                                 ec.message(), 11 /* HTTP/1.1 */));
                break;
            }
            // The client left, was too slow, was cancelled at shutdown, or sent something that is
            // not HTTP: nothing useful to answer.
            if (ec) break;

            const request& req = parser.get();
            response res = co_await answer(self->tenants_, req);
            // Stopping: answer this request, then close (the client sees Connection: close).
            res.keep_alive(req.keep_alive() && !self->stopping_);
            if (!co_await send(*c, std::move(res))) break;
        }
        beast::error_code ignored;
        c->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }

    /// Writes `res`; true when it was written and the connection stays open.
    static asio::awaitable<bool> send(connection& c, response res) {
        res.prepare_payload();
        c.stream.expires_after(limits::write_timeout);
        auto [ec, sent] = co_await http::async_write(c.stream, res, use_tuple);
        co_return !ec && res.keep_alive();
    }

    void forget(const std::shared_ptr<connection>& c) {
        bool last = false;
        {
            std::lock_guard lock(mutex_);
            connections_.erase(c);
            last = connections_.empty();
        }
        // The drain waits on drained_ (on strand_) for the last connection to go.
        if (last && stopping_) asio::post(strand_, [self = shared_from_this()] { self->drained_.cancel(); });
    }

    /// Runs on strand_, so it is ordered with the accept loop.
    static asio::awaitable<void> drain(std::shared_ptr<server> self, std::chrono::steady_clock::duration grace) {
        self->stopping_ = true;
        beast::error_code ignored;
        self->acceptor_.close(ignored);

        // Idle keep-alive connections wait for a request that may never come: end them now. A
        // connection busy with a request sees stopping_ when it answers, and closes after that.
        for (const auto& c : self->open_connections())
            asio::post(c->stream.get_executor(), [c] {
                if (c->reading) c->stream.cancel();
            });

        // Wait for the last one to go (forget() cancels the timer), at most `grace`.
        self->drained_.expires_after(grace);
        if (!self->open_connections().empty()) co_await self->drained_.async_wait(use_tuple);

        // Past the deadline: cut whatever is still open.
        for (const auto& c : self->open_connections())
            asio::post(c->stream.get_executor(), [c] { c->stream.close(); });
    }

    std::vector<std::shared_ptr<connection>> open_connections() {
        std::lock_guard lock(mutex_);
        return {connections_.begin(), connections_.end()};
    }

    asio::io_context& ioc_;
    asio::strand<asio::io_context::executor_type> strand_; // the acceptor, the drain and its timer
    tcp::acceptor acceptor_;
    asio::steady_timer drained_;
    const tenant_map& tenants_;
    std::atomic<bool> stopping_{false};
    std::mutex mutex_; // guards connections_
    std::set<std::shared_ptr<connection>> connections_;
};

// ---------------------------------------------------------------------------------------------
// Shutdown: the batch clear of ephemeral tenants

/// Clears every ephemeral tenant at once, each on a thread of its own (a clear is a batch of store
/// operations, which block). Prints "cleared NAME: N sessions" per tenant. Returns the exit code.
int clear_ephemeral_tenants(const tenant_map& tenants, std::chrono::seconds deadline) {
    struct pending {
        const tenant* t;
        std::future<ms::clear_result> result;
    };
    std::vector<pending> clears;
    for (const auto& [name, t] : tenants)
        if (t->ephemeral())
            clears.push_back({t.get(), std::async(std::launch::async, [&t = *t] { return t.clear(); })});

    const auto until = std::chrono::steady_clock::now() + deadline;
    int code = 0;
    for (auto& c : clears) {
        if (c.result.wait_until(until) != std::future_status::ready) {
            // A clear cannot be interrupted, and a future of std::async waits for it when it is
            // destroyed. Leave at once: each batch is one operation of the store, so an
            // unfinished one leaves the sessions as they were, for the next run to clear.
            std::fprintf(stderr, "clearing %s did not finish within %llds\n", c.t->name().c_str(),
                         static_cast<long long>(deadline.count()));
            std::fflush(stdout);
            std::_Exit(1);
        }
        try {
            std::printf("cleared %s: %zu sessions\n", c.t->name().c_str(), c.result.get().session_ids.size());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "clearing %s failed: %s\n", c.t->name().c_str(), e.what());
            code = 1;
        }
    }
    std::fflush(stdout);
    return code;
}

// ---------------------------------------------------------------------------------------------
// Command line and main

struct tenant_spec {
    std::string name;
    bool ephemeral = false;
};

struct server_options {
    std::string store_uri = "sqlite:sessions.db";
    std::vector<tenant_spec> tenants;
    tcp::endpoint listen{asio::ip::make_address_v4("127.0.0.1"), 8080};
    std::string ca_file;
    bool allow_insecure_loopback = false;
    std::chrono::seconds shutdown_deadline{10};
};

constexpr const char* usage =
    "usage: tenant_server --store URI --tenant NAME[:ephemeral] [--tenant ...] [--listen ADDRESS:PORT]\n"
    "                     [--ca-file PEM] [--allow-insecure-loopback] [--shutdown-deadline SECONDS]\n";

/// Tenant names become part of store keys and URL paths: letters, digits, '-', '_' and '.'.
bool valid_tenant_name(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
               ch == '_' || ch == '.';
    });
}

std::optional<tcp::endpoint> parse_endpoint(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string_view host = text.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned short port = 0;
    const auto digits = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
    beast::error_code bad;
    const auto address = asio::ip::make_address(std::string(host), bad);
    if (bad) return std::nullopt;
    return tcp::endpoint(address, port);
}

/// The options, or nullopt after printing what is wrong.
std::optional<server_options> parse_command_line(int argc, char** argv) {
    server_options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        const bool has_value = i + 1 < argc;
        const std::string_view value = has_value ? std::string_view(argv[i + 1]) : std::string_view{};
        if (arg == "--allow-insecure-loopback") {
            o.allow_insecure_loopback = true;
            continue;
        }
        if (!has_value) {
            std::fprintf(stderr, "%s", usage);
            return std::nullopt;
        }
        ++i;
        if (arg == "--store") {
            o.store_uri = value;
        } else if (arg == "--tenant") {
            tenant_spec t;
            t.name = value;
            if (value.ends_with(":ephemeral")) {
                t.name = value.substr(0, value.size() - std::string_view(":ephemeral").size());
                t.ephemeral = true;
            }
            const bool duplicate = std::any_of(o.tenants.begin(), o.tenants.end(),
                                               [&](const tenant_spec& other) { return other.name == t.name; });
            if (!valid_tenant_name(t.name) || duplicate) {
                std::fprintf(stderr, "tenant_server: bad or repeated tenant name: %s\n", argv[i]);
                return std::nullopt;
            }
            o.tenants.push_back(std::move(t));
        } else if (arg == "--listen") {
            const auto where = parse_endpoint(value);
            if (!where) {
                std::fprintf(stderr, "tenant_server: --listen wants ADDRESS:PORT, e.g. 127.0.0.1:8080\n");
                return std::nullopt;
            }
            o.listen = *where;
        } else if (arg == "--ca-file") {
            o.ca_file = value;
        } else if (arg == "--shutdown-deadline") {
            long long seconds = -1;
            const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
            if (ec != std::errc{} || end != value.data() + value.size() || seconds < 1) {
                std::fprintf(stderr, "tenant_server: --shutdown-deadline wants whole seconds, at least 1\n");
                return std::nullopt;
            }
            o.shutdown_deadline = std::chrono::seconds(seconds);
        } else {
            std::fprintf(stderr, "%s", usage);
            return std::nullopt;
        }
    }
    if (o.tenants.empty()) {
        std::fprintf(stderr, "tenant_server: at least one --tenant is needed\n%s", usage);
        return std::nullopt;
    }
    return o;
}

/// Runs an io_context on a few threads; stops it and joins them when it goes.
class io_threads {
public:
    io_threads(asio::io_context& ioc, unsigned count) : ioc_(ioc) {
        for (unsigned i = 0; i < count; ++i)
            threads_.emplace_back([&ioc] { ioc.run(); });
    }
    // The managers keep pooled provider connections (and their timers) open, so the context never
    // runs out of work by itself: stop it. The threads are joined next, as members go.
    ~io_threads() { ioc_.stop(); }
    io_threads(const io_threads&) = delete;
    io_threads& operator=(const io_threads&) = delete;

private:
    asio::io_context& ioc_;
    std::vector<std::jthread> threads_;
};

int run(const server_options& options) {
    // Declared first, destroyed last: everything below does its I/O on it.
    asio::io_context ioc;

    const auto store = ms::open_storage(options.store_uri);
    tenant_map tenants;
    for (const auto& spec : options.tenants) {
        ms::session_manager_options manager_options;
        manager_options.store = ms::make_prefixed_storage(store, "tenant:" + spec.name + ":");
        manager_options.ca_file = options.ca_file;
        manager_options.allow_insecure_loopback = options.allow_insecure_loopback;
        tenants.emplace(spec.name,
                        std::make_unique<tenant>(spec.name, spec.ephemeral,
                                                 ms::make_session_manager(ioc.get_executor(), manager_options)));
    }

    auto srv = std::make_shared<server>(ioc, options.listen, tenants);
    srv->start();

    std::promise<void> drained;
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code& ec, int) {
        if (!ec) srv->shut_down(options.shutdown_deadline, [&drained] { drained.set_value(); });
    });

    const auto where = srv->local_endpoint();
    const auto address =
        where.address().is_v6() ? "[" + where.address().to_string() + "]" : where.address().to_string();
    std::printf("listening on %s:%u\n", address.c_str(), static_cast<unsigned>(where.port()));
    std::fflush(stdout);

    int code = 0;
    {
        // A few threads: a slow store call (they are synchronous) then holds up one thread, not all.
        const io_threads running(ioc, std::max(2u, std::thread::hardware_concurrency()));
        drained.get_future().wait(); // no more requests: the sessions can go
        code = clear_ephemeral_tenants(tenants, options.shutdown_deadline);
    }
    std::printf("stopped\n");
    std::fflush(stdout);
    return code;
}

} // namespace

int main(int argc, char** argv) {
    const auto options = parse_command_line(argc, argv);
    if (!options) return 2;
    try {
        return run(*options);
    } catch (const std::exception& e) {
        // A bad store URI, an address in use, a CA file that cannot be read. Never a secret.
        std::fprintf(stderr, "tenant_server: %s\n", e.what());
        return 1;
    }
}
