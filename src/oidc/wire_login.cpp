#include "oidc/wire_login.hpp"

#include "oidc/base64url.hpp"
#include "oidc/jose_openssl.hpp"
#include "oidc/wire_json.hpp"
#include "oidc/wire_text.hpp"
#include "oidc/wire_url.hpp"

#include <multisession/error.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace multisession::oidc {
namespace {

bool is_unreserved(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/// Parses `url` as an absolute http(s) URL without fragment; `what` names it in the message.
url_parts parse_without_fragment(std::string_view url, std::string_view what) {
    auto parts = parse_url(url);
    if (url.find('#') != std::string_view::npos)
        throw error(http_errc::invalid_url, std::string(what) + " '" + detail::printable(url) + "' has a fragment");
    return parts;
}

/// The decoded names of a query's parameters, in order ("a=1&b&&c=" gives a, b, c).
std::vector<std::string> query_names(std::string_view query) {
    std::vector<std::string> names;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        if (!pair.empty()) names.push_back(form_urldecode(pair.substr(0, pair.find('='))));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return names;
}

/// `endpoint` + the encoded `fields`, after '?' or, when the endpoint has a query (which must be
/// kept, RFC 6749 section 3.1), after '&'.
std::string append_query(std::string_view endpoint, const url_parts& parts,
                         const std::vector<std::pair<std::string_view, std::string_view>>& fields) {
    std::string out(endpoint);
    if (!parts.has_query) out += '?';
    else if (!parts.query.empty() && parts.query.back() != '&') out += '&';
    out += form_body(fields);
    return out;
}

/// The error for a response that is not a success: its OAuth error body, else by status.
[[noreturn]] void throw_failure(std::string_view endpoint, const http::response& response) {
    const int status = response.status;
    if (const auto details = parse_oauth_error(response)) throw_oauth_error(endpoint, status, details->error);
    const auto code = status >= 500 && status <= 599 ? oidc_errc::server_error : oidc_errc::unexpected_status;
    throw error(code, std::string(endpoint) + " answered HTTP " + std::to_string(status));
}

[[noreturn]] void malformed_registration(std::string_view field, std::string_view why) {
    throw error(oidc_errc::malformed_response,
                "registration response: '" + std::string(field) + "' " + std::string(why));
}

/// A string member: nullopt when absent or null; a non-string, or an empty string, is malformed.
std::optional<std::string> registration_string(const nlohmann::json& doc, const char* field) {
    const auto it = doc.find(field);
    if (it == doc.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) malformed_registration(field, "is not a string");
    auto value = it->get<std::string>();
    if (value.empty()) malformed_registration(field, "is empty");
    return value;
}

/// client_secret_expires_at: a number or a string of digits, 0 .. INT64_MAX; 0 when absent.
std::int64_t expires_at_of(const nlohmann::json& doc) {
    constexpr const char* field = "client_secret_expires_at";
    const auto it = doc.find(field);
    if (it == doc.end() || it->is_null()) return 0;
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    if (it->is_number_unsigned()) {
        const auto value = it->get<std::uint64_t>();
        if (value > static_cast<std::uint64_t>(max)) malformed_registration(field, "is out of range");
        return static_cast<std::int64_t>(value);
    }
    if (it->is_number_integer()) {
        const auto value = it->get<std::int64_t>();
        if (value < 0) malformed_registration(field, "is negative");
        return value;
    }
    if (it->is_number_float()) {
        // 2^63 is exactly representable: anything below it converts without overflow.
        const double value = it->get<double>();
        if (!std::isfinite(value) || value < 0 || value >= 9223372036854775808.0)
            malformed_registration(field, "is out of range");
        return static_cast<std::int64_t>(value);
    }
    if (it->is_string()) {
        const auto& text = it->get_ref<const std::string&>();
        // 18 digits always fit in an int64_t; no real timestamp needs more.
        if (text.empty() || text.size() > 18) malformed_registration(field, "is not a number of seconds");
        std::int64_t value = 0;
        for (const char c : text) {
            if (c < '0' || c > '9') malformed_registration(field, "is not a number of seconds");
            value = value * 10 + (c - '0');
        }
        return value;
    }
    malformed_registration(field, "is not a number");
}

bool needs_secret(std::string_view method) noexcept {
    return method == "client_secret_basic" || method == "client_secret_post";
}

} // namespace

// --- PKCE and random values -----------------------------------------------------------------------

pkce_pair make_pkce() {
    auto bytes = detail::random_bytes(32);
    pkce_pair out;
    out.verifier = base64url_encode(bytes);
    detail::cleanse(bytes);
    out.challenge = pkce_challenge(out.verifier);
    return out;
}

std::string pkce_challenge(std::string_view verifier) {
    if (verifier.size() < 43 || verifier.size() > 128 || !std::all_of(verifier.begin(), verifier.end(), is_unreserved))
        throw error(oidc_errc::invalid_request, "PKCE code verifier is not 43-128 unreserved characters");
    return base64url_encode(detail::sha256(verifier));
}

std::string random_urlsafe(std::size_t bytes) {
    if (bytes == 0 || bytes > 1024)
        throw error(oidc_errc::invalid_request, "random value of " + std::to_string(bytes) + " bytes (1-1024 allowed)");
    auto raw = detail::random_bytes(bytes);
    auto out = base64url_encode(raw);
    // The value may become a session id: leave no copy of its bytes behind.
    detail::cleanse(raw);
    return out;
}

// --- the authorization request and response -------------------------------------------------------

std::string authorization_url(const provider_metadata& metadata, const authorization_request& request) {
    if (!metadata.authorization_endpoint)
        throw error(oidc_errc::unsupported_feature,
                    "provider '" + detail::printable(metadata.issuer) + "' has no authorization_endpoint");
    const auto& endpoint = *metadata.authorization_endpoint;
    const auto endpoint_parts = parse_without_fragment(endpoint, "authorization endpoint");
    (void)parse_without_fragment(request.redirect_uri, "redirect_uri");
    if (request.client_id.empty()) throw error(oidc_errc::invalid_request, "authorization request: empty client_id");
    if (request.state.empty()) throw error(oidc_errc::invalid_request, "authorization request: empty state");
    if (request.code_challenge.empty())
        throw error(oidc_errc::invalid_request, "authorization request: empty code_challenge");

    std::vector<std::pair<std::string_view, std::string_view>> fields{
        {"response_type", "code"},
        {"client_id", request.client_id},
        {"redirect_uri", request.redirect_uri},
        {"scope", request.scope},
        {"state", request.state},
        {"code_challenge", request.code_challenge},
        {"code_challenge_method", "S256"},
    };
    if (request.prompt) fields.emplace_back("prompt", *request.prompt);

    // Every name once (RFC 6749 section 3.1): `prompt` stays reserved even when unset, so that an
    // extra cannot smuggle it past the typed field.
    std::vector<std::string> taken = query_names(endpoint_parts.query);
    for (const auto& [name, value] : fields) taken.emplace_back(name);
    if (!request.prompt) taken.emplace_back("prompt");
    for (const auto& [name, value] : request.extra_parameters) {
        if (name.empty()) throw error(oidc_errc::invalid_request, "authorization request: unnamed extra parameter");
        if (std::find(taken.begin(), taken.end(), name) != taken.end())
            throw error(oidc_errc::invalid_request,
                        "authorization request: parameter '" + detail::printable(name, 64) + "' given twice");
        taken.push_back(name);
        fields.emplace_back(name, value);
    }
    return append_query(endpoint, endpoint_parts, fields);
}

authorization_response parse_authorization_response(std::string_view redirect_url) {
    url_parts parts;
    try {
        parts = parse_url(redirect_url);
    } catch (const error&) {
        // parse_url quotes the URL, and this one carries the authorization code.
        throw error(http_errc::invalid_url, "authorization response: the redirect URL is not an absolute http(s) URL");
    }
    authorization_response out;
    bool seen_error_uri = false;
    std::string_view query = parts.query;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto equals = pair.find('=');
        const auto name = form_urldecode(pair.substr(0, equals));
        std::optional<std::string>* slot = nullptr;
        if (name == "code") slot = &out.code;
        else if (name == "state") slot = &out.state;
        else if (name == "iss") slot = &out.iss;
        else if (name == "error") slot = &out.error;
        else if (name == "error_description") slot = &out.error_description;
        else if (name != "error_uri") continue; // the application's own parameters
        const bool repeated = slot ? slot->has_value() : std::exchange(seen_error_uri, true);
        if (repeated)
            throw error(oidc_errc::invalid_request, "authorization response: parameter '" + name + "' given twice");
        if (slot)
            *slot = form_urldecode(equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1));
    }
    return out;
}

