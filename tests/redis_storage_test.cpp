// The Redis backend beyond the contract suite: its URIs, what it does when the server cannot be
// reached, stalls, dies or restarts, what it leaves in Redis (plain strings, native expiry), SCAN's
// quirks, and compare_and_set under contention. Every server here is a child of this test
// (support/redis_server.hpp) on 127.0.0.1.
#include "support/child_process.hpp"
#include "support/expect_error.hpp"
#include "support/redis_server.hpp"
#include "support/storage_fixtures.hpp"

#include <multisession/storage/redis.hpp>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

using namespace multisession;
using namespace multisession::test;
using namespace std::chrono_literals;

namespace {

using steady = std::chrono::steady_clock;

std::string port_text(const redis_server& server) { return std::to_string(server.port()); }

redis_storage_options options_for(const redis_server& server) {
    redis_storage_options options;
    options.port = server.port();
    return options;
}

std::string uri_error(const std::string& uri) {
    return error_of([&] { (void)open_storage(uri); }, storage_errc::invalid_uri);
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

std::int64_t epoch_ms(time_point t) {
    return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// A TCP socket on 127.0.0.1. listening(backlog) accepts connections into the kernel's queue and
/// never answers them; bound-only holds a port on which every connection is refused.
class loopback_socket {
public:
    explicit loopback_socket(std::optional<int> backlog) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof address;
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) == 0);
        port_ = ntohs(address.sin_port);
        if (backlog) REQUIRE(::listen(fd_, *backlog) == 0);
    }
    ~loopback_socket() {
        for (const int fd : fillers_)
            ::close(fd);
        ::close(fd_);
    }
    loopback_socket(const loopback_socket&) = delete;
    loopback_socket& operator=(const loopback_socket&) = delete;

    [[nodiscard]] std::uint16_t port() const { return port_; }
    [[nodiscard]] int fd() const { return fd_; }

    /// Fills the accept queue with connections nobody accepts, so that the next connection's SYN
    /// is dropped and its connect hangs.
    void fill_backlog() {
        for (int i = 0; i < 4; ++i) {
            const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            address.sin_port = htons(port_);
            (void)::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
            fillers_.push_back(fd);
        }
        std::this_thread::sleep_for(50ms);
    }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
    std::vector<int> fillers_;
};

} // namespace

TEST_CASE("redis URIs reach the host, port, database and options they name") {
    auto& server = shared_redis_server();
    server.flush_all();
    const std::string base = "redis://127.0.0.1:" + port_text(server);

    open_storage(base)->set("k", "db0 by default");
    open_storage(base + "/5?timeout_ms=500&connect_timeout_ms=200&pool=2")->set("k", "db5");
    open_storage("redis://localhost:" + port_text(server) + "/0?prefix=ns:")->set("k", "namespaced");

    redis_client raw(server.port());
    CHECK(raw.text({"GET", "k"}) == "db0 by default");
    CHECK(raw.text({"GET", "ns:k"}) == "namespaced");
    raw.command({"SELECT", "5"});
    CHECK(raw.text({"GET", "k"}) == "db5");
    CHECK(open_storage(base + "/5")->get("k") == "db5");

    const std::string message =
        error_of([&] { (void)open_storage(base + "/99"); }, storage_errc::invalid_configuration);
    CHECK(contains(message, "no database 99"));
}

