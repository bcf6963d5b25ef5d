// The embedded test issuer. JOSE work (signing, JWK loading, thumbprints, signature checks) goes
// through the library's own sans-I/O code; the server-side rules (form decoding, Basic credentials,
// grant checks, proof checks) are written here from the specifications, independently of the
// client code the fixture exists to test, so that a client bug is not mirrored by the server.
#include "test_issuer.hpp"

#include "oidc/base64url.hpp"
#include "oidc/dpop.hpp"
#include "oidc/jose_openssl.hpp"
#include "oidc/jose_sign.hpp"
#include "oidc/jwk.hpp"
#include "oidc/jwt.hpp"
#include "oidc/wire_json.hpp"

#include <multisession/error.hpp>

#include <nlohmann/json.hpp>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace multisession::test {
namespace {

namespace oidc = multisession::oidc;
using json = nlohmann::json;
using sys_clock = std::chrono::system_clock;
using std::chrono::seconds;

constexpr std::string_view discovery_path = "/.well-known/openid-configuration";
constexpr std::string_view jwks_path = "/jwks";
constexpr std::string_view token_path = "/token";
constexpr std::string_view authorize_path = "/authorize";
constexpr std::string_view register_path = "/register";
constexpr std::string_view revoke_path = "/revoke";
constexpr std::string_view end_session_path = "/logout";
constexpr std::string_view resource_prefix = "/resource";
/// What wrong_issuer puts in discovery and tokens: an https issuer a client must never accept.
constexpr std::string_view foreign_issuer = "https://evil.example";
constexpr std::string_view default_scope = "openid offline_access webid";
/// The scopes this issuer knows; /authorize grants the requested ones among them and drops the rest.
constexpr std::array<std::string_view, 3> supported_scopes{"openid", "offline_access", "webid"};
constexpr std::array<std::string_view, 3> supported_grant_types{"authorization_code", "refresh_token",
                                                                "client_credentials"};
constexpr std::array<std::string_view, 3> supported_auth_methods{"client_secret_basic", "client_secret_post", "none"};
/// The audience of access tokens, as Solid providers spell it.
constexpr std::string_view access_token_audience = "solid";
/// RFC 9449 leaves the iat window to the server; a minute either way is what providers use.
constexpr seconds proof_iat_window{60};
/// Replay memory: enough for any test, bounded so a benchmark does not grow it without limit.
constexpr std::size_t max_remembered_jtis = 8192;
constexpr std::size_t max_token_records = 256;
constexpr std::size_t max_proof_size = 8 * 1024;
/// 256 bits: refresh tokens, codes; 128 bits: nonces and token ids.
constexpr std::size_t secret_bytes = 32;
constexpr std::size_t id_bytes = 16;
/// How far the expired_id_token / future_id_token faults move the token times.
constexpr seconds id_token_shift{3600};

std::int64_t epoch_seconds(sys_clock::time_point when) {
    return std::chrono::duration_cast<seconds>(when.time_since_epoch()).count();
}

std::string random_string(std::size_t bytes) { return oidc::base64url_encode(oidc::detail::random_bytes(bytes)); }

/// The string member `name` of `object`, or nullopt when it is absent or not a string.
std::optional<std::string> string_member(const json& object, std::string_view name) {
    const auto it = object.find(name);
    if (it == object.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
}

/// Equality that takes the same time wherever the strings first differ: the secret comparison of a
/// real server, kept here so the fixture does not model a timing oracle.
bool same_secret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte; a broken escape fails.
std::optional<std::string> form_urldecode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            const int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
            if (high < 0 || low < 0) return std::nullopt;
            out += static_cast<char>(high * 16 + low);
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

/// application/x-www-form-urlencoded encoding of one name or value: RFC 3986 unreserved bytes as
/// they are, every other byte as %XX (never '+', so the result is also a valid URI query part).
std::string form_urlencode(std::string_view text) {
    constexpr std::string_view hex = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[byte >> 4];
            out += hex[byte & 0x0fu];
        }
    }
    return out;
}

using form_fields = std::map<std::string, std::string, std::less<>>;

/// The fields of a form body, or nullopt when an escape is broken or a name repeats (RFC 6749
/// section 3.2: parameters must not be included more than once).
std::optional<form_fields> parse_form(std::string_view body) {
    form_fields fields;
    while (!body.empty()) {
        const auto amp = body.find('&');
        const auto pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto name = form_urldecode(pair.substr(0, eq));
        auto value = form_urldecode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
        if (!name || !value || !fields.emplace(std::move(*name), std::move(*value)).second) return std::nullopt;
    }
    return fields;
}

const std::string* field(const form_fields& fields, std::string_view name) {
    const auto it = fields.find(name);
    return it == fields.end() ? nullptr : &it->second;
}

/// The query of a request target ("/p?a=1#f" → "a=1"), empty when there is none.
std::string_view query_of(std::string_view target) {
    const auto question = target.find('?');
    if (question == std::string_view::npos) return {};
    const auto query = target.substr(question + 1);
    return query.substr(0, query.find('#'));
}

std::map<std::string, std::string> plain_map(const form_fields& fields) { return {fields.begin(), fields.end()}; }

/// `uri` with `params` form-encoded into its query, after any query it already has (RFC 6749
/// section 3.1.2: the redirection URI's own query is kept).
std::string with_query(std::string uri, const std::vector<std::pair<std::string_view, std::string>>& params) {
    std::string_view separator = uri.find('?') == std::string::npos         ? "?"
                                 : uri.ends_with('?') || uri.ends_with('&') ? ""
                                                                            : "&";
    for (const auto& [name, value] : params) {
        uri += separator;
        separator = "&";
        uri += form_urlencode(name) + "=" + form_urlencode(value);
    }
    return uri;
}

reply redirect_to(std::string location) {
    reply out;
    out.status = 302;
    out.headers.push_back({"Location", std::move(location)});
    // The code travels in the Location header: nothing on the way may keep it.
    out.headers.push_back({"Cache-Control", "no-store"});
    return out;
}

/// RFC 7636 section 4.2: an S256 challenge is base64url(SHA-256) without padding, 43 characters.
bool is_s256_challenge(std::string_view challenge) {
    return challenge.size() == 43 && std::all_of(challenge.begin(), challenge.end(), [](char c) {
               return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_';
           });
}

json string_array(std::span<const std::string_view> values) {
    json out = json::array();
    for (const auto value : values)
        out.push_back(std::string(value));
    return out;
}

bool is_one_of(std::string_view value, std::span<const std::string_view> allowed) {
    return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

/// Standard base64 (RFC 4648 section 4), padding optional; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 == 0 && text.ends_with("=="))
        text.remove_suffix(2);
    else if (text.size() % 4 == 0 && text.ends_with("="))
        text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    unsigned bits = 0;
    int count = 0;
    for (const char c : text) {
        int value = -1;
        if (c >= 'A' && c <= 'Z')
            value = c - 'A';
        else if (c >= 'a' && c <= 'z')
            value = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            value = c - '0' + 52;
        else if (c == '+')
            value = 62;
        else if (c == '/')
            value = 63;
        if (value < 0) return std::nullopt;
        bits = (bits << 6) | static_cast<unsigned>(value);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> count) & 0xffu);
        }
    }
    return out;
}

