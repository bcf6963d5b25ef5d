#include <multisession/storage/open.hpp>

#include "storage/storage_uri.hpp"

#include <multisession/storage/file.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/prefixed.hpp>
#include <multisession/storage/redis.hpp>
#include <multisession/storage/sqlite.hpp>

#include <algorithm>
#include <charconv>
#include <map>

namespace multisession {
namespace {

[[noreturn]] void bad_uri(std::string_view uri, const std::string& why) {
    throw error(storage_errc::invalid_uri, "storage URI '" + redact_uri(uri) + "': " + why);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view uri, std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        const int hi = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
        const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) bad_uri(uri, "malformed percent-escape");
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

constexpr std::string_view known_schemes[] = {"memory", "file", "sqlite", "redis"};

struct parsed_uri {
    std::string scheme;
    /// What follows "//" up to the path, still percent-encoded; nullopt without "//".
    std::optional<std::string> authority;
    std::string path;
    std::map<std::string, std::string, std::less<>> query;
};

parsed_uri parse(std::string_view uri) {
    parsed_uri out;
    const auto colon = uri.find(':');
    if (colon == std::string_view::npos || colon == 0) bad_uri(uri, "expected <scheme>:<location>");
    out.scheme = std::string(uri.substr(0, colon));
    if (std::find(std::begin(known_schemes), std::end(known_schemes), out.scheme) == std::end(known_schemes))
        bad_uri(uri, "unknown scheme '" + out.scheme + "' (known: memory, file, sqlite, redis)");
    std::string_view rest = uri.substr(colon + 1);

    if (const auto question = rest.find('?'); question != std::string_view::npos) {
        std::string_view query = rest.substr(question + 1);
        rest = rest.substr(0, question);
        while (!query.empty()) {
            const auto amp = query.find('&');
            const std::string_view item = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
            if (item.empty()) continue;
            const auto eq = item.find('=');
            if (eq == std::string_view::npos || eq == 0) bad_uri(uri, "query parameters must be name=value");
            auto name = percent_decode(uri, item.substr(0, eq));
            if (out.query.count(name) != 0) bad_uri(uri, "query parameter '" + name + "' given twice");
            out.query.emplace(std::move(name), percent_decode(uri, item.substr(eq + 1)));
        }
    }
    if (rest.find('#') != std::string_view::npos) bad_uri(uri, "fragments are not allowed");

    if (rest.substr(0, 2) == "//") {
        rest.remove_prefix(2);
        const auto slash = rest.find('/');
        out.authority = std::string(rest.substr(0, slash));
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
        // "scheme:///abs" and "scheme://localhost/abs" are the RFC 8089 spellings of "scheme:/abs".
        if (out.scheme != "redis" && !out.authority->empty() && *out.authority != "localhost")
            bad_uri(uri, "a host is not allowed here; use " + out.scheme + ":/absolute/path");
    }
    out.path = percent_decode(uri, rest);
    if (out.path.find('\0') != std::string::npos) bad_uri(uri, "the path contains a NUL byte");
    return out;
}

/// Decimal digits only, within [min, max]; nullopt otherwise.
std::optional<std::uint64_t> parse_number(std::string_view text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || number < min || number > max)
        return std::nullopt;
    return number;
}

/// redis://[user:password@]host[:port][/db]: fills the connection part of `options`.
void parse_redis_location(std::string_view uri, const parsed_uri& parsed, redis_storage_options& options) {
    if (!parsed.authority || parsed.authority->empty())
        bad_uri(uri, "redis: needs a host, as redis://host:port/db");
    std::string_view authority = *parsed.authority;
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view user_info = authority.substr(0, at);
        authority = authority.substr(at + 1);
        const auto colon = user_info.find(':');
        if (colon == std::string_view::npos)
            bad_uri(uri, "a user name needs a password: redis://user:password@host or redis://:password@host");
        options.user = percent_decode(uri, user_info.substr(0, colon));
        options.password = percent_decode(uri, user_info.substr(colon + 1));
        if (options.password.empty()) bad_uri(uri, "the password is empty");
    }
    std::string_view port;
    if (authority.substr(0, 1) == "[") { // an IPv6 literal
        const auto close = authority.find(']');
        if (close == std::string_view::npos) bad_uri(uri, "unterminated [IPv6 address]");
        options.host = std::string(authority.substr(1, close - 1));
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after[0] != ':') bad_uri(uri, "expected :port after the [IPv6 address]");
        if (!after.empty()) port = after.substr(1);
        if (after == ":") bad_uri(uri, "empty port");
    } else {
        const auto colon = authority.find(':');
        options.host = percent_decode(uri, authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port = authority.substr(colon + 1);
            if (port.empty()) bad_uri(uri, "empty port");
        }
    }
    if (options.host.empty()) bad_uri(uri, "redis: needs a host, as redis://host:port/db");
    if (!port.empty()) {
        const auto number = parse_number(port, 1, 65535);
        if (!number) bad_uri(uri, "the port must be a number from 1 to 65535");
        options.port = static_cast<std::uint16_t>(*number);
    }
    std::string_view path = parsed.path;
    if (!path.empty()) path.remove_prefix(1); // the '/' before the database number
    if (!path.empty()) {
        const auto db = parse_number(path, 0, 2'147'483'647);
        if (!db) bad_uri(uri, "the path must be a database number, as redis://host:port/0");
        options.db = static_cast<unsigned>(*db);
    }
}