TEST_CASE("malformed redis URIs are invalid_uri, and their passwords never show") {
    CHECK(contains(uri_error("redis:"), "needs a host"));
    CHECK(contains(uri_error("redis://"), "needs a host"));
    CHECK(contains(uri_error("redis:///0"), "needs a host"));
    CHECK(contains(uri_error("redis://:6379/0"), "needs a host"));
    CHECK(contains(uri_error("redis://h:0"), "port must be"));
    CHECK(contains(uri_error("redis://h:65536"), "port must be"));
    CHECK(contains(uri_error("redis://h:http"), "port must be"));
    CHECK(contains(uri_error("redis://h:"), "empty port"));
    CHECK(contains(uri_error("redis://h:1/x"), "database number"));
    CHECK(contains(uri_error("redis://h:1/-1"), "database number"));
    CHECK(contains(uri_error("redis://h:1/0/1"), "database number"));
    CHECK(contains(uri_error("redis://[::1"), "IPv6"));
    CHECK(contains(uri_error("redis://[::1]x"), "IPv6"));
    CHECK(contains(uri_error("redis://h:1/0?pool=0"), "pool must be"));
    CHECK(contains(uri_error("redis://h:1/0?timeout_ms=0"), "timeout_ms must be"));
    CHECK(contains(uri_error("redis://h:1/0?colour=blue"), "unknown query parameter 'colour'"));
    CHECK(contains(uri_error("redis://alice@h:1/0"), "a user name needs a password"));
    CHECK(contains(uri_error("redis://alice:@h:1/0"), "password is empty"));

    const std::string bad_port = uri_error("redis://alice:hunter2@h:port/0");
    CHECK_FALSE(contains(bad_port, "hunter2"));
    CHECK(contains(bad_port, "redis://alice:***@h:port/0"));
    // A password that breaks the URI rules with a raw '/' is still hidden in full.
    const std::string raw_slash = uri_error("redis://alice:hun/ter2@h:1/0");
    CHECK_FALSE(contains(raw_slash, "hun"));
    CHECK_FALSE(contains(raw_slash, "ter2"));

    CHECK(redact_uri("redis://alice:hun/ter2@h:1/0") == "redis://alice:***@h:1/0");
    CHECK(redact_uri("redis://alice:p@ss@h:1/0") == "redis://alice:***@h:1/0");
    CHECK(redact_uri("redis://:p%40ss@h") == "redis://:***@h");
    CHECK(redact_uri("redis://h:1/0?prefix=a:b@c") == "redis://h:1/0?prefix=a:b@c");
    CHECK(redact_uri("redis://h:1?prefix=a:b@c") == "redis://h:1?prefix=a:b@c");
    CHECK(redact_uri("file:///dir/a:b@c") == "file:///dir/a:b@c");
}

TEST_CASE("credentials: AUTH with a password or an ACL user, and refusals that never show them") {
    redis_server server;
    {
        redis_client admin(server.port());
        admin.command({"ACL", "SETUSER", "alice", "on", ">alice/pw", "~*", "&*", "+@all"});
        admin.command({"CONFIG", "SET", "requirepass", "p@ss:w/rd"});
    }
    const std::string host = "127.0.0.1:" + port_text(server);

    open_storage("redis://:p%40ss%3Aw%2Frd@" + host + "/0")->set("k", "default user");
    open_storage("redis://alice:alice%2Fpw@" + host + "/2")->set("k", "alice");
    redis_storage_options options = options_for(server);
    options.user = "alice";
    options.password = "alice/pw";
    options.db = 2;
    CHECK(make_redis_storage(options)->get("k") == "alice");

    const std::string wrong = error_of([&] { (void)open_storage("redis://alice:guess@" + host + "/0"); },
                                       storage_errc::invalid_configuration);
    CHECK(contains(wrong, "refused the credentials"));
    CHECK_FALSE(contains(wrong, "guess"));
    CHECK_FALSE(contains(wrong, "alice/pw"));

    const std::string none =
        error_of([&] { (void)open_storage("redis://" + host + "/0"); }, storage_errc::invalid_configuration);
    CHECK(contains(none, "NOAUTH"));

    options.password.clear();
    CHECK(contains(error_of([&] { (void)make_redis_storage(options); }, storage_errc::invalid_configuration),
                   "a user name needs a password"));
}

TEST_CASE("options that cannot work are invalid_configuration") {
    const auto fails = [](auto change) {
        redis_storage_options options;
        change(options);
        (void)error_of([&] { (void)make_redis_storage(options); }, storage_errc::invalid_configuration);
    };
    fails([](redis_storage_options& o) { o.host.clear(); });
    fails([](redis_storage_options& o) { o.port = 0; });
    fails([](redis_storage_options& o) { o.pool_size = 0; });
    fails([](redis_storage_options& o) { o.scan_count = 0; });
    fails([](redis_storage_options& o) { o.connect_timeout = 0ms; });
    fails([](redis_storage_options& o) { o.command_timeout = 0ms; });
}