/// The scheme and the credentials of an Authorization header value ("DPoP abc" → {"DPoP", "abc"}).
std::pair<std::string_view, std::string_view> split_authorization(std::string_view value) {
    const auto space = value.find(' ');
    if (space == std::string_view::npos) return {value, {}};
    auto rest = value.substr(space + 1);
    while (!rest.empty() && rest.front() == ' ')
        rest.remove_prefix(1);
    return {value.substr(0, space), rest};
}

bool has_scope(std::string_view scopes, std::string_view wanted) {
    std::istringstream words{std::string(scopes)};
    for (std::string word; words >> word;)
        if (word == wanted) return true;
    return false;
}

/// Whether every scope of `requested` is among `granted` (RFC 6749 section 6: a refresh may narrow
/// the scope, never widen it).
bool scope_within(std::string_view requested, std::string_view granted) {
    std::istringstream words{std::string(requested)};
    for (std::string word; words >> word;)
        if (!has_scope(granted, word)) return false;
    return true;
}

std::string big_number(EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) throw std::runtime_error("test issuer: cannot read an RSA key");
    const oidc::detail::bn_ptr number(raw);
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(number.get())), '\0');
    BN_bn2bin(number.get(), reinterpret_cast<unsigned char*>(bytes.data()));
    return oidc::base64url_encode(bytes);
}

/// The public JWK of a signing key of any of the three families.
json public_jwk(EVP_PKEY* key, oidc::key_family family) {
    switch (family) {
    case oidc::key_family::ec_p256:
        return oidc::ec_public_jwk(key);
    case oidc::key_family::rsa:
        return {{"kty", "RSA"},
                {"n", big_number(key, OSSL_PKEY_PARAM_RSA_N)},
                {"e", big_number(key, OSSL_PKEY_PARAM_RSA_E)}};
    case oidc::key_family::ed25519: {
        std::string raw(32, '\0');
        std::size_t size = raw.size();
        if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1)
            throw std::runtime_error("test issuer: cannot read an Ed25519 key");
        raw.resize(size);
        return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", oidc::base64url_encode(raw)}};
    }
    }
    throw std::logic_error("test issuer: unknown key family");
}

struct signing_key {
    oidc::detail::shared_pkey key;
    oidc::jws_algorithm algorithm = oidc::jws_algorithm::es256;
    std::string kid;
    json jwk; ///< public, with kid, alg and use
};

signing_key generate_signing_key(oidc::jws_algorithm algorithm) {
    const auto family = oidc::required_family(algorithm);
    EVP_PKEY* raw = nullptr;
    switch (family) {
    case oidc::key_family::ec_p256:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
        break;
    case oidc::key_family::rsa:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048});
        break;
    case oidc::key_family::ed25519:
        raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
        break;
    }
    if (raw == nullptr) throw std::runtime_error("test issuer: OpenSSL cannot generate a signing key");
    signing_key out;
    out.key = oidc::detail::share(oidc::detail::pkey_ptr(raw));
    out.algorithm = algorithm;
    out.kid = random_string(9);
    out.jwk = public_jwk(out.key.get(), family);
    out.jwk["kid"] = out.kid;
    out.jwk["alg"] = std::string(oidc::jws_algorithm_name(algorithm));
    out.jwk["use"] = "sig";
    return out;
}

oidc::jws_algorithm algorithm_named(const std::string& name) {
    const auto alg = oidc::jws_algorithm_from_name(name);
    if (!alg) throw std::invalid_argument("test issuer: unsupported signing algorithm '" + name + "'");
    return *alg;
}

reply oauth_error(int status, std::string_view code, std::string_view description) {
    const json body{{"error", std::string(code)}, {"error_description", std::string(description)}};
    return reply::json(body.dump(), status);
}

reply internal_error() { return reply::text(500, "internal server error (injected)"); }

/// A 401 from the resource with one challenge, e.g. `DPoP error="invalid_token", algs="ES256"`.
reply resource_refusal(std::string_view scheme, std::string_view error_code, std::string_view description) {
    auto out = reply::text(401, "unauthorized: " + std::string(description));
    std::string challenge = std::string(scheme);
    if (!error_code.empty()) challenge += " error=\"" + std::string(error_code) + "\",";
    challenge += scheme == "DPoP" ? " algs=\"ES256\"" : " realm=\"test issuer\"";
    out.headers.push_back({"WWW-Authenticate", std::move(challenge)});
    return out;
}

} // namespace

struct test_issuer::impl {
    struct refresh_grant {
        std::string client_id;
        std::string webid;
        std::string scope;
        std::optional<std::string> jkt;
        std::optional<sys_clock::time_point> expires;
        bool rotated = false;
        bool revoked = false; ///< by POST /revoke; unlike rotated, presenting it is no reuse
    };
    struct code_grant {
        std::string client_id;
        std::string webid;
        std::string redirect_uri;
        std::string code_challenge;
        std::string scope;
        std::optional<std::string> nonce; ///< the authorization request's, echoed in the ID token
    };
    /// presigned_refresh: the answer prepared at mint time for the first redemption of a refresh
    /// token, and the successor that answer hands out (empty when tokens do not rotate).
    struct prepared_answer {
        std::string body;
        std::string successor;
        std::map<std::string, refresh_grant>::iterator grant; // map iterators stay valid
    };
    /// The outcome of checking a DPoP proof.
    struct proof_check {
        enum class verdict { accepted, refused, needs_nonce } outcome = verdict::refused;
        std::string jkt; ///< the proof key's thumbprint, when accepted
        std::string why; ///< for error_description, when refused
    };

    const test_issuer_options options;
    const oidc::jws_algorithm algorithm;

    // Everything below is shared between the server thread (handle) and the test thread.
    mutable std::mutex mutex;
    std::string issuer; ///< set once the server listens
    signing_key key;
    std::map<std::string, test_client> clients;
    std::map<std::string, refresh_grant> refresh_tokens;
    std::map<std::string, prepared_answer, std::less<>> prepared; ///< by refresh token (presigned_refresh)
    std::map<std::string, code_grant> codes;
    issuer_faults faults;
    std::string nonce = random_string(id_bytes);
    std::set<std::string> seen_jtis;
    std::deque<std::string> jti_order;
    issuer_stats stats;
    std::deque<token_request_record> records;
    std::optional<std::string> authorize_user;
    std::optional<std::map<std::string, std::string>> last_authorize;
    std::optional<std::map<std::string, std::string>> last_end_session;
    /// jti → exp of revoked access tokens; an entry is dropped once its token has expired anyway.
    std::map<std::string, std::int64_t> revoked_access;

