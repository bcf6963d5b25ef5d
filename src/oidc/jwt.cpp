#include "oidc/jwt.hpp"

#include "oidc/base64url.hpp"

#include <algorithm>

namespace multisession::oidc {
namespace {

using json = nlohmann::json;
using detail::quoted_identifier;

// Tokens are a few kilobytes; a bound keeps a hostile body from costing a large allocation.
constexpr std::size_t max_token_size = std::size_t{1} << 20;

[[noreturn]] void invalid_token(const std::string& what) { throw error(oidc_errc::invalid_token, "JWT: " + what); }

json decode_object(std::string_view part, const char* name) {
    const auto bytes = base64url_decode(part);
    if (!bytes) invalid_token(std::string(name) + " is not base64url");
    json value = json::parse(*bytes, nullptr, false);
    if (value.is_discarded() || !value.is_object()) invalid_token(std::string(name) + " is not a JSON object");
    return value;
}

double seconds_since_epoch(std::chrono::system_clock::time_point when) {
    return std::chrono::duration<double>(when.time_since_epoch()).count();
}

/// The numeric claim `name`, or nullopt when absent; present but not a number is invalid.
std::optional<double> numeric_claim(const json& claims, const char* name) {
    const auto it = claims.find(name);
    if (it == claims.end()) return std::nullopt;
    if (!it->is_number()) invalid_token(std::string("claim '") + name + "' is not a number");
    return it->get<double>();
}

bool refused_always(std::string_view alg) {
    std::string lower(alg);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); });
    return lower == "none" || lower.starts_with("hs");
}

bool key_fits(const jwk_key& key, jws_algorithm alg) {
    return key.family == required_family(alg) && (key.alg.empty() || key.alg == jws_algorithm_name(alg));
}

void check_claims(const json& claims, const jwt_expectations& expected) {
    const auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string() || iss->get_ref<const std::string&>() != expected.issuer)
        throw error(oidc_errc::issuer_mismatch, "JWT: 'iss' is not the expected issuer");

    const auto aud = claims.find("aud");
    bool audience_found = false;
    if (aud != claims.end()) {
        if (aud->is_string()) {
            audience_found = aud->get_ref<const std::string&>() == expected.audience;
        } else if (aud->is_array()) {
            audience_found = std::any_of(aud->begin(), aud->end(), [&](const json& entry) {
                return entry.is_string() && entry.get_ref<const std::string&>() == expected.audience;
            });
        }
    }
    if (!audience_found) throw error(oidc_errc::audience_mismatch, "JWT: 'aud' does not contain the client id");

    const double now = seconds_since_epoch(expected.now.value_or(std::chrono::system_clock::now()));
    const auto skew = static_cast<double>(expected.clock_skew.count());
    const auto exp = numeric_claim(claims, "exp");
    if (!exp) invalid_token("claim 'exp' is missing");
    if (*exp <= now - skew) throw error(oidc_errc::token_expired, "JWT: 'exp' has passed");
    for (const char* name : {"nbf", "iat"}) {
        const auto when = numeric_claim(claims, name);
        if (when && *when > now + skew)
            throw error(oidc_errc::token_not_yet_valid, std::string("JWT: '") + name + "' lies in the future");
    }
}

bool is_http_url(const json& value) {
    if (!value.is_string()) return false;
    const auto& text = value.get_ref<const std::string&>();
    std::string_view rest;
    const auto has_prefix = [&](std::string_view prefix) {
        if (text.size() < prefix.size()) return false;
        for (std::size_t i = 0; i < prefix.size(); ++i) {
            const char c = text[i];
            if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != prefix[i]) return false;
        }
        rest = std::string_view(text).substr(prefix.size());
        return true;
    };
    if (!has_prefix("https://") && !has_prefix("http://")) return false;
    if (rest.empty() || rest.front() == '/' || rest.front() == '?' || rest.front() == '#') return false; // no host
    return std::none_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7f;
    });
}

} // namespace