TEST_CASE("an unreachable server is a clear error within the timeouts, never a hang") {
    SUBCASE("nothing listens on the port: refused at once") {
        loopback_socket closed(std::nullopt);
        redis_storage_options options;
        options.port = closed.port();
        options.connect_timeout = 1000ms;
        const auto start = steady::now();
        const std::string message = error_of([&] { (void)make_redis_storage(options); }, storage_errc::unavailable);
        CHECK(steady::now() - start < 1000ms);
        CHECK(contains(message, "cannot connect to redis at 127.0.0.1:" + std::to_string(closed.port())));
        // Through a URI as well.
        (void)error_of([&] { (void)open_storage("redis://127.0.0.1:" + std::to_string(closed.port())); },
                       storage_errc::unavailable);
    }
    SUBCASE("the handshake never completes: connect timeout") {
        loopback_socket full(0);
        full.fill_backlog();
        redis_storage_options options;
        options.port = full.port();
        options.connect_timeout = 300ms;
        const auto start = steady::now();
        const std::string message = error_of([&] { (void)make_redis_storage(options); }, storage_errc::unavailable);
        const auto elapsed = steady::now() - start;
        CHECK(elapsed >= 250ms);
        CHECK(elapsed < 3s);
        CHECK(
            contains(message, "no connection to redis at 127.0.0.1:" + std::to_string(full.port()) + " within 300 ms"));
    }
    SUBCASE("a socket that accepts and never answers: command timeout") {
        loopback_socket silent(16);
        redis_storage_options options;
        options.port = silent.port();
        options.command_timeout = 300ms;
        const auto start = steady::now();
        const std::string message = error_of([&] { (void)make_redis_storage(options); }, storage_errc::unavailable);
        const auto elapsed = steady::now() - start;
        CHECK(elapsed >= 250ms);
        CHECK(elapsed < 3s);
        CHECK(
            contains(message, "no answer from redis at 127.0.0.1:" + std::to_string(silent.port()) + " within 300 ms"));
    }
}

TEST_CASE("a command that gets no answer in time fails; its connection is dropped and the next call works") {
    redis_server server;
    redis_storage_options options = options_for(server);
    options.command_timeout = 200ms;
    options.pool_size = 1;
    auto store = make_redis_storage(options);
    store->set("k", "before");

    redis_client admin(server.port());
    admin.command({"CLIENT", "PAUSE", "1500", "ALL"});
    const auto start = steady::now();
    const std::string message = error_of([&] { store->set("k", "during-pause-SECRET"); }, storage_errc::unavailable);
    CHECK(steady::now() - start < 1200ms);
    CHECK(contains(message, "no answer from redis at 127.0.0.1:" + port_text(server) + " within 200 ms"));
    CHECK(contains(message, "may or may not have taken effect"));
    CHECK(contains(message, "redis set 'k'"));
    CHECK_FALSE(contains(message, "SECRET"));

    std::this_thread::sleep_for(1500ms); // the pause ends
    store->set("k", "after");
    CHECK(store->get("k") == "after");
}

TEST_CASE("a command in flight when the server dies fails; later calls reconnect to the restarted server") {
    redis_server server;
    redis_storage_options options = options_for(server);
    options.command_timeout = 5s;
    options.connect_timeout = 500ms;
    auto store = make_redis_storage(options);
    store->set("k", "v");

    redis_client admin(server.port());
    admin.command({"CLIENT", "PAUSE", "10000", "ALL"}); // holds the next command in flight
    auto in_flight = std::async(std::launch::async, [&]() -> std::pair<std::error_code, std::string> {
        try {
            (void)store->compare_and_set("k", "v", "w");
        } catch (const error& e) {
            return {e.code(), e.what()};
        }
        return {};
    });
    std::this_thread::sleep_for(200ms);
    const auto killed = steady::now();
    server.stop(SIGKILL);
    const auto [code, message] = in_flight.get();
    CHECK(steady::now() - killed < 2s);
    CHECK(code == storage_errc::unavailable);
    CHECK(contains(message, "redis compare_and_set 'k'"));
    CHECK(contains(message, "may or may not have taken effect"));

    // While the server is down every call fails at once with the same code.
    CHECK(contains(error_of([&] { (void)store->get("k"); }, storage_errc::unavailable), "cannot connect"));

    server.restart(); // no persistence: an empty server
    CHECK_FALSE(store->get("k").has_value());
    store->set("k", "again");
    CHECK(store->get("k") == "again");

    // A restart while the store sits idle costs no call at all: pooled connections the server
    // closed are noticed before use and replaced.
    server.restart();
    store->set("k", "after an idle restart");
    CHECK(store->get("k") == "after an idle restart");
}