    explicit impl(test_issuer_options o)
        : options(std::move(o)), algorithm(algorithm_named(options.signing_algorithm)),
          key(generate_signing_key(algorithm)) {}

    sys_clock::time_point now() const { return options.clock ? options.clock() : sys_clock::now(); }

    std::string claimed_issuer() const { return faults.wrong_issuer ? std::string(foreign_issuer) : issuer; }

    std::string store_refresh_token(refresh_grant grant, std::string token = random_string(secret_bytes)) {
        if (options.refresh_token_lifetime.count() > 0) grant.expires = now() + options.refresh_token_lifetime;
        refresh_tokens.emplace(token, std::move(grant));
        return token;
    }

    bool usable(const refresh_grant& grant) const {
        return !grant.rotated && !grant.revoked && (!grant.expires || now() < *grant.expires);
    }

    std::string sign(const json& header, const json& claims) const {
        return oidc::sign_compact_jws(header, claims, key.key.get(), key.algorithm);
    }

    // --- the handler -------------------------------------------------------------------------

    reply handle(const http::request& req) {
        std::lock_guard lock(mutex);
        if (!prepared.empty()) {
            if (auto answer = prepared_token_answer(req)) return std::move(*answer);
        }
        auto out = route(req);
        // Transport misbehaviour goes on top of whatever the endpoint decided.
        if (faults.huge_body_bytes > 0) {
            out.status = 200;
            out.body.clear();
            out.stream_body_bytes = faults.huge_body_bytes;
        }
        out.delay_before_headers = faults.delay;
        out.byte_interval = faults.byte_interval;
        out.close_mid_body = faults.close_mid_body;
        out.never_answer = faults.never_answer;
        return out;
    }

    // --- presigned_refresh (a benchmark mode) ------------------------------------------------

    /// Prepares the answer to the first redemption of `token` (already stored): everything signed
    /// now, so that answering it costs a lookup and a write.
    void prepare_answer(const std::string& token) {
        const auto grant = refresh_tokens.find(token);
        const auto& g = grant->second;
        std::optional<std::string> successor;
        if (options.rotate_refresh_tokens) successor = random_string(secret_bytes);
        auto body = token_success(g.client_id, g.webid, g.scope, g.jkt, has_scope(g.scope, "openid"), successor,
                                  std::nullopt, options.presigned_token_lifetime)
                        .body;
        prepared.insert_or_assign(token, prepared_answer{std::move(body), successor.value_or(std::string{}), grant});
    }

    /// The prepared answer to a POST /token redeeming a prepared, still usable refresh token, or
    /// nullopt for the ordinary path (which refuses a token that is not usable, and counts a
    /// reuse). Deliberately checks nothing else: no client authentication, no DPoP proof.
    std::optional<reply> prepared_token_answer(const http::request& req) {
        const std::string_view target = req.url;
        if (req.method != "POST" || target.substr(0, target.find_first_of("?#")) != token_path) return std::nullopt;
        const auto form = parse_form(req.body);
        const std::string* token = form ? field(*form, "refresh_token") : nullptr;
        if (token == nullptr) return std::nullopt;
        const auto it = prepared.find(*token);
        if (it == prepared.end() || !usable(it->second.grant->second)) return std::nullopt;
        ++stats.token_requests;
        ++stats.tokens_issued;
        auto& grant = it->second.grant->second;
        if (!it->second.successor.empty()) {
            grant.rotated = true;
            auto successor = grant;
            successor.rotated = false;
            store_refresh_token(std::move(successor), std::move(it->second.successor));
        }
        auto out = reply::json(std::move(it->second.body));
        out.headers.push_back({"Cache-Control", "no-store"});
        prepared.erase(it);
        return out;
    }

    reply route(const http::request& req) {
        const std::string_view target = req.url;
        const auto path = target.substr(0, target.find_first_of("?#"));
        if (path == discovery_path) {
            ++stats.discovery_requests;
            if (faults.server_error) return internal_error();
            if (req.method != "GET") return reply::text(405, "method not allowed");
            return json_document(discovery_document());
        }
        if (path == jwks_path) {
            ++stats.jwks_requests;
            if (faults.server_error) return internal_error();
            if (req.method != "GET") return reply::text(405, "method not allowed");
            return json_document(json{{"keys", json::array({key.jwk})}});
        }
        if (path == token_path) return token_endpoint(req);
        if (path == authorize_path) return authorize_endpoint(req, target);
        if (path == register_path && options.advertise_registration) return registration_endpoint(req);
        if (path == revoke_path && options.advertise_revocation) return revocation_endpoint(req);
        if (path == end_session_path && options.advertise_end_session) return end_session_endpoint(req, target);
        if (path == resource_prefix || path.starts_with(std::string(resource_prefix) + "/"))
            return resource(req, std::string(path));
        if (faults.server_error) return internal_error();
        return reply::text(404, "not found");
    }

    reply json_document(const json& document) const {
        if (faults.malformed_json) return reply::json(R"({"this is": not JSON)");
        return reply::json(document.dump());
    }

    json discovery_document() const {
        json doc{
            {"issuer", claimed_issuer()},
            {"authorization_endpoint", issuer + std::string(authorize_path)},
            {"token_endpoint", issuer + std::string(token_path)},
            {"jwks_uri", issuer + std::string(jwks_path)},
            {"token_endpoint_auth_methods_supported", options.token_endpoint_auth_methods},
            {"id_token_signing_alg_values_supported", json::array({options.signing_algorithm})},
            {"grant_types_supported", string_array(supported_grant_types)},
            {"response_types_supported", json::array({"code"})},
            {"scopes_supported", string_array(supported_scopes)},
            {"code_challenge_methods_supported", json::array({"S256"})},
            {"subject_types_supported", json::array({"public"})},
        };
        if (options.advertise_dpop) doc["dpop_signing_alg_values_supported"] = json::array({"ES256"});
        if (options.advertise_registration) doc["registration_endpoint"] = issuer + std::string(register_path);
        if (options.advertise_revocation) {
            doc["revocation_endpoint"] = issuer + std::string(revoke_path);
            doc["revocation_endpoint_auth_methods_supported"] = options.token_endpoint_auth_methods;
        }
        if (options.advertise_end_session) doc["end_session_endpoint"] = issuer + std::string(end_session_path);
        return doc;
    }

    // --- DPoP proofs (RFC 9449 section 4.3) --------------------------------------------------

    bool remember_jti(const std::string& jti) {
        if (!seen_jtis.insert(jti).second) return false;
        jti_order.push_back(jti);
        if (jti_order.size() > max_remembered_jtis) {
            seen_jtis.erase(jti_order.front());
            jti_order.pop_front();
        }
        return true;
    }

