// list, show, stats: reading a store without changing it.
#include "cli_commands.hpp"
#include "cli_output.hpp"
#include "cli_records.hpp"

#include <algorithm>
#include <array>
#include <iomanip>
#include <iostream>
#include <map>

namespace multisession::cli {
namespace {

namespace sd = session_detail;
using ordered_json = nlohmann::ordered_json;


ordered_json optional_text(const std::optional<std::string>& text) {
    return text ? ordered_json(json_text(*text)) : ordered_json(nullptr);
}

/// A secret in JSON output: whether there is one and its size, nothing of its content.
ordered_json secret_json(const std::optional<std::string>& secret) {
    if (!secret) return nullptr;
    return ordered_json{{"redacted", true}, {"bytes", secret->size()}};
}

std::string secret_text(const std::optional<std::string>& secret) { return secret ? redacted(secret->size()) : "-"; }

/// A "publicKey" that carries private members (a writer's mistake) is a secret too.
bool public_key_is_private(const std::string& jwk_text) {
    const auto jwk = nlohmann::json::parse(jwk_text, nullptr, false);
    if (!jwk.is_object()) return true;
    static constexpr std::array<std::string_view, 7> private_members{"d", "p", "q", "dp", "dq", "qi", "k"};
    return std::any_of(private_members.begin(), private_members.end(),
                       [&](std::string_view m) { return jwk.contains(std::string(m)); });
}

ordered_json time_json(const std::optional<std::int64_t>& ms) {
    return ms ? ordered_json(iso_time_milliseconds(*ms)) : ordered_json(nullptr);
}

ordered_json summary_json(std::string_view id, const classified_record& c) {
    ordered_json o;
    o["id"] = json_text(id);
    const bool readable = c.kind == record_kind::session;
    const auto& r = c.record;
    o["issuer"] = readable ? optional_text(r.issuer) : nullptr;
    o["webid"] = readable ? optional_text(r.webid) : nullptr;
    o["logged-in"] = readable ? ordered_json(r.is_logged_in) : nullptr;
    o["dpop"] = readable ? ordered_json(r.dpop) : nullptr;
    o["has-refresh-token"] = readable ? ordered_json(has_refresh_token(r)) : nullptr;
    o["expiry"] = readable ? time_json(r.access_token_expires_at) : nullptr;
    o["readable"] = readable;
    if (!readable) o["problem"] = c.kind == record_kind::sealed ? "sealed" : "corrupt";
    return o;
}

} // namespace

int run_list(context& ctx) {
    ctx.require_no_positionals();
    auto store = ctx.open_store();
    bool first = true;
    if (ctx.json()) std::cout << "[";
    store->for_each(sd::record_prefix, [&](std::string_view key, std::string_view value) {
        const auto id = sd::session_id_of_key(key);
        if (!id) return;
        const auto c = classify_record(*id, value);
        if (c.kind == record_kind::login_state || c.kind == record_kind::other) return;
        if (ctx.json()) {
            std::cout << (first ? "\n" : ",\n") << dump(summary_json(*id, c));
        } else {
            std::cout << shown_id(*id) << '\n';
        }
        first = false;
    });
    if (ctx.json()) std::cout << (first ? "]\n" : "\n]\n");
    return ctx.exit_status(exit_ok);
}

int run_show(context& ctx) {
    if (ctx.args().positionals.size() != 1) throw usage_error("show takes exactly one session id");
    const std::string& id = ctx.args().positionals.front();
    auto store = ctx.open_store();
    const auto text = store->get(sd::record_key(id));
    if (!text) throw command_error(exit_not_found, "no session '" + shown_id(id) + "'");
    const auto c = classify_record(id, *text);
    switch (c.kind) {
    case record_kind::session:
        break;
    case record_kind::sealed:
        throw command_error(exit_store,
                            "session '" + shown_id(id) + "': the record is encrypted; give the key ring (--keys)");
    case record_kind::corrupt:
        throw command_error(exit_items_failed, c.problem);
    case record_kind::login_state:
        throw command_error(exit_not_found, "no session '" + shown_id(id) + "' (it is a login state record)");
    case record_kind::other:
        throw command_error(exit_not_found, "no session '" + shown_id(id) + "' (the record has no issuer)");
    }
    const auto& r = c.record;
    const auto lease = store->get(sd::lease_key(id));
    const bool public_key_private = r.public_key && public_key_is_private(*r.public_key);

    if (ctx.json()) {
        ordered_json o;
        o["id"] = json_text(id);
        o["key"] = json_text(sd::record_key(id));
        o["issuer"] = optional_text(r.issuer);
        o["webid"] = optional_text(r.webid);
        o["logged-in"] = r.is_logged_in;
        o["dpop"] = r.dpop;
        o["client-id"] = optional_text(r.client_id);
        o["client-type"] = optional_text(r.client_type);
        o["client-name"] = optional_text(r.client_name);
        o["client-secret"] = secret_json(r.client_secret);
        o["client-expires-at"] = r.client_expires_at && *r.client_expires_at > 0
                                     ? ordered_json(iso_time_seconds(*r.client_expires_at))
                                     : ordered_json(nullptr);
        o["refresh-token"] = secret_json(r.refresh_token);
        o["access-token-expires-at"] = time_json(r.access_token_expires_at);
        o["public-key"] = public_key_private ? secret_json(r.public_key) : optional_text(r.public_key);
        o["private-key"] = secret_json(r.private_key);
        o["code-verifier"] = secret_json(r.code_verifier);
        o["redirect-url"] = optional_text(r.redirect_url);
        o["keep-alive"] = optional_text(r.keep_alive);
        o["id-token-signed-response-alg"] = optional_text(r.id_token_signed_response_alg);
        o["created-at"] = time_json(r.created_at);
        o["updated-at"] = time_json(r.updated_at);
        o["expires-at"] = time_json(r.expires_at);
        o["grant"] = optional_text(r.grant);
        o["scope"] = optional_text(r.scope);
        // Application data is the application's: its size, never its content.
        o["data-bytes"] = r.data ? ordered_json(r.data->size()) : ordered_json(nullptr);
        ordered_json others = ordered_json::object();
        for (const auto& [name, value] : r.other_fields)
            others[json_text(name)] = looks_secret(name) ? secret_json(value) : ordered_json(json_text(value));
        o["other-fields"] = std::move(others);
        o["refresh-lease"] = lease ? ordered_json{{"held", true}, {"owner", json_text(*lease)}}
                                   : ordered_json{{"held", false}, {"owner", nullptr}};
        print_json(o);
        return exit_ok;
    }

    auto line = [](std::string_view name, const std::string& value) {
        std::cout << std::left << std::setw(23) << name << ' ' << value << '\n';
    };
    auto text_or_dash = [](const std::optional<std::string>& v) { return v ? printable(*v, 4096) : std::string("-"); };
    auto time_or_dash = [](const std::optional<std::int64_t>& ms) {
        return ms ? iso_time_milliseconds(*ms) : std::string("-");
    };
    line("id", shown_id(id));
    line("issuer", text_or_dash(r.issuer));
    line("webid", text_or_dash(r.webid));
    line("logged in", r.is_logged_in ? "yes" : "no");
    line("dpop", r.dpop ? "yes" : "no");
    line("client id", text_or_dash(r.client_id));
    line("client type", text_or_dash(r.client_type));
    line("client name", text_or_dash(r.client_name));
    line("client secret", secret_text(r.client_secret));
    line("client expires",
         !r.client_expires_at || *r.client_expires_at == 0 ? "never" : iso_time_seconds(*r.client_expires_at));
    line("refresh token", secret_text(r.refresh_token));
    line("access token expires", time_or_dash(r.access_token_expires_at));
    line("public key", public_key_private ? secret_text(r.public_key) : text_or_dash(r.public_key));
    line("private key", secret_text(r.private_key));
    line("code verifier", secret_text(r.code_verifier));
    line("redirect url", text_or_dash(r.redirect_url));
    line("keep alive", text_or_dash(r.keep_alive));
    line("id token alg", text_or_dash(r.id_token_signed_response_alg));
    line("created", time_or_dash(r.created_at));
    line("updated", time_or_dash(r.updated_at));
    line("expires", r.expires_at ? iso_time_milliseconds(*r.expires_at) : std::string("never"));
    if (r.grant) line("grant", printable(*r.grant, 64));
    if (r.scope) line("scope", printable(*r.scope, 256));
    line("application data", r.data ? std::to_string(r.data->size()) + " bytes" : std::string("-"));
    for (const auto& [name, value] : r.other_fields)
        line("field " + printable(name, 64), looks_secret(name) ? redacted(value.size()) : printable(value, 4096));
    line("refresh lease", lease ? "held by " + printable(*lease, 100) : std::string("not held"));
    return exit_ok;
}

int run_stats(context& ctx) {
    ctx.require_no_positionals();
    auto store = ctx.open_store();
    ctx.problems()->silent = true; // counted as "unreadable" below, not printed one by one

    struct counts {
        std::size_t entries = 0, bytes = 0, sessions = 0, logged_in = 0, with_refresh_token = 0, dpop = 0;
        std::size_t corrupt = 0, sealed = 0, login_states = 0, other_records = 0, leases = 0, other_entries = 0;
        std::optional<std::size_t> index_size;
        bool index_unreadable = false;
        std::map<std::string, std::size_t> issuers;
    } n;

    store->for_each("", [&](std::string_view key, std::string_view value) {
        ++n.entries;
        n.bytes += value.size();
        if (auto id = sd::session_id_of_key(key)) {
            const auto c = classify_record(*id, value);
            switch (c.kind) {
            case record_kind::session:
                ++n.sessions;
                if (c.record.is_logged_in) ++n.logged_in;
                if (has_refresh_token(c.record)) ++n.with_refresh_token;
                if (c.record.dpop) ++n.dpop;
                ++n.issuers[json_text(*c.record.issuer)];
                break;
            case record_kind::login_state:
                ++n.login_states;
                break;
            case record_kind::other:
                ++n.other_records;
                break;
            case record_kind::corrupt:
                ++n.corrupt;
                break;
            case record_kind::sealed:
                ++n.sealed;
                break;
            }
        } else if (key.substr(0, sd::lease_prefix.size()) == sd::lease_prefix) {
            ++n.leases;
        } else if (key == sd::registered_sessions_key) {
            try {
                n.index_size = sd::parse_session_index(std::string(value)).size();
            } catch (const error&) {
                n.index_unreadable = true;
            }
        } else {
            ++n.other_entries;
        }
    });
    const std::size_t unreadable = ctx.problems()->count;

    if (ctx.json()) {
        ordered_json o;
        o["entries"] = n.entries;
        o["bytes"] = n.bytes;
        o["sessions"] = n.sessions;
        o["logged-in"] = n.logged_in;
        o["with-refresh-token"] = n.with_refresh_token;
        o["dpop"] = n.dpop;
        o["corrupt"] = n.corrupt;
        o["sealed"] = n.sealed;
        o["unreadable"] = unreadable;
        o["login-states"] = n.login_states;
        o["other-records"] = n.other_records;
        o["leases"] = n.leases;
        o["index"] = n.index_size ? ordered_json(*n.index_size) : ordered_json(nullptr);
        o["index-unreadable"] = n.index_unreadable;
        o["other-entries"] = n.other_entries;
        ordered_json issuers = ordered_json::object();
        for (const auto& [issuer, count] : n.issuers)
            issuers[issuer] = count;
        o["issuers"] = std::move(issuers);
        print_json(o);
        return exit_ok;
    }
    auto line = [](std::string_view name, const std::string& value) {
        std::cout << std::left << std::setw(29) << name << ' ' << value << '\n';
    };
    line("entries", std::to_string(n.entries));
    line("bytes of values", std::to_string(n.bytes));
    line("session records", std::to_string(n.sessions));
    line("  logged in", std::to_string(n.logged_in));
    line("  with refresh token", std::to_string(n.with_refresh_token));
    line("  DPoP-bound", std::to_string(n.dpop));
    line("corrupt records", std::to_string(n.corrupt));
    line("sealed records (no --keys)", std::to_string(n.sealed));
    line("unreadable entries", std::to_string(unreadable));
    line("login state records", std::to_string(n.login_states));
    line("other records", std::to_string(n.other_records));
    line("refresh leases", std::to_string(n.leases));
    line("registered-sessions index", n.index_unreadable ? "unreadable"
                                      : n.index_size     ? std::to_string(*n.index_size) + " ids"
                                                         : "none");
    line("other entries", std::to_string(n.other_entries));
    if (!n.issuers.empty()) {
        std::cout << "sessions per issuer\n";
        for (const auto& [issuer, count] : n.issuers)
            line("  " + printable(issuer, 200), std::to_string(count));
    }
    return exit_ok;
}

} // namespace multisession::cli