namespace {

/// Just enough of a Redis server to answer the store's INFO at open, then to read one command of
/// any other kind, count it and close the connection without a reply: a server that applied a
/// command and died before answering.
class vanishing_server {
public:
    vanishing_server() : listener_(16) {
        thread_ = std::thread([this] { serve(); });
    }
    ~vanishing_server() {
        stop_ = true;
        thread_.join();
    }
    vanishing_server(const vanishing_server&) = delete;
    vanishing_server& operator=(const vanishing_server&) = delete;

    [[nodiscard]] std::uint16_t port() const { return listener_.port(); }
    /// Commands received (other than INFO), over all connections.
    [[nodiscard]] int commands() const { return commands_.load(); }

private:
    void serve() {
        while (!stop_) {
            pollfd pfd{listener_.fd(), POLLIN, 0};
            if (::poll(&pfd, 1, 20) <= 0) continue;
            const int fd = ::accept(listener_.fd(), nullptr, nullptr);
            if (fd < 0) continue;
            std::string received;
            char buffer[4096];
            for (;;) {
                const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
                if (n <= 0) break;
                received.append(buffer, static_cast<std::size_t>(n));
                if (contains(received, "\r\nINFO\r\n") && contains(received, "\r\nserver\r\n")) {
                    const std::string info = "# Server\r\nredis_version:7.0.0\r\n";
                    const std::string reply = "$" + std::to_string(info.size()) + "\r\n" + info + "\r\n";
                    (void)::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
                    received.clear();
                } else if (received.size() > 4 && received.substr(received.size() - 2) == "\r\n") {
                    ++commands_;
                    break;
                }
            }
            ::close(fd);
        }
    }

    loopback_socket listener_;
    std::atomic<bool> stop_{false};
    std::atomic<int> commands_{0};
    std::thread thread_;
};

} // namespace

TEST_CASE("a write whose connection breaks before the reply is reported, never sent again") {
    vanishing_server server;
    redis_storage_options options;
    options.port = server.port();
    options.command_timeout = 2s;
    auto store = make_redis_storage(options);

    const std::string message = error_of([&] { store->set("k", "v"); }, storage_errc::unavailable);
    CHECK(contains(message, "closed the connection; the command may or may not have taken effect"));
    CHECK(server.commands() == 1);
    (void)error_of([&] { (void)store->compare_and_set("k", std::nullopt, "v"); }, storage_errc::unavailable);
    CHECK(server.commands() == 2);
    (void)error_of([&] { (void)store->remove("k"); }, storage_errc::unavailable);
    CHECK(server.commands() == 3);
}