// --- dynamic client registration ------------------------------------------------------------------

http::request registration_http_request(const provider_metadata& metadata, const registration_request& request) {
    if (!metadata.registration_endpoint)
        throw error(oidc_errc::unsupported_feature,
                    "provider '" + detail::printable(metadata.issuer) + "' has no registration_endpoint");
    if (request.token_endpoint_auth_method != "client_secret_basic" &&
        request.token_endpoint_auth_method != "client_secret_post" && request.token_endpoint_auth_method != "none")
        throw error(oidc_errc::invalid_request,
                    "registration request: token_endpoint_auth_method '" +
                        detail::printable(request.token_endpoint_auth_method, 64) + "' is not supported");
    for (const auto& uri : request.redirect_uris) (void)parse_without_fragment(uri, "redirect URI");

    nlohmann::json body = nlohmann::json::object();
    body["redirect_uris"] = request.redirect_uris;
    if (!request.client_name.empty()) body["client_name"] = request.client_name;
    body["token_endpoint_auth_method"] = request.token_endpoint_auth_method;
    body["grant_types"] = request.grant_types;
    body["response_types"] = request.response_types;
    if (!request.scope.empty()) body["scope"] = request.scope;
    if (request.id_token_signed_response_alg)
        body["id_token_signed_response_alg"] = *request.id_token_signed_response_alg;
    body["application_type"] = request.application_type;

    http::request out;
    out.method = "POST";
    out.url = *metadata.registration_endpoint;
    out.headers.push_back({"Content-Type", "application/json"});
    out.headers.push_back({"Accept", "application/json"});
    try {
        out.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
        throw error(oidc_errc::invalid_request, "registration request: a field is not valid UTF-8");
    }
    return out;
}