    proof_check check_proof(const http::request& req, const std::string& htu,
                            std::optional<std::string_view> access_token) {
        using verdict = proof_check::verdict;
        const auto refused = [](std::string why) { return proof_check{verdict::refused, {}, std::move(why)}; };

        std::vector<std::string_view> proofs;
        for (const auto& h : req.headers)
            if (http::header_name_equals(h.name, "DPoP")) proofs.push_back(h.value);
        if (proofs.empty()) return refused("a DPoP proof is required");
        if (proofs.size() > 1) return refused("more than one DPoP header");
        if (proofs.front().size() > max_proof_size) return refused("the proof is too large");

        oidc::compact_jws jws;
        try {
            jws = oidc::parse_compact_jws(proofs.front());
        } catch (const multisession::error&) {
            return refused("the proof is not a compact JWS");
        }
        if (string_member(jws.header, "typ") != "dpop+jwt") return refused("typ is not dpop+jwt");
        if (string_member(jws.header, "alg") != "ES256") return refused("alg is not ES256");
        const auto jwk = jws.header.find("jwk");
        if (jwk == jws.header.end() || !jwk->is_object()) return refused("no jwk header");
        for (const char* secret_member : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
            if (jwk->contains(secret_member)) return refused("the jwk holds private key material");
        oidc::jwk_key proof_key;
        try {
            proof_key = oidc::parse_jwk(*jwk);
        } catch (const multisession::error&) {
            return refused("the jwk is not a usable public key");
        }
        if (proof_key.family != oidc::key_family::ec_p256) return refused("the jwk is not an EC P-256 key");
        if (!oidc::jws_verify(proof_key.key.get(), oidc::jws_algorithm::es256, jws.signing_input, jws.signature))
            return refused("the signature does not verify");

        const auto& claims = jws.payload;
        if (string_member(claims, "htm") != req.method) return refused("htm is not the request method");
        if (string_member(claims, "htu") != htu) return refused("htu is not the request URL");
        const auto iat = claims.find("iat");
        if (iat == claims.end() || !iat->is_number()) return refused("no numeric iat");
        const double age = static_cast<double>(epoch_seconds(now())) - iat->get<double>();
        if (std::abs(age) > static_cast<double>(proof_iat_window.count())) return refused("iat is outside the window");
        const auto jti = string_member(claims, "jti");
        if (!jti || jti->empty() || jti->size() > 256) return refused("no usable jti");
        if (access_token && string_member(claims, "ath") != oidc::dpop_ath(*access_token))
            return refused("ath does not match the access token");
        // Remembered once the proof is genuine, before the nonce check: a proof is spent whatever
        // came of it, and a client answers a nonce challenge with a fresh proof anyway.
        if (!remember_jti(*jti)) return refused("the jti was used before");
        if (faults.require_dpop_nonce && string_member(claims, "nonce") != nonce)
            return {verdict::needs_nonce, {}, "a fresh DPoP nonce is required"};
        return {verdict::accepted, oidc::jwk_thumbprint(*jwk), {}};
    }

    // --- tokens --------------------------------------------------------------------------------

    std::string access_token(const std::string& client_id, const std::optional<std::string>& webid,
                             const std::string& scope, const std::optional<std::string>& jkt, seconds lifetime) const {
        const auto iat = epoch_seconds(now());
        json claims{
            {"iss", claimed_issuer()},
            {"aud", std::string(access_token_audience)},
            {"sub", webid.value_or(client_id)},
            {"client_id", client_id},
            {"scope", scope},
            {"iat", iat},
            {"exp", iat + lifetime.count()},
            {"jti", random_string(id_bytes)},
        };
        if (webid) claims["webid"] = *webid;
        if (jkt) claims["cnf"] = json{{"jkt", *jkt}};
        return sign(json{{"typ", "at+jwt"}, {"kid", key.kid}}, claims);
    }

    std::string id_token(const std::string& client_id, const std::string& webid,
                         const std::optional<std::string>& nonce_claim, seconds lifetime) const {
        auto iat = epoch_seconds(now());
        auto exp = iat + lifetime.count();
        if (faults.expired_id_token) {
            iat -= 2 * id_token_shift.count();
            exp = iat + id_token_shift.count();
        }
        json claims{
            {"iss", claimed_issuer()}, {"aud", faults.id_token_audience.value_or(client_id)},
            {"azp", client_id},        {"sub", webid},
            {"webid", webid},
        };
        if (faults.future_id_token) {
            iat += id_token_shift.count();
            exp += id_token_shift.count();
            claims["nbf"] = iat;
        }
        claims["iat"] = iat;
        claims["exp"] = exp;
        if (nonce_claim) claims["nonce"] = *nonce_claim;
        if (faults.id_token_alg_none) {
            const json header{{"alg", "none"}, {"typ", "JWT"}};
            return oidc::base64url_encode(header.dump()) + "." + oidc::base64url_encode(claims.dump()) + ".";
        }
        auto token = sign(json{{"typ", "JWT"}, {"kid", key.kid}}, claims);
        if (faults.bad_id_token_signature) {
            const auto dot = token.rfind('.');
            auto signature = oidc::base64url_decode(std::string_view(token).substr(dot + 1)).value_or(std::string{});
            if (!signature.empty())
                signature[signature.size() / 2] = static_cast<char>(signature[signature.size() / 2] ^ 0x01);
            token = token.substr(0, dot + 1) + oidc::base64url_encode(signature);
        }
        return token;
    }

    reply token_success(const std::string& client_id, const std::optional<std::string>& webid, const std::string& scope,
                        const std::optional<std::string>& jkt, bool with_id_token,
                        const std::optional<std::string>& refresh_token,
                        const std::optional<std::string>& nonce_claim = std::nullopt,
                        std::optional<seconds> token_lifetime = std::nullopt) const {
        const auto lifetime = token_lifetime.value_or(options.access_token_lifetime);
        json body{
            {"access_token", access_token(client_id, webid, scope, jkt, lifetime)},
            {"token_type", faults.token_type.value_or(jkt ? "DPoP" : "Bearer")},
            {"expires_in", lifetime.count()},
            {"scope", scope},
        };
        if (refresh_token) body["refresh_token"] = *refresh_token;
        if (with_id_token && webid) body["id_token"] = id_token(client_id, *webid, nonce_claim, lifetime);
        return reply::json(body.dump());
    }

    // --- the token endpoint ----------------------------------------------------------------------

    reply token_endpoint(const http::request& req) {
        ++stats.token_requests;
        token_request_record record;
        auto out = token_answer(req, record);
        out.headers.push_back({"Cache-Control", "no-store"});
        if (faults.require_dpop_nonce) out.headers.push_back({"DPoP-Nonce", nonce});
        record.status = out.status;
        if (out.status >= 200 && out.status < 300) {
            ++stats.tokens_issued;
        } else if (const auto body = oidc::detail::try_parse_json_object(out.body)) {
            record.error = string_member(*body, "error").value_or(std::string{});
        }
        if (faults.malformed_json) out.body = R"({"access_token": not JSON)";
        records.push_back(std::move(record));
        if (records.size() > max_token_records) records.pop_front();
        return out;
    }

    /// Authenticates the client (RFC 6749 section 2.3.1 and OIDC Core section 9): the client, or a
    /// refusal to answer with.
    std::pair<const test_client*, std::optional<reply>> authenticate(const http::request& req, const form_fields& form,
                                                                     const std::string& method) const {
        const auto refuse = [&](std::string_view why) {
            auto out = oauth_error(401, "invalid_client", why);
            if (method == "client_secret_basic")
                out.headers.push_back({"WWW-Authenticate", R"(Basic realm="test issuer")"});
            return std::pair<const test_client*, std::optional<reply>>{nullptr, std::move(out)};
        };
        std::string client_id;
        std::optional<std::string> secret;
        if (method == "client_secret_basic") {
            const auto [scheme, credentials] = split_authorization(*req_authorization(req));
            const auto decoded = base64_decode(credentials);
            const auto colon = decoded ? decoded->find(':') : std::string::npos;
            if (colon == std::string::npos) return refuse("malformed Basic credentials");
            auto id = form_urldecode(std::string_view(*decoded).substr(0, colon));
            auto password = form_urldecode(std::string_view(*decoded).substr(colon + 1));
            if (!id || !password) return refuse("malformed Basic credentials");
            if (field(form, "client_secret"))
                return {nullptr, oauth_error(400, "invalid_request", "more than one client authentication method")};
            if (const auto* body_id = field(form, "client_id"); body_id && *body_id != *id)
                return {nullptr, oauth_error(400, "invalid_request", "client_id differs from the Basic credentials")};
            client_id = std::move(*id);
            secret = std::move(*password);
        } else {
            const auto* id = field(form, "client_id");
            if (!id) return refuse("no client authentication");
            client_id = *id;
            if (const auto* s = field(form, "client_secret")) secret = *s;
        }
        const auto it = clients.find(client_id);
        if (it == clients.end()) return refuse("unknown client");
        const auto& client = it->second;
        if (client.secret.has_value() != secret.has_value()) return refuse("wrong client authentication method");
        if (secret && !same_secret(*secret, *client.secret)) return refuse("wrong client secret");
        if (client.secret_expires_at && now() >= *client.secret_expires_at)
            return refuse("the client secret has expired");
        return {&client, std::nullopt};
    }

    /// The client authentication method a request uses, by what it carries (not by what the client
    /// registered: all three are accepted for any client that fits them).
    static std::string auth_method_of(const http::request& req, const form_fields* form) {
        const auto authorization = req_authorization(req);
        if (authorization && http::header_name_equals(split_authorization(*authorization).first, "Basic"))
            return "client_secret_basic";
        return form && field(*form, "client_secret") ? "client_secret_post" : "none";
    }

    static std::optional<std::string_view> req_authorization(const http::request& req) {
        for (const auto& h : req.headers)
            if (http::header_name_equals(h.name, "Authorization")) return std::string_view(h.value);
        return std::nullopt;
    }

    reply token_answer(const http::request& req, token_request_record& record) {
        // What the request looks like, recorded before anything can refuse it.
        const auto form = parse_form(req.body);
        if (form) {
            if (const auto* grant = field(*form, "grant_type")) record.grant_type = *grant;
        }
        record.auth_method = auth_method_of(req, form ? &*form : nullptr);
        for (const auto& h : req.headers) {
            if (!http::header_name_equals(h.name, "DPoP")) continue;
            record.had_dpop_proof = true;
            try {
                record.proof_nonce = string_member(oidc::parse_compact_jws(h.value).payload, "nonce");
            } catch (const multisession::error&) {
            }
        }

        if (faults.server_error) return internal_error();
        if (faults.token_server_error) return oauth_error(500, "server_error", "injected failure");
        if (faults.oauth_error) return oauth_error(400, *faults.oauth_error, "injected error");
        if (faults.token_redirect) {
            auto redirect = reply::text(307, "");
            redirect.headers.push_back({"Location", *faults.token_redirect});
            return redirect;
        }
        if (req.method != "POST") return oauth_error(405, "invalid_request", "the token endpoint takes POST");
        if (!form) return oauth_error(400, "invalid_request", "the body is not a form with unique parameters");

        auto [client, refusal] = authenticate(req, *form, record.auth_method);
        if (refusal) return std::move(*refusal);

        std::optional<std::string> jkt;
        if (record.had_dpop_proof) {
            auto checked = check_proof(req, issuer + std::string(token_path), std::nullopt);
            if (checked.outcome == proof_check::verdict::refused) {
                ++stats.dpop_rejections;
                return oauth_error(400, "invalid_dpop_proof", checked.why);
            }
            if (checked.outcome == proof_check::verdict::needs_nonce) {
                ++stats.nonce_challenges;
                // The DPoP-Nonce header is added to every token response while nonces are demanded.
                return oauth_error(400, "use_dpop_nonce", checked.why);
            }
            jkt = std::move(checked.jkt);
        }

        if (record.grant_type == "refresh_token") return refresh_grant_answer(*client, *form, jkt);
        if (record.grant_type == "client_credentials") return client_credentials_answer(*client, *form, jkt);
        if (record.grant_type == "authorization_code") return authorization_code_answer(*client, *form, jkt);
        if (record.grant_type.empty()) return oauth_error(400, "invalid_request", "no grant_type");
        return oauth_error(400, "unsupported_grant_type",
                           "grant types: refresh_token, client_credentials, authorization_code");
    }

    reply refresh_grant_answer(const test_client& client, const form_fields& form,
                               const std::optional<std::string>& jkt) {
        const auto* token = field(form, "refresh_token");
        if (!token) return oauth_error(400, "invalid_request", "no refresh_token");
        const auto it = refresh_tokens.find(*token);
        if (it == refresh_tokens.end() || it->second.client_id != client.client_id)
            return oauth_error(400, "invalid_grant", "unknown refresh token");
        auto& grant = it->second;
        if (grant.revoked) return oauth_error(400, "invalid_grant", "the refresh token was revoked");
        if (grant.rotated) {
            ++stats.refresh_reuses;
            return oauth_error(400, "invalid_grant", "the refresh token was already used");
        }
        if (!usable(grant)) return oauth_error(400, "invalid_grant", "the refresh token has expired");
        if (grant.jkt) {
            if (!jkt) {
                ++stats.dpop_rejections;
                return oauth_error(400, "invalid_dpop_proof", "the refresh token is DPoP-bound: a proof is required");
            }
            // The proof is fine, the grant is not: it belongs to another key.
            if (*jkt != *grant.jkt)
                return oauth_error(400, "invalid_grant", "the refresh token is bound to another key");
        }
        std::string scope = grant.scope;
        if (const auto* requested = field(form, "scope")) {
            if (!scope_within(*requested, grant.scope)) return oauth_error(400, "invalid_scope", "wider than granted");
            scope = *requested;
        }
        std::optional<std::string> next;
        if (options.rotate_refresh_tokens && !faults.omit_refresh_token) {
            grant.rotated = true;
            auto successor = grant;
            successor.rotated = false;
            next = store_refresh_token(std::move(successor));
        }
        return token_success(client.client_id, grant.webid, scope, jkt, has_scope(scope, "openid"), next);
    }

    reply client_credentials_answer(const test_client& client, const form_fields& form,
                                    const std::optional<std::string>& jkt) const {
        if (!client.secret)
            return oauth_error(400, "unauthorized_client", "client_credentials needs a confidential client");
        const auto* requested = field(form, "scope");
        const std::string scope = requested ? *requested : std::string(default_scope);
        return token_success(client.client_id, client.webid, scope, jkt, client.webid.has_value(), std::nullopt);
    }

    reply authorization_code_answer(const test_client& client, const form_fields& form,
                                    const std::optional<std::string>& jkt) {
        const auto* code = field(form, "code");
        if (!code) return oauth_error(400, "invalid_request", "no code");
        const auto it = codes.find(*code);
        if (it == codes.end() || it->second.client_id != client.client_id)
            return oauth_error(400, "invalid_grant", "unknown authorization code");
        // Spent on first presentation, whatever follows (RFC 6749 section 4.1.2).
        const auto grant = std::move(it->second);
        codes.erase(it);
        const auto* redirect_uri = field(form, "redirect_uri");
        if (!redirect_uri || *redirect_uri != grant.redirect_uri)
            return oauth_error(400, "invalid_grant", "redirect_uri does not match the authorization request");
        const auto* verifier = field(form, "code_verifier");
        if (!verifier || verifier->size() < 43 || verifier->size() > 128)
            return oauth_error(400, "invalid_grant", "no valid code_verifier");
        if (oidc::base64url_encode(oidc::detail::sha256(*verifier)) != grant.code_challenge)
            return oauth_error(400, "invalid_grant", "code_verifier does not match the code_challenge");
        // OIDC Core section 11: a refresh token only for a grant that asked for offline access.
        std::optional<std::string> refresh;
        if (has_scope(grant.scope, "offline_access") && !faults.omit_refresh_token)
            refresh = store_refresh_token({client.client_id, grant.webid, grant.scope, jkt, std::nullopt, false});
        return token_success(client.client_id, grant.webid, grant.scope, jkt, has_scope(grant.scope, "openid"), refresh,
                             grant.nonce);
    }

    // --- the authorization endpoint (RFC 6749 section 4.1, RFC 7636, RFC 9207) --------------------

    reply authorize_endpoint(const http::request& req, std::string_view target) {
        ++stats.authorize_requests;
        if (faults.server_error) return internal_error();
        if (req.method != "GET") return reply::text(405, "method not allowed");
        const auto query = parse_form(query_of(target));
        if (!query) return reply::text(400, "bad request: the query does not decode, or repeats a parameter");
        last_authorize = plain_map(*query);

        // Until client and redirect_uri are trusted, errors go to the user, never to the URI
        // (RFC 6749 section 4.1.2.1): else the endpoint would be an open redirector.
        const auto* client_id = field(*query, "client_id");
        const auto client = client_id ? clients.find(*client_id) : clients.end();
        if (client == clients.end()) return reply::text(400, "bad request: unknown client_id");
        const auto* redirect_uri = field(*query, "redirect_uri");
        if (!redirect_uri || redirect_uri->empty()) return reply::text(400, "bad request: no redirect_uri");
        if (redirect_uri->find('#') != std::string::npos)
            return reply::text(400, "bad request: a redirect_uri must not have a fragment");
        const auto& registered = client->second.redirect_uris;
        if (!registered.empty() && std::find(registered.begin(), registered.end(), *redirect_uri) == registered.end())
            return reply::text(400, "bad request: redirect_uri is not registered for this client");

        const auto* state = field(*query, "state");
        const auto answer = [&](std::string_view name, std::string value) {
            std::vector<std::pair<std::string_view, std::string>> params{{name, std::move(value)}};
            if (state) params.emplace_back("state", *state);
            params.emplace_back("iss", claimed_issuer());
            return redirect_to(with_query(*redirect_uri, params));
        };
        if (faults.authorize_error) return answer("error", *faults.authorize_error);
        const auto* response_type = field(*query, "response_type");
        if (!response_type || *response_type != "code") return answer("error", "invalid_request");
        // Only S256: a missing method means "plain" (RFC 7636 section 4.3), which this issuer refuses.
        const auto* method = field(*query, "code_challenge_method");
        const auto* challenge = field(*query, "code_challenge");
        if (!method || *method != "S256" || !challenge || !is_s256_challenge(*challenge))
            return answer("error", "invalid_request");
        const auto* scope = field(*query, "scope");
        if (!scope || !has_scope(*scope, "openid")) return answer("error", "invalid_scope");
        if (!authorize_user) return answer("error", "access_denied");

        std::string granted;
        for (const auto known : supported_scopes) {
            if (!has_scope(*scope, known)) continue;
            if (!granted.empty()) granted += ' ';
            granted += known;
        }
        const auto* nonce_param = field(*query, "nonce");
        auto code = random_string(secret_bytes);
        codes.emplace(code, code_grant{client->first, *authorize_user, *redirect_uri, *challenge, std::move(granted),
                                       nonce_param ? std::optional<std::string>(*nonce_param) : std::nullopt});
        return answer("code", std::move(code));
    }

    // --- dynamic client registration (RFC 7591) --------------------------------------------------

    reply registration_endpoint(const http::request& req) {
        if (faults.server_error) return internal_error();
        if (req.method != "POST") return oauth_error(405, "invalid_request", "the registration endpoint takes POST");
        auto out = registration_answer(req);
        out.headers.push_back({"Cache-Control", "no-store"});
        return out;
    }

    reply registration_answer(const http::request& req) {
        const auto metadata = oidc::detail::try_parse_json_object(req.body);
        if (!metadata) return oauth_error(400, "invalid_client_metadata", "the body is not a JSON object");
        const auto refuse = [](std::string_view why) { return oauth_error(400, "invalid_client_metadata", why); };

        const auto uris = metadata->find("redirect_uris");
        if (uris == metadata->end() || !uris->is_array() || uris->empty())
            return oauth_error(400, "invalid_redirect_uri", "redirect_uris must be a non-empty array");
        std::vector<std::string> redirect_uris;
        for (const auto& uri : *uris) {
            if (!uri.is_string() || uri.get_ref<const std::string&>().empty() ||
                uri.get_ref<const std::string&>().find('#') != std::string::npos)
                return oauth_error(400, "invalid_redirect_uri", "each redirect URI must be a string without fragment");
            redirect_uris.push_back(uri.get<std::string>());
        }

        json accepted{{"redirect_uris", redirect_uris}};
        for (const char* name : {"client_name", "scope", "token_endpoint_auth_method", "id_token_signed_response_alg",
                                 "application_type"}) {
            const auto it = metadata->find(name);
            if (it == metadata->end()) continue;
            if (!it->is_string()) return refuse(std::string(name) + " must be a string");
            accepted[name] = *it;
        }
        const auto auth_method = string_member(accepted, "token_endpoint_auth_method").value_or("client_secret_basic");
        if (!is_one_of(auth_method, supported_auth_methods)) return refuse("unsupported token_endpoint_auth_method");
        accepted["token_endpoint_auth_method"] = auth_method;
        // Tokens are signed with one algorithm only: a client that needs another cannot use them.
        if (const auto alg = string_member(accepted, "id_token_signed_response_alg");
            alg && *alg != options.signing_algorithm)
            return refuse("id_token_signed_response_alg must be " + options.signing_algorithm);
        if (const auto type = string_member(accepted, "application_type"); type && *type != "web" && *type != "native")
            return refuse("application_type must be web or native");

        // RFC 7591 section 2: the defaults are authorization_code and code.
        const std::array<std::pair<const char*, std::string_view>, 2> lists{
            {{"grant_types", "authorization_code"}, {"response_types", "code"}}};
        for (const auto& [name, fallback] : lists) {
            const auto it = metadata->find(name);
            if (it == metadata->end()) {
                accepted[name] = json::array({std::string(fallback)});
                continue;
            }
            if (!it->is_array()) return refuse(std::string(name) + " must be an array of strings");
            for (const auto& value : *it) {
                const bool known =
                    value.is_string() && (std::string_view(name) == "grant_types"
                                              ? is_one_of(value.get<std::string>(), supported_grant_types)
                                              : value.get<std::string>() == "code");
                if (!known) return refuse(std::string("unsupported ") + name);
            }
            accepted[name] = *it;
        }

        test_client client;
        do {
            client.client_id = random_string(id_bytes);
        } while (clients.contains(client.client_id));
        client.redirect_uris = std::move(redirect_uris);
        const auto issued = now();
        accepted["client_id"] = client.client_id;
        accepted["client_id_issued_at"] = epoch_seconds(issued);
        if (auth_method != "none") {
            client.secret = random_string(secret_bytes);
            accepted["client_secret"] = *client.secret;
            std::int64_t expires_at = 0; // RFC 7591 section 3.2.1: 0 means it never expires
            if (options.registration_secret_lifetime.count() > 0) {
                client.secret_expires_at = issued + options.registration_secret_lifetime;
                expires_at = epoch_seconds(*client.secret_expires_at);
            }
            accepted["client_secret_expires_at"] = expires_at;
        }
        clients.insert_or_assign(client.client_id, std::move(client));
        ++stats.registrations;
        return reply::json(accepted.dump(), 201);
    }

    // --- token revocation (RFC 7009) -------------------------------------------------------------

    reply revocation_endpoint(const http::request& req) {
        ++stats.revocation_requests;
        if (faults.server_error) return internal_error();
        auto out = revocation_answer(req);
        out.headers.push_back({"Cache-Control", "no-store"});
        return out;
    }

    reply revocation_answer(const http::request& req) {
        if (req.method != "POST") return oauth_error(405, "invalid_request", "the revocation endpoint takes POST");
        const auto form = parse_form(req.body);
        if (!form) return oauth_error(400, "invalid_request", "the body is not a form with unique parameters");
        auto [client, refusal] = authenticate(req, *form, auth_method_of(req, &*form));
        if (refusal) return std::move(*refusal);
        const auto* token = field(*form, "token");
        if (!token || token->empty()) return oauth_error(400, "invalid_request", "no token");
        // token_type_hint only spares a server a lookup (section 2.1): both kinds are searched.
        // An unknown or foreign token is answered like a revoked one (section 2.2), so that the
        // answer does not tell a client which tokens exist.
        if (revoke_refresh_token(*token, client->client_id) || revoke_access_token(*token, client->client_id))
            ++stats.tokens_revoked;
        return reply{};
    }

    /// Revokes a refresh token of `client_id`; the access tokens issued with it stay valid until
    /// they expire (section 2.1 allows either, and the simpler one keeps the cases apart).
    bool revoke_refresh_token(const std::string& token, const std::string& client_id) {
        const auto it = refresh_tokens.find(token);
        if (it == refresh_tokens.end() || it->second.client_id != client_id || it->second.revoked) return false;
        it->second.revoked = true;
        return true;
    }

    bool revoke_access_token(const std::string& token, const std::string& client_id) {
        const auto claims = verify_access_token(token);
        if (!claims || string_member(*claims, "client_id") != client_id) return false;
        const auto jti = string_member(*claims, "jti");
        if (!jti) return false;
        const auto current = epoch_seconds(now());
        std::erase_if(revoked_access, [&](const auto& entry) { return entry.second <= current; });
        revoked_access.emplace(*jti, claims->at("exp").get<std::int64_t>());
        return true;
    }

    // --- RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) ------------------------------

    /// Records the request and answers; it ends nothing (set_authorize_user stays as it is), and
    /// post_logout_redirect_uri is followed without a check against the client's registration.
    reply end_session_endpoint(const http::request& req, std::string_view target) {
        if (faults.server_error) return internal_error();
        if (req.method != "GET" && req.method != "POST") return reply::text(405, "method not allowed");
        const auto params = parse_form(req.method == "GET" ? query_of(target) : std::string_view(req.body));
        if (!params) return reply::text(400, "bad request: the parameters do not decode, or one repeats");
        last_end_session = plain_map(*params);
        const auto* back = field(*params, "post_logout_redirect_uri");
        if (!back || back->empty()) return reply::text(200, "logged out");
        std::vector<std::pair<std::string_view, std::string>> query;
        if (const auto* state = field(*params, "state")) query.emplace_back("state", *state);
        return redirect_to(query.empty() ? *back : with_query(*back, query));
    }

    // --- the protected resource ------------------------------------------------------------------

    /// The claims of an access token this issuer signed with its current key and that has not
    /// expired, else nullopt.
    std::optional<json> verify_access_token(std::string_view token) const {
        oidc::compact_jws jws;
        try {
            jws = oidc::parse_compact_jws(token);
        } catch (const multisession::error&) {
            return std::nullopt;
        }
        if (string_member(jws.header, "alg") != std::string(oidc::jws_algorithm_name(key.algorithm)) ||
            string_member(jws.header, "kid") != key.kid ||
            !oidc::jws_verify(key.key.get(), key.algorithm, jws.signing_input, jws.signature))
            return std::nullopt;
        const auto exp = jws.payload.find("exp");
        if (exp == jws.payload.end() || !exp->is_number() ||
            exp->get<double>() <= static_cast<double>(epoch_seconds(now())))
            return std::nullopt;
        if (const auto jti = string_member(jws.payload, "jti"); jti && revoked_access.contains(*jti))
            return std::nullopt;
        return std::move(jws.payload);
    }

    reply resource(const http::request& req, const std::string& path) {
        ++stats.resource_requests;
        if (faults.server_error) return internal_error();
        auto out = resource_answer(req, path);
        if (faults.require_dpop_nonce) out.headers.push_back({"DPoP-Nonce", nonce});
        return out;
    }

    reply resource_answer(const http::request& req, const std::string& path) {
        const auto authorization = req_authorization(req);
        if (!authorization) {
            auto out = resource_refusal("DPoP", "", "no access token");
            out.headers.push_back({"WWW-Authenticate", R"(Bearer realm="test issuer")"});
            return out;
        }
        const auto [scheme, token] = split_authorization(*authorization);
        const bool dpop = http::header_name_equals(scheme, "DPoP");
        if (!dpop && !http::header_name_equals(scheme, "Bearer"))
            return resource_refusal("DPoP", "invalid_request", "unsupported authorization scheme");
        const std::string_view shown_scheme = dpop ? "DPoP" : "Bearer";
        const auto claims = verify_access_token(token);
        if (!claims) return resource_refusal(shown_scheme, "invalid_token", "the access token is not valid");
        const auto cnf = claims->find("cnf");
        const auto bound_jkt = cnf != claims->end() && cnf->is_object() ? string_member(*cnf, "jkt") : std::nullopt;

        if (dpop) {
            if (!bound_jkt) return resource_refusal("DPoP", "invalid_token", "the access token is not DPoP-bound");
            const auto checked = check_proof(req, issuer + path, token);
            if (checked.outcome == proof_check::verdict::refused) {
                ++stats.dpop_rejections;
                return resource_refusal("DPoP", "invalid_dpop_proof", checked.why);
            }
            if (checked.outcome == proof_check::verdict::needs_nonce) {
                ++stats.nonce_challenges;
                return resource_refusal("DPoP", "use_dpop_nonce", checked.why);
            }
            if (checked.jkt != *bound_jkt) {
                ++stats.dpop_rejections;
                return resource_refusal("DPoP", "invalid_dpop_proof", "the proof key is not the token's key");
            }
        } else if (bound_jkt) {
            // RFC 9449 section 7.2: a bound token must not be accepted as a bearer token.
            return resource_refusal("Bearer", "invalid_token", "a DPoP-bound token sent as a bearer token");
        }
        ++stats.resource_authorized;
        const auto webid = string_member(*claims, "webid");
        return reply::text(200, "hello " + webid.value_or(string_member(*claims, "sub").value_or(std::string{})));
    }
};

test_issuer::test_issuer(test_issuer_options options) : impl_(std::make_shared<impl>(std::move(options))) {
    // The handler keeps the state alive on its own: the server thread may still be finishing a
    // request while this object is torn down (the server is destroyed, and joined, first).
    auto handler = [state = impl_](const http::request& req) { return state->handle(req); };
    if (impl_->options.tls)
        server_ = std::make_unique<test_http_server>(std::move(handler), *impl_->options.tls);
    else
        server_ = std::make_unique<test_http_server>(std::move(handler));
    std::lock_guard lock(impl_->mutex);
    impl_->issuer = server_->url("", impl_->options.host);
}

test_issuer::~test_issuer() = default;

std::string test_issuer::issuer() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->issuer;
}