TEST_CASE("a server killed and restarted mid-workload loses nothing acknowledged") {
    redis_server server({"--appendonly", "yes", "--appendfsync", "always"});
    redis_storage_options options = options_for(server);
    options.connect_timeout = 500ms;
    options.command_timeout = 3s;
    options.pool_size = 4;
    auto store = make_redis_storage(options);

    constexpr int writers = 4;
    struct tally {
        std::vector<std::pair<std::string, std::string>> acknowledged;
        std::atomic<int> acknowledged_count{0};
        std::atomic<int> after_restart{0};
        std::vector<std::string> failures;
        int foreign_errors = 0;
    };
    std::vector<tally> tallies(writers + 1);
    std::atomic<bool> stop{false};
    std::atomic<bool> restarted{false};
    long cas_acknowledged = 0;
    long cas_unknown = 0;

    std::vector<std::thread> threads;
    for (int t = 0; t < writers; ++t) {
        threads.emplace_back([&, t] {
            tally& mine = tallies[static_cast<std::size_t>(t)];
            for (int i = 0; !stop; ++i) {
                const std::string key = "w" + std::to_string(t) + ":" + std::to_string(i);
                const std::string value =
                    "value-" + std::to_string(t) + "-" + std::to_string(i) + std::string("\0\xff", 2);
                const bool after = restarted.load();
                try {
                    store->set(key, value);
                    mine.acknowledged.emplace_back(key, value);
                    ++mine.acknowledged_count;
                    if (after) ++mine.after_restart;
                } catch (const error& e) {
                    if (e.code() == storage_errc::unavailable) {
                        mine.failures.emplace_back(e.what());
                    } else {
                        ++mine.foreign_errors;
                    }
                    std::this_thread::sleep_for(2ms);
                }
            }
        });
    }
    // A counter raised by compare_and_set: a call whose outcome is unknown (the connection broke)
    // may or may not have raised it, but one that returned true certainly did, and nothing raises
    // it twice. A hidden retry of an applied compare_and_set would return false and make this
    // loop raise the counter again, beyond acknowledged + unknown.
    threads.emplace_back([&] {
        tally& mine = tallies[writers];
        while (!stop) {
            bool swapping = false;
            try {
                const auto current = store->get("counter");
                const long value = current ? std::stol(*current) : 0;
                swapping = true;
                if (store->compare_and_set("counter", current, std::to_string(value + 1))) ++cas_acknowledged;
            } catch (const error& e) {
                if (e.code() == storage_errc::unavailable) {
                    mine.failures.emplace_back(e.what());
                    if (swapping) ++cas_unknown;
                } else {
                    ++mine.foreign_errors;
                }
                std::this_thread::sleep_for(2ms);
            }
        }
    });

    const auto wait_for = [&](auto done, std::chrono::seconds limit) {
        const auto deadline = steady::now() + limit;
        while (!done() && steady::now() < deadline)
            std::this_thread::sleep_for(10ms);
        return done();
    };
    const bool warmed_up = wait_for(
        [&] {
            for (int t = 0; t < writers; ++t) {
                if (tallies[static_cast<std::size_t>(t)].acknowledged_count < 20) return false;
            }
            return true;
        },
        20s);
    server.stop(SIGKILL);
    std::this_thread::sleep_for(300ms);
    server.restart();
    restarted = true;
    const bool recovered = wait_for(
        [&] {
            for (int t = 0; t < writers; ++t) {
                if (tallies[static_cast<std::size_t>(t)].after_restart < 20) return false;
            }
            return true;
        },
        20s);
    stop = true;
    for (auto& thread : threads)
        thread.join();

    CHECK(warmed_up);
    CHECK(recovered);
    std::size_t failures = 0;
    std::size_t in_flight = 0;
    for (const auto& mine : tallies) {
        CHECK(mine.foreign_errors == 0);
        failures += mine.failures.size();
        for (const auto& message : mine.failures) {
            CHECK_FALSE(contains(message, "value-"));
            if (contains(message, "may or may not have taken effect")) ++in_flight;
        }
    }
    CHECK(failures > 0);
    MESSAGE(failures << " calls failed while the server was down (" << in_flight << " of them in flight)");

    std::size_t checked = 0;
    for (int t = 0; t < writers; ++t) {
        for (const auto& [key, value] : tallies[static_cast<std::size_t>(t)].acknowledged) {
            const auto stored = store->get(key);
            CHECK_MESSAGE(stored == value, "acknowledged write of " << key << " lost");
            ++checked;
        }
    }
    MESSAGE(checked << " acknowledged writes checked after the restart");
    const auto counter = store->get("counter");
    REQUIRE(counter.has_value());
    CHECK(std::stol(*counter) >= cas_acknowledged);
    CHECK(std::stol(*counter) <= cas_acknowledged + cas_unknown);
}

TEST_CASE("entries are plain strings under the plain key: any bytes, readable and writable by others") {
    auto& server = shared_redis_server();
    server.flush_all();
    auto store = make_redis_storage(options_for(server));
    redis_client raw(server.port());

    const std::string key("sess\0ion:\xff\x01", 11);
    const std::string value = std::string("\0\xff\x00\xfe tail", 10) + std::string(1000, '\xff');
    store->set(key, value);
    CHECK(raw.text({"GET", key}) == value);
    store->set("empty", "");
    CHECK(raw.integer({"EXISTS", "empty"}) == 1);
    CHECK(raw.text({"GET", "empty"}) == "");

    // Written by another program with SET (as a Node IStorage over Redis does), with its own TTL.
    raw.command({"SET", "solidClientAuthenticationUser:abc", "{\"issuer\":\"https://idp\"}", "EX", "100"});
    raw.command({"SET", std::string("raw\0key", 7), std::string("\xff\0", 2)});
    CHECK(store->get("solidClientAuthenticationUser:abc") == "{\"issuer\":\"https://idp\"}");
    CHECK(store->get(std::string("raw\0key", 7)) == std::string("\xff\0", 2));
    std::map<std::string, std::string> listed;
    store->for_each("", [&](std::string_view k, std::string_view v) { listed.emplace(k, v); });
    CHECK(listed.size() == 4);
    CHECK(listed[key] == value);
}