/// Takes the query parameters a backend understands, one by one; whatever is left at the end is
/// an error, so a misspelt option never passes silently.
class query_reader {
public:
    query_reader(std::string_view uri, parsed_uri& parsed) : uri_(uri), query_(parsed.query) {}

    std::optional<std::string> take(std::string_view name) {
        auto it = query_.find(name);
        if (it == query_.end()) return std::nullopt;
        std::string value = std::move(it->second);
        query_.erase(it);
        return value;
    }

    std::optional<bool> take_bool(std::string_view name) {
        auto value = take(name);
        if (!value) return std::nullopt;
        if (*value == "true" || *value == "1" || *value == "yes") return true;
        if (*value == "false" || *value == "0" || *value == "no") return false;
        bad_uri(uri_, std::string(name) + " must be true or false");
    }

    std::optional<std::uint64_t> take_count(std::string_view name, std::uint64_t min, std::uint64_t max) {
        auto value = take(name);
        if (!value) return std::nullopt;
        const auto number = parse_number(*value, min, max);
        if (!number)
            bad_uri(uri_, std::string(name) + " must be a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max));
        return number;
    }

    void finish() const {
        if (!query_.empty()) bad_uri(uri_, "unknown query parameter '" + query_.begin()->first + "'");
    }

private:
    std::string_view uri_;
    std::map<std::string, std::string, std::less<>>& query_;
};

} // namespace