compact_jws parse_compact_jws(std::string_view token) {
    if (token.size() > max_token_size) invalid_token("larger than 1 MiB");
    const auto first = token.find('.');
    const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
    if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
        invalid_token("not three dot-separated parts");
    compact_jws out;
    out.header = decode_object(token.substr(0, first), "header");
    out.payload = decode_object(token.substr(first + 1, second - first - 1), "payload");
    auto signature = base64url_decode(token.substr(second + 1));
    if (!signature) invalid_token("signature is not base64url");
    out.signature = std::move(*signature);
    out.signing_input = std::string(token.substr(0, second));
    return out;
}

std::string sign_compact_jws(json header, const json& payload, EVP_PKEY* key, jws_algorithm alg) {
    header["alg"] = std::string(jws_algorithm_name(alg));
    std::string signing_input;
    try {
        signing_input = base64url_encode(header.dump()) + '.' + base64url_encode(payload.dump());
    } catch (const json::exception&) {
        throw error(oidc_errc::invalid_request, "JWS: a header or claim value is not valid UTF-8");
    }
    const std::string signature = jws_sign(key, alg, signing_input);
    return signing_input + '.' + base64url_encode(signature);
}

json verify_jwt(std::string_view token, const jwks& keys, const jwt_expectations& expected) {
    compact_jws jws = parse_compact_jws(token);

    const auto alg_member = jws.header.find("alg");
    if (alg_member == jws.header.end() || !alg_member->is_string()) invalid_token("header has no 'alg'");
    const auto& name = alg_member->get_ref<const std::string&>();
    const auto alg = jws_algorithm_from_name(name);
    const bool allowed = std::find(expected.allowed_algorithms.begin(), expected.allowed_algorithms.end(), name) !=
                         expected.allowed_algorithms.end();
    if (refused_always(name) || !alg || !allowed)
        throw error(oidc_errc::unsupported_algorithm, "JWT: alg " + quoted_identifier(name) + " is not accepted");
    if (jws.header.contains("crit")) invalid_token("header has 'crit' extensions we do not implement");

    std::vector<const jwk_key*> candidates;
    const auto kid = jws.header.find("kid");
    if (kid != jws.header.end()) {
        if (!kid->is_string()) invalid_token("header 'kid' is not a string");
        const auto& kid_text = kid->get_ref<const std::string&>();
        const auto named = keys.find(kid_text);
        if (named.empty())
            throw error(oidc_errc::unknown_key, "JWT: no key " + quoted_identifier(kid_text) + " in the issuer's JWKS");
        std::copy_if(named.begin(), named.end(), std::back_inserter(candidates),
                     [&](const jwk_key* key) { return key_fits(*key, *alg); });
        if (candidates.empty())
            invalid_token("alg " + quoted_identifier(name) + " does not fit key " + quoted_identifier(kid_text));
    } else {
        for (const auto& key : keys.keys())
            if (key_fits(key, *alg)) candidates.push_back(&key);
        if (candidates.empty())
            throw error(oidc_errc::unknown_key, "JWT: no " + quoted_identifier(name) + " key in the issuer's JWKS");
    }

    const bool verified = std::any_of(candidates.begin(), candidates.end(), [&](const jwk_key* key) {
        return key->verifier ? key->verifier->verify(*alg, jws.signing_input, jws.signature)
                             : jws_verify(key->key.get(), *alg, jws.signing_input, jws.signature);
    });
    if (!verified) invalid_token("signature does not verify");

    check_claims(jws.payload, expected);
    return std::move(jws.payload);
}

std::string webid_from_claims(const json& claims) {
    if (claims.is_object()) {
        for (const char* name : {"webid", "sub"}) {
            const auto it = claims.find(name);
            if (it != claims.end() && is_http_url(*it)) {
                // The scheme is case-insensitive (RFC 3986 section 3.1); its normal form is lower
                // case. One identity must have one spelling: WebIDs are compared as strings (the
                // WebID entries, access rules).
                auto webid = it->get<std::string>();
                const auto scheme_end = webid.begin() + static_cast<std::ptrdiff_t>(webid.find(':')); // "http" or "https"
                std::transform(webid.begin(), scheme_end, webid.begin(), [](char c) {
                    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
                });
                return webid;
            }
        }
    }
    throw error(oidc_errc::missing_webid, "ID token: no 'webid' claim and 'sub' is not an http(s) URL");
}

} // namespace multisession::oidc