TEST_CASE("keys of other types are not entries: never listed or removed by prefix; get names the key") {
    auto& server = shared_redis_server();
    server.flush_all();
    auto store = make_redis_storage(options_for(server));
    redis_client raw(server.port());
    raw.command({"HSET", "p:hash", "field", "hash-value-SECRET"});
    raw.command({"SADD", "p:set", "member"});
    store->set("p:string", "v");

    CHECK(store->keys("p:") == std::vector<std::string>{"p:string"});
    const std::string message = error_of([&] { (void)store->get("p:hash"); }, storage_errc::corrupt_record);
    CHECK(contains(message, "'p:hash'"));
    CHECK_FALSE(contains(message, "SECRET"));
    (void)error_of([&] { (void)store->compare_and_set("p:hash", std::nullopt, "x"); }, storage_errc::corrupt_record);
    CHECK(store->remove_prefix("p:") == 1);
    CHECK(raw.integer({"EXISTS", "p:hash", "p:set"}) == 2);
}

TEST_CASE("glob metacharacters in prefixes are matched literally") {
    auto& server = shared_redis_server();
    server.flush_all();
    redis_storage_options options = options_for(server);
    options.scan_count = 7; // many SCAN steps
    auto store = make_redis_storage(options);
    const std::vector<std::string> keys = {"a*b:1",
                                           "a?b:1",
                                           "a[b]:1",
                                           "a\\b:1",
                                           "axb:1",
                                           "ab:1",
                                           "a[bc]:1",
                                           "a]:1",
                                           "a^b:1",
                                           "a-b:1",
                                           "a*",
                                           "*",
                                           "?",
                                           "[",
                                           "\\",
                                           "\\\\x",
                                           std::string("a\0*", 3)};
    for (const auto& key : keys)
        store->set(key, "v");
    const auto listed = [&](std::string_view prefix) {
        const auto found = store->keys(prefix);
        return std::set<std::string>(found.begin(), found.end());
    };
    CHECK(listed("a*b") == std::set<std::string>{"a*b:1"});
    CHECK(listed("a?b") == std::set<std::string>{"a?b:1"});
    CHECK(listed("a[b]") == std::set<std::string>{"a[b]:1"});
    CHECK(listed("a[b") == std::set<std::string>{"a[b]:1", "a[bc]:1"});
    CHECK(listed("a\\") == std::set<std::string>{"a\\b:1"});
    CHECK(listed("a]") == std::set<std::string>{"a]:1"});
    CHECK(listed("a*") == std::set<std::string>{"a*b:1", "a*"});
    CHECK(listed("*") == std::set<std::string>{"*"});
    CHECK(listed("?") == std::set<std::string>{"?"});
    CHECK(listed("[") == std::set<std::string>{"["});
    CHECK(listed("\\") == std::set<std::string>{"\\", "\\\\x"});
    CHECK(listed(std::string("a\0", 2)) == std::set<std::string>{std::string("a\0*", 3)});

    CHECK(store->remove_prefix("a[b") == 2);
    CHECK(store->remove_prefix("*") == 1);
    CHECK(store->remove_prefix("a?") == 1);
    CHECK(listed("a").size() == 9);
    CHECK(store->get("axb:1") == "v");
}