std::string test_issuer::resource_url(std::string_view path) const {
    return issuer() + std::string(resource_prefix) + std::string(path);
}

void test_issuer::add_client(test_client client) {
    std::lock_guard lock(impl_->mutex);
    auto id = client.client_id;
    impl_->clients.insert_or_assign(std::move(id), std::move(client));
}

std::string test_issuer::mint_refresh_token(const std::string& client_id, const std::string& webid,
                                            std::optional<std::string> dpop_jkt) {
    std::lock_guard lock(impl_->mutex);
    auto token = impl_->store_refresh_token(
        {client_id, webid, std::string(default_scope), std::move(dpop_jkt), std::nullopt, false});
    if (impl_->options.presigned_refresh) impl_->prepare_answer(token);
    return token;
}

std::string test_issuer::mint_authorization_code(const std::string& client_id, const std::string& webid,
                                                 const std::string& redirect_uri, const std::string& code_challenge) {
    std::lock_guard lock(impl_->mutex);
    auto code = random_string(secret_bytes);
    impl_->codes.emplace(code, impl::code_grant{client_id, webid, redirect_uri, code_challenge,
                                                std::string(default_scope), std::nullopt});
    return code;
}

void test_issuer::set_authorize_user(std::optional<std::string> webid) {
    std::lock_guard lock(impl_->mutex);
    impl_->authorize_user = std::move(webid);
}