namespace detail {

storage_location parse_storage_uri(std::string_view uri) {
    parsed_uri parsed = parse(uri);
    query_reader query(uri, parsed);
    storage_location out;
    out.prefix = query.take("prefix");
    if (out.prefix && out.prefix->empty()) bad_uri(uri, "prefix must not be empty");
    out.scheme = parsed.scheme;

    if (parsed.scheme == "memory") {
        if (!parsed.path.empty()) bad_uri(uri, "memory: takes no path");
    } else if (parsed.scheme == "file") {
        if (parsed.path.empty()) bad_uri(uri, "file: needs a directory, as file:/path/to/dir");
        if (auto durable = query.take_bool("durable")) out.file.durable = *durable;
    } else if (parsed.scheme == "sqlite") {
        if (parsed.path.empty()) bad_uri(uri, "sqlite: needs a file, as sqlite:/path/to/store.db");
        if (auto sync = query.take("synchronous")) {
            if (*sync == "full") {
                out.sqlite.synchronous = sqlite_synchronous::full;
            } else if (*sync == "normal") {
                out.sqlite.synchronous = sqlite_synchronous::normal;
            } else {
                bad_uri(uri, "synchronous must be full or normal");
            }
        }
        if (auto ms = query.take_count("busy_timeout_ms", 0, 3'600'000))
            out.sqlite.busy_timeout = std::chrono::milliseconds(*ms);
        if (auto n = query.take_count("max_connections", 1, 256)) out.sqlite.max_connections = *n;
        if (auto n = query.take_count("page_size", 512, 65536)) {
            if ((*n & (*n - 1)) != 0) bad_uri(uri, "page_size must be a power of two");
            out.sqlite.page_size = *n;
        }
    } else if (parsed.scheme == "redis") {
        parse_redis_location(uri, parsed, out.redis);
        // timeout_ms bounds both the connect and each command; connect_timeout_ms overrides the former.
        if (auto ms = query.take_count("timeout_ms", 1, 3'600'000)) {
            out.redis.command_timeout = std::chrono::milliseconds(*ms);
            out.redis.connect_timeout = std::chrono::milliseconds(*ms);
        }
        if (auto ms = query.take_count("connect_timeout_ms", 1, 3'600'000))
            out.redis.connect_timeout = std::chrono::milliseconds(*ms);
        if (auto n = query.take_count("pool", 1, 1024)) out.redis.pool_size = *n;
    } else {
        bad_uri(uri, "scheme '" + parsed.scheme + "' has no backend");
    }
    query.finish();
    out.path = std::move(parsed.path);
    return out;
}

} // namespace detail

std::shared_ptr<storage> open_storage(std::string_view uri, open_storage_options options) {
    auto location = detail::parse_storage_uri(uri);

    std::shared_ptr<storage> store;
    if (location.scheme == "memory") {
        store = make_memory_storage({std::move(options.clock)});
    } else if (location.scheme == "file") {
        location.file.clock = std::move(options.clock);
        location.file.on_error = options.on_error;
        store = make_file_storage(location.path, std::move(location.file));
    } else if (location.scheme == "sqlite") {
        location.sqlite.clock = std::move(options.clock);
        store = make_sqlite_storage(location.path, std::move(location.sqlite));
    } else {
        location.redis.clock = std::move(options.clock);
        store = make_redis_storage(std::move(location.redis));
    }

    if (options.on_error) store->set_error_handler(options.on_error);
    // The namespace goes outside the encryption, so the encrypted layer binds each value to the
    // full stored key (tenant prefix included): a value cannot be moved between tenants either.
    if (options.encryption) {
        store = make_encrypted_storage(std::move(store), std::move(*options.encryption));
        if (options.on_error) store->set_error_handler(options.on_error);
    }
    if (location.prefix) store = make_prefixed_storage(std::move(store), *location.prefix);
    return store;
}

std::string redact_uri(std::string_view uri) {
    std::string out(uri);
    const auto scheme_end = out.find("://");
    if (scheme_end == std::string::npos) return out;
    const auto authority_begin = scheme_end + 3;
    if (authority_begin >= out.size() || out[authority_begin] == '/') return out; // no authority
    // The user-info ends at the last '@' before the query or fragment: a password that breaks the
    // URI rules with a raw '/' or '@' is still hidden in full, while an '@' in the query is not
    // taken for it.
    const auto limit = out.find_first_of("?#", authority_begin);
    const auto at = out.rfind('@', limit == std::string::npos ? std::string::npos : limit - 1);
    if (at == std::string::npos || at < authority_begin) return out;
    const auto colon = out.find(':', authority_begin);
    if (colon == std::string::npos || colon > at) return out;
    out.replace(colon + 1, at - colon - 1, "***");
    return out;
}

} // namespace multisession