TEST_CASE("a key that SCAN returns twice is visited once") {
    // SCAN returns every key present throughout at least once, and returns keys again when the key
    // table shrinks during the iteration. Made certain here: the first step (COUNT 10) covers under
    // 32 of the 65 536 slots, so after the table shrinks to 2 048 slots the cursor maps to slot 0
    // and the iteration starts over, returning the first step's keys a second time. A raw SCAN
    // beside the store's proves it happened.
    redis_server server({"--hz", "100", "--enable-debug-command", "local"});
    redis_client raw(server.port());
    constexpr int total = 52'000;
    constexpr int kept = 2'000;
    raw.command(
        {"EVAL", "for i = 1, tonumber(ARGV[1]) do redis.call('SET', 'k:' .. i, 'v') end", "0", std::to_string(total)});
    const auto table_size = [&] {
        const auto stats = raw.text({"DEBUG", "HTSTATS", "0"}).value_or("");
        if (contains(stats, "rehashing")) return 0L; // still moving between tables
        const auto at = stats.find("table size: ");
        return at == std::string::npos ? 0L : std::stol(stats.substr(at + 12));
    };
    const auto wait_table = [&](long size) {
        const auto deadline = steady::now() + 10s;
        while (table_size() != size && steady::now() < deadline)
            std::this_thread::sleep_for(10ms);
        return table_size() == size;
    };
    REQUIRE(wait_table(65536));

    // The store's first SCAN step sees the same table as this one, so returns the same keys.
    auto first = raw.command({"SCAN", "0", "MATCH", "k:*", "COUNT", "10", "TYPE", "string"});
    const std::string cursor(first->element[0]->str, first->element[0]->len);
    std::vector<std::string> first_page;
    for (std::size_t i = 0; i < first->element[1]->elements; ++i)
        first_page.emplace_back(first->element[1]->element[i]->str, first->element[1]->element[i]->len);
    REQUIRE_FALSE(first_page.empty());
    std::set<std::string> keep(first_page.begin(), first_page.end());
    for (int i = 1; i <= kept; ++i)
        keep.insert("k:" + std::to_string(i));

    redis_storage_options options = options_for(server);
    options.scan_count = 10;
    auto store = make_redis_storage(options);
    std::map<std::string, int> visits;
    std::size_t raw_repeats = 0;
    store->for_each_key("k:", [&](std::string_view key) {
        if (visits.empty()) {
            // Between the store's first and second step: delete all but `keep`, let the table
            // shrink, and finish the raw SCAN from the same cursor.
            std::vector<std::string> args = {
                "EVAL",
                "for i = 1, tonumber(ARGV[1]) do local k = 'k:' .. i "
                "if redis.call('SISMEMBER', KEYS[1], k) == 0 then redis.call('UNLINK', k) end end",
                "1", "keep-set", std::to_string(total)};
            std::vector<std::string> sadd = {"SADD", "keep-set"};
            sadd.insert(sadd.end(), keep.begin(), keep.end());
            raw.command(sadd);
            raw.command(args);
            raw.command({"UNLINK", "keep-set"});
            REQUIRE(wait_table(2048));
            std::string next = cursor;
            do {
                auto page = raw.command({"SCAN", next, "MATCH", "k:*", "COUNT", "10", "TYPE", "string"});
                next.assign(page->element[0]->str, page->element[0]->len);
                for (std::size_t i = 0; i < page->element[1]->elements; ++i) {
                    const std::string k(page->element[1]->element[i]->str, page->element[1]->element[i]->len);
                    if (std::find(first_page.begin(), first_page.end(), k) != first_page.end()) ++raw_repeats;
                }
            } while (next != "0");
        }
        ++visits[std::string(key)];
    });
    REQUIRE_MESSAGE(raw_repeats > 0, "the scenario did not make SCAN repeat keys");
    MESSAGE("SCAN returned " << raw_repeats << " keys a second time");
    for (const auto& [key, count] : visits)
        CHECK_MESSAGE(count == 1, key << " visited " << count << " times");
    for (const auto& key : keep)
        CHECK_MESSAGE(visits.count(key) == 1, key << " present throughout but not visited");
}