std::optional<std::map<std::string, std::string>> test_issuer::last_authorize_query() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->last_authorize;
}

std::optional<std::map<std::string, std::string>> test_issuer::last_end_session_query() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->last_end_session;
}

bool test_issuer::refresh_token_valid(const std::string& refresh_token) const {
    std::lock_guard lock(impl_->mutex);
    const auto it = impl_->refresh_tokens.find(refresh_token);
    return it != impl_->refresh_tokens.end() && impl_->usable(it->second);
}

void test_issuer::set_faults(issuer_faults faults) {
    std::lock_guard lock(impl_->mutex);
    impl_->faults = std::move(faults);
}

issuer_faults test_issuer::faults() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->faults;
}

void test_issuer::rotate_signing_key() {
    // RSA key generation takes a while: not under the lock the server thread needs.
    auto fresh = generate_signing_key(impl_->algorithm);
    std::lock_guard lock(impl_->mutex);
    impl_->key = std::move(fresh);
}

std::string test_issuer::signing_kid() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->key.kid;
}

void test_issuer::rotate_nonce() {
    std::lock_guard lock(impl_->mutex);
    impl_->nonce = random_string(id_bytes);
}

std::string test_issuer::sign_token(const std::string& claims_json, std::optional<std::string> kid) const {
    auto claims = json::parse(claims_json);
    if (!claims.is_object()) throw std::invalid_argument("test issuer: claims must be a JSON object");
    std::lock_guard lock(impl_->mutex);
    if (!claims.contains("iss")) claims["iss"] = impl_->issuer;
    return impl_->sign(json{{"typ", "JWT"}, {"kid", kid.value_or(impl_->key.kid)}}, claims);
}

issuer_stats test_issuer::stats() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->stats;
}

void test_issuer::reset_counters() {
    std::lock_guard lock(impl_->mutex);
    impl_->stats = {};
}

std::vector<token_request_record> test_issuer::recent_token_requests(std::size_t n) const {
    std::lock_guard lock(impl_->mutex);
    const auto& records = impl_->records;
    const auto first = records.size() > n ? records.size() - n : 0;
    return {records.begin() + static_cast<std::ptrdiff_t>(first), records.end()};
}

test_http_server& test_issuer::server() noexcept { return *server_; }

} // namespace multisession::test
