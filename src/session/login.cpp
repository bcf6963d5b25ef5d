// Logging in: the authorization-code flow (PKCE S256, DPoP), the three kinds of client (static,
// Solid-OIDC Client Identifier Document, dynamic registration reused from the store), and
// client-credentials sessions.
//
// A pending login lives under a key of its own, "multisession:login:<state>", with an expiry: the
// session record is written only when the login completes, so a login abandoned halfway leaves
// nothing behind but an entry that expires, and a new login for an existing session id never
// touches the live session until it has succeeded.
#include "session/engine.hpp"
#include "session/record_store.hpp"

#include "core/current_error.hpp"
#include "core/printable.hpp"
#include "oidc/jose_openssl.hpp"
#include "oidc/jwt.hpp"
#include "oidc/wire_login.hpp"
#include "oidc/wire_url.hpp"

#include <nlohmann/json.hpp>

#include <future>

namespace multisession {
namespace session_detail {

namespace {

std::string hex_sha256(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : oidc::detail::sha256(text)) {
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
    return out;
}

std::string_view client_type_name(client_config::kind kind) {
    switch (kind) {
    case client_config::kind::static_client:
        return "static";
    case client_config::kind::solid_oidc:
        return "solid-oidc";
    case client_config::kind::dynamic:
        break;
    }
    return "dynamic";
}

oidc::client_type client_type_of(client_config::kind kind) {
    switch (kind) {
    case client_config::kind::static_client:
        return oidc::client_type::static_client;
    case client_config::kind::solid_oidc:
        return oidc::client_type::solid_oidc;
    case client_config::kind::dynamic:
        break;
    }
    return oidc::client_type::dynamic;
}

/// A client for the login: the configured one, or a dynamic registration, reused from the store
/// while it lasts (RFC 7591 client_secret_expires_at). Concurrent first logins may both register;
/// the first stored registration wins and the other is dropped unused.
struct login_client {
    oidc::client_info info;
    std::optional<std::int64_t> expires_at; ///< seconds since the epoch, 0 = never (dynamic only)
    std::optional<std::string> id_token_alg;
};

login_client dynamic_client(engine& eng, const login_options& options) {
    auto& store = *eng.store;
    const auto key = std::string(client_prefix) +
                     hex_sha256(options.issuer + '\n' + options.redirect_url + '\n' + options.client.client_name);
    const auto read = [](const std::string& text) -> std::optional<login_client> {
        const auto doc = nlohmann::json::parse(text, nullptr, false);
        if (!doc.is_object() || !doc.contains("client_id") || !doc["client_id"].is_string()) return std::nullopt;
        login_client c;
        c.info.client_id = doc["client_id"].get<std::string>();
        if (doc.contains("client_secret") && doc["client_secret"].is_string())
            c.info.client_secret = doc["client_secret"].get<std::string>();
        c.info.type = oidc::client_type::dynamic;
        c.expires_at = doc.value("expires_at", std::int64_t{0});
        if (doc.contains("id_token_alg") && doc["id_token_alg"].is_string())
            c.id_token_alg = doc["id_token_alg"].get<std::string>();
        return c;
    };
    if (auto stored = store.get(key)) {
        if (auto c = read(*stored)) return *c;
        store.remove(key); // unreadable: register again
    }

    oidc::registration_request request;
    request.redirect_uris = {options.redirect_url};
    request.client_name = options.client.client_name;
    request.scope = options.scope;
    auto registered = await_provider<oidc::registered_client>(
        eng, "client registration at " + detail::printable(options.issuer, 200), [&](auto done) {
            eng.core->provider().async_register(options.issuer, request, std::move(done));
        });

    nlohmann::json doc = {{"client_id", registered.client_id}, {"expires_at", registered.client_secret_expires_at}};
    if (registered.client_secret) doc["client_secret"] = *registered.client_secret;
    if (registered.id_token_signed_response_alg) doc["id_token_alg"] = *registered.id_token_signed_response_alg;
    std::optional<time_point> expiry;
    if (registered.client_secret_expires_at > 0)
        expiry = from_epoch_ms(registered.client_secret_expires_at * 1000);
    if (!store.compare_and_set(key, std::nullopt, doc.dump(), expiry)) {
        if (auto stored = store.get(key))
            if (auto c = read(*stored)) return *c;
    }
    login_client c;
    c.info = {registered.client_id, registered.client_secret, oidc::client_type::dynamic};
    c.expires_at = registered.client_secret_expires_at;
    c.id_token_alg = registered.id_token_signed_response_alg;
    return c;
}

login_client client_for(engine& eng, const login_options& options) {
    const auto& config = options.client;
    if (config.type == client_config::kind::dynamic) return dynamic_client(eng, options);
    if (config.client_id.empty())
        throw error(storage_errc::invalid_configuration, "login: the client needs a client_id");
    login_client c;
    c.info = {config.client_id, std::nullopt, client_type_of(config.type)};
    if (config.type == client_config::kind::solid_oidc) {
        // A Client Identifier Document is an https URL (RFC 3986, dereferenced by the provider),
        // and the client is public.
        (void)oidc::check_endpoint_url(config.client_id, eng.options.allow_insecure_loopback);
    } else {
        c.info.client_secret = config.client_secret;
    }
    return c;
}

/// A session id given by the caller, or a new random one.
std::string session_id_for(const std::string& requested) {
    if (requested.empty()) return oidc::random_urlsafe(24);
    check_session_id(requested);
    return requested;
}

/// The session record of a completed login (or client-credentials login).
session_record logged_in_record(engine& eng, const std::string& issuer, const oidc::client_info& client,
                                std::string_view client_type, const oidc::token_set& tokens,
                                const std::optional<oidc::dpop_key>& key, time_point now) {
    session_record r;
    r.issuer = issuer;
    r.client_id = client.client_id;
    r.client_secret = client.client_secret;
    r.client_type = std::string(client_type);
    r.dpop = key.has_value();
    if (key) {
        r.public_key = key->public_jwk_json();
        r.private_key = key->private_jwk_json();
    }
    r.refresh_token = tokens.refresh_token;
    r.is_logged_in = true;
    r.created_at = epoch_ms(now);
    r.updated_at = epoch_ms(now);
    if (tokens.expires_in) r.access_token_expires_at = epoch_ms(now + *tokens.expires_in);
    if (tokens.refresh_token)
        if (const auto lifetime = refresh_token_lifetime(tokens, eng.options)) r.expires_at = epoch_ms(now + *lifetime);
    return r;
}

/// Stores a completed login's record over whatever the id held (a new login replaces the old
/// session), with its WebID entry and index entry, fires `new_tokens` and hands the logged-in
/// session out.
session store_logged_in(engine& eng, const std::string& id, session_record record, const oidc::token_set& tokens,
                        const std::optional<oidc::dpop_key>& key, time_point now) {
    auto& store = *eng.store;
    if (auto previous = store.get(record_key(id))) {
        try {
            const auto old = parse_session_record(id, *previous);
            if (old.webid && old.webid != record.webid) remove_webid_entry(store, *old.webid, id);
        } catch (const error&) {
            // An unreadable previous record has no WebID entry we could find.
        }
    }
    store.set(record_key(id), serialize_session_record(record), record_entry_expiry(record));
    if (record.webid) put_webid_entry(store, *record.webid, id, record);
    if (eng.options.maintain_registered_sessions_index) add_to_index(store, id);

    auto st = state_from_record(eng.shared_from_this(), id, record);
    st->key = key;
    st->logged_in = true;
    st->access_token = tokens.access_token;
    st->token_type = tokens.token_type;
    st->refreshed_at = now;
    if (tokens.expires_in) st->expires_at = now + *tokens.expires_in;
    st->id_token = tokens.id_token;
    eng.emit({session_event_type::new_tokens, id, {}}, st);
    eng.handed_out(st);
    return engine::make_session(std::move(st));
}

/// The WebID of a verified ID token. Throws multisession::error.
std::string verified_webid(engine& eng, const std::string& issuer, const std::string& client_id,
                           const std::string& id_token) {
    auto claims = await_provider<nlohmann::json>(eng, "ID token from " + detail::printable(issuer, 200), [&](auto done) {
        eng.core->provider().async_verify_jwt(issuer, client_id, id_token, std::move(done));
    });
    return oidc::webid_from_claims(claims);
}

} // namespace
} // namespace session_detail

using session_detail::engine;
namespace sd = session_detail;

login_request session_manager::login(const login_options& options) {
    auto& eng = *engine_;
    if (options.issuer.empty()) throw error(storage_errc::invalid_configuration, "login: no issuer");
    (void)oidc::check_endpoint_url(options.redirect_url, true); // any absolute http(s) URL of the app
    if (options.login_ttl <= std::chrono::seconds::zero())
        throw error(storage_errc::invalid_configuration, "login: login_ttl must be positive");
    const auto id = sd::session_id_for(options.session_id);

    auto metadata = sd::await_provider<oidc::provider_client::metadata_ptr>(
        eng, "discovery of " + detail::printable(options.issuer, 200),
        [&](auto done) { eng.core->provider().async_discover(options.issuer, std::move(done)); });
    const auto client = sd::client_for(eng, options);

    const auto pkce = oidc::make_pkce();
    const auto state = oidc::random_urlsafe(32);
    oidc::authorization_request request;
    request.client_id = client.info.client_id;
    request.redirect_uri = options.redirect_url;
    request.scope = options.scope;
    request.state = state;
    request.code_challenge = pkce.challenge;
    request.prompt = options.prompt;
    request.extra_parameters = options.extra_parameters;
    auto url = oidc::authorization_url(*metadata, request);

    // The pending login, in the record layout (so the same reader checks it), plus the session id.
    const auto now = eng.now();
    const auto expires_at = now + options.login_ttl;
    sd::session_record pending;
    pending.issuer = options.issuer;
    pending.client_id = client.info.client_id;
    pending.client_secret = client.info.client_secret;
    pending.client_type = std::string(sd::client_type_name(options.client.type));
    pending.client_expires_at = client.expires_at;
    pending.id_token_signed_response_alg = client.id_token_alg;
    pending.redirect_url = options.redirect_url;
    pending.code_verifier = pkce.verifier;
    pending.dpop = options.dpop;
    pending.created_at = sd::epoch_ms(now);
    pending.expires_at = sd::epoch_ms(expires_at);
    pending.other_fields["sessionId"] = id;
    eng.store->set(std::string(sd::login_prefix) + state, sd::serialize_session_record(pending), expires_at);

    return {id, std::move(url), state, expires_at};
}

session session_manager::handle_incoming_redirect(const std::string& redirect_url) {
    auto& eng = *engine_;
    const auto response = oidc::parse_authorization_response(redirect_url);
    if (!response.state || response.state->empty())
        throw error(oidc_errc::invalid_state, "redirect without a state parameter");

    // Used once: taken out of the store before anything else, so a replayed redirect finds nothing.
    const auto login_key = std::string(sd::login_prefix) + *response.state;
    auto text = eng.store->get(login_key);
    if (!text || !eng.store->compare_and_set(login_key, *text, std::nullopt))
        throw error(oidc_errc::invalid_state, "no pending login for this redirect's state");
    const auto pending = sd::parse_session_record("(pending login)", *text);
    const auto id_it = pending.other_fields.find("sessionId");
    if (!pending.issuer || !pending.client_id || !pending.code_verifier || !pending.redirect_url ||
        id_it == pending.other_fields.end())
        throw error(storage_errc::corrupt_record, "pending login: incomplete record");
    const auto& id = id_it->second;
    const auto& issuer = *pending.issuer;
    const auto context = "login of session '" + sd::printable_id(id) + "'";

    if (response.error)
        throw error(oidc_errc::access_denied,
                    context + ": the provider answered " + detail::printable(*response.error, 64));
    // RFC 9207: a response that names its issuer must name ours (a mix-up attack otherwise).
    if (response.iss && *response.iss != issuer)
        throw error(oidc_errc::issuer_mismatch, context + ": the redirect names another issuer");
    if (!response.code || response.code->empty())
        throw error(oidc_errc::invalid_request, context + ": the redirect carries no code");

    const auto client = sd::client_of(pending);
    std::optional<oidc::dpop_key> key;
    if (pending.dpop) key = oidc::dpop_key::generate();
    auto tokens = sd::await_provider<oidc::token_set>(eng, context, [&](auto done) {
        eng.core->provider().async_authorization_code(issuer, client, *response.code, *pending.redirect_url,
                                                      pending.code_verifier->str(), key, std::move(done));
    });
    if (!tokens.id_token) throw error(oidc_errc::malformed_response, context + ": the token response has no ID token");
    const auto webid = sd::verified_webid(eng, issuer, client.client_id, tokens.id_token->str());

    const auto now = eng.now();
    auto record = sd::logged_in_record(eng, issuer, client, pending.client_type.value_or("dynamic"), tokens, key, now);
    record.client_expires_at = pending.client_expires_at;
    record.id_token_signed_response_alg = pending.id_token_signed_response_alg;
    record.redirect_url = pending.redirect_url;
    record.webid = webid;
    return sd::store_logged_in(eng, id, std::move(record), tokens, key, now);
}

session session_manager::login_client_credentials(const client_credentials_options& options) {
    auto& eng = *engine_;
    if (options.issuer.empty() || options.client_id.empty() || options.client_secret.empty())
        throw error(storage_errc::invalid_configuration, "client-credentials login: issuer, client id and secret are required");
    const auto id = sd::session_id_for(options.session_id);
    const auto context = "client-credentials login of session '" + sd::printable_id(id) + "'";
    const oidc::client_info client{options.client_id, options.client_secret, oidc::client_type::static_client};
    std::optional<oidc::dpop_key> key;
    if (options.dpop) key = oidc::dpop_key::generate();
    auto tokens = sd::await_provider<oidc::token_set>(eng, context, [&](auto done) {
        eng.core->provider().async_client_credentials(options.issuer, client, key, options.scope, std::move(done));
    });
    std::optional<std::string> webid;
    if (tokens.id_token) webid = sd::verified_webid(eng, options.issuer, client.client_id, tokens.id_token->str());

    const auto now = eng.now();
    // The refresh token, if the provider sent one, is not kept: the session logs in again with
    // the client credentials, which is what makes it retrievable.
    tokens.refresh_token.reset();
    auto record = sd::logged_in_record(eng, options.issuer, client, "static", tokens, key, now);
    record.grant = std::string(sd::client_credentials_grant);
    record.scope = options.scope;
    record.webid = webid;
    return sd::store_logged_in(eng, id, std::move(record), tokens, key, now);
}

} // namespace multisession