TEST_CASE("compare_and_set under contention: one winner per lease, across threads and processes") {
    auto& server = shared_redis_server();
    server.flush_all();

    SUBCASE("16 threads race for a lease, 100 rounds") {
        constexpr int threads = 16;
        constexpr int rounds = 100;
        auto store = make_redis_storage(options_for(server));
        std::vector<std::atomic<int>> winners(rounds);
        std::barrier sync(threads);
        std::vector<std::thread> racers;
        for (int t = 0; t < threads; ++t) {
            racers.emplace_back([&, t] {
                const std::string me = "holder-" + std::to_string(t);
                for (int r = 0; r < rounds; ++r) {
                    const std::string lease = "lease:" + std::to_string(r);
                    sync.arrive_and_wait();
                    if (store->compare_and_set(lease, std::nullopt, me, store->now() + 60s)) {
                        ++winners[static_cast<std::size_t>(r)]; // one writer per round if atomic
                    }
                }
            });
        }
        for (auto& racer : racers)
            racer.join();
        for (int r = 0; r < rounds; ++r)
            CHECK_MESSAGE(winners[static_cast<std::size_t>(r)].load() == 1, "round " << r);
    }
    SUBCASE("4 processes x 500 increments, one connection each") {
        constexpr int processes = 4;
        constexpr int rounds = 500;
        std::vector<std::unique_ptr<child_process>> children;
        for (int p = 0; p < processes; ++p) {
            children.push_back(std::make_unique<child_process>(std::vector<std::string>{
                storage_worker_path(), server.uri(3) + "?pool=1", "cas-increment", "counter", std::to_string(rounds)}));
        }
        for (auto& child : children) {
            const std::string line = child->read_line(120'000);
            CHECK_MESSAGE(line.rfind("done ", 0) == 0, "worker said: '" << line << "'");
            CHECK(child->wait() == 0);
        }
        CHECK(open_storage(server.uri(3))->get("counter") == std::to_string(processes * rounds));
    }
}

TEST_CASE("native expiry: Redis removes entries itself, at the instant the store asked for") {
    auto& server = shared_redis_server();
    server.flush_all();
    redis_client raw(server.port());

    SUBCASE("system clock: the very instant") {
        auto store = make_redis_storage(options_for(server));
        const time_point in_an_hour = std::chrono::system_clock::now() + 1h;
        store->set("long", "v", in_an_hour);
        CHECK(raw.integer({"PEXPIRETIME", "long"}) == epoch_ms(in_an_hour));
        CHECK(raw.integer({"PTTL", "long"}) > 3'500'000);

        const auto before = steady::now();
        store->set("short", "v", std::chrono::system_clock::now() + 300ms);
        CHECK(raw.integer({"PTTL", "short"}) <= 300);
        while (raw.integer({"EXISTS", "short"}) == 1 && steady::now() - before < 5s)
            std::this_thread::sleep_for(10ms);
        CHECK(raw.integer({"EXISTS", "short"}) == 0); // gone from Redis itself, no store call involved
        CHECK(steady::now() - before >= 290ms);

        store->set("renewed", "v", std::chrono::system_clock::now() + 1h);
        store->set("renewed", "v");
        CHECK(raw.integer({"PTTL", "renewed"}) == -1);
        CHECK(store->compare_and_set("renewed", "v", "w", std::chrono::system_clock::now() + 1h));
        CHECK(raw.integer({"PTTL", "renewed"}) > 3'500'000);
    }
    SUBCASE("a clock far from real time: durations kept, the store's clock decides visibility") {
        manual_clock clock; // 2026-01-01, long before or after the real date
        redis_storage_options options = options_for(server);
        options.clock = clock.function();
        auto store = make_redis_storage(options);
        store->set("k", "v", clock.now() + 5s);
        const long long ttl = raw.integer({"PTTL", "k"});
        CHECK(ttl > 4000);
        CHECK(ttl <= 5000);
        CHECK(store->get("k") == "v");
        clock.advance(5s);
        CHECK_FALSE(store->get("k").has_value());
        CHECK(raw.integer({"EXISTS", "k"}) == 1); // still in Redis: real time has not moved 5 s
        CHECK(store->purge_expired() == 1);
        CHECK(raw.integer({"EXISTS", "k"}) == 0);
    }
}

TEST_CASE("scripts flushed from the server's cache are sent again") {
    auto& server = shared_redis_server();
    server.flush_all();
    auto store = make_redis_storage(options_for(server));
    store->set("k", "v");
    CHECK(store->get("k") == "v");
    redis_client raw(server.port());
    raw.command({"SCRIPT", "FLUSH"});
    CHECK(store->get("k") == "v");
    CHECK(store->compare_and_set("k", "v", "w"));
    CHECK(store->keys() == std::vector<std::string>{"k"});
    CHECK(store->remove_prefix("") == 1);
}

TEST_CASE("the pool never opens more than pool_size connections") {
    auto& server = shared_redis_server();
    server.flush_all();
    redis_storage_options options = options_for(server);
    options.pool_size = 2;
    auto store = make_redis_storage(options);
    redis_client raw(server.port());
    const auto clients = [&] {
        const auto info = raw.text({"INFO", "clients"}).value_or("");
        const auto at = info.find("connected_clients:");
        return std::stol(info.substr(at + 18));
    };
    std::atomic<long> most{0};
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        redis_client watch(server.port());
        while (!done) {
            const auto info = watch.text({"INFO", "clients"}).value_or("");
            const long n = std::stol(info.substr(info.find("connected_clients:") + 18));
            long seen = most.load();
            while (n > seen && !most.compare_exchange_weak(seen, n)) {
            }
            std::this_thread::sleep_for(1ms);
        }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 300; ++i)
                store->set("k" + std::to_string(t), std::to_string(i));
        });
    }
    for (auto& thread : threads)
        thread.join();
    done = true;
    watcher.join();
    // The store's two, this test's raw client and the watcher.
    CHECK(most.load() <= 4);
    CHECK(clients() <= 4);
}