registered_client parse_registration_response(const http::response& response, const registration_request& request) {
    constexpr std::string_view endpoint = "registration endpoint";
    if (response.status != 200 && response.status != 201) throw_failure(endpoint, response);
    const auto doc = detail::parse_json_object(response.body, "registration response");
    if (!doc.contains("client_id")) {
        if (const auto it = doc.find("error"); it != doc.end() && it->is_string())
            throw_oauth_error(endpoint, response.status, it->get_ref<const std::string&>());
    }

    registered_client out;
    auto client_id = registration_string(doc, "client_id");
    if (!client_id) malformed_registration("client_id", "is missing");
    out.client_id = std::move(*client_id);
    out.client_secret = registration_string(doc, "client_secret");
    out.client_secret_expires_at = expires_at_of(doc);
    out.token_endpoint_auth_method =
        registration_string(doc, "token_endpoint_auth_method").value_or(request.token_endpoint_auth_method);
    out.id_token_signed_response_alg = registration_string(doc, "id_token_signed_response_alg");
    if (!out.id_token_signed_response_alg) out.id_token_signed_response_alg = request.id_token_signed_response_alg;
    if (needs_secret(out.token_endpoint_auth_method) && !out.client_secret)
        malformed_registration("client_secret", "is missing for a client that authenticates with a secret");
    return out;
}

// --- token revocation -----------------------------------------------------------------------------

http::request revocation_request(const provider_metadata& metadata, const client_info& client, std::string_view token,
                                 std::string_view token_type_hint) {
    if (!metadata.revocation_endpoint)
        throw error(oidc_errc::unsupported_feature,
                    "provider '" + detail::printable(metadata.issuer) + "' has no revocation_endpoint");
    if (token.empty()) throw error(oidc_errc::invalid_request, "revocation request: empty token");
    const auto auth = choose_client_auth(metadata, client);

    std::vector<std::pair<std::string_view, std::string_view>> body{{"token", token}};
    if (!token_type_hint.empty()) body.emplace_back("token_type_hint", token_type_hint);
    return client_authenticated_post(*metadata.revocation_endpoint, client, auth, std::move(body));
}

void check_revocation_response(const http::response& response) {
    if (response.status == 200) return;
    throw_failure("revocation endpoint", response);
}

// --- RP-initiated logout --------------------------------------------------------------------------

std::string end_session_url(const provider_metadata& metadata, const end_session_request& request) {
    if (!metadata.end_session_endpoint)
        throw error(oidc_errc::unsupported_feature,
                    "provider '" + detail::printable(metadata.issuer) + "' has no end_session_endpoint");
    const auto& endpoint = *metadata.end_session_endpoint;
    const auto endpoint_parts = parse_without_fragment(endpoint, "end_session_endpoint");
    if (request.post_logout_redirect_uri) (void)parse_url(*request.post_logout_redirect_uri);

    std::vector<std::pair<std::string_view, std::string_view>> fields;
    if (request.id_token_hint) fields.emplace_back("id_token_hint", *request.id_token_hint);
    if (request.client_id) fields.emplace_back("client_id", *request.client_id);
    if (request.post_logout_redirect_uri)
        fields.emplace_back("post_logout_redirect_uri", *request.post_logout_redirect_uri);
    if (request.state) fields.emplace_back("state", *request.state);
    if (fields.empty()) return endpoint;
    return append_query(endpoint, endpoint_parts, fields);
}

} // namespace multisession::oidc
