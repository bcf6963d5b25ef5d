#include "oidc/wire_token.hpp"

#include "oidc/wire_form.hpp"
#include "oidc/wire_json.hpp"
#include "oidc/wire_text.hpp"

#include <algorithm>
#include <cmath>

namespace multisession::oidc {
namespace {

bool advertises(const provider_metadata& metadata, std::string_view method) {
    const auto& methods = metadata.token_endpoint_auth_methods_supported;
    return std::find(methods.begin(), methods.end(), method) != methods.end();
}

/// A compact JWS: three base64url segments. Keeps header injection (CR/LF) out of the request.
void check_dpop_proof(std::string_view proof) {
    std::size_t dots = 0;
    for (const char c : proof) {
        const bool b64url = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '_';
        if (c == '.') ++dots;
        else if (!b64url) throw error(oidc_errc::invalid_request, "DPoP proof is not a compact JWS");
    }
    if (dots != 2) throw error(oidc_errc::invalid_request, "DPoP proof is not a compact JWS");
}

using fields = std::vector<std::pair<std::string_view, std::string_view>>;

http::request token_request(const provider_metadata& metadata, const client_info& client, client_auth_method auth,
                            fields body, std::optional<std::string_view> dpop_proof) {
    if (dpop_proof) check_dpop_proof(*dpop_proof);
    auto request = client_authenticated_post(metadata.token_endpoint, client, auth, std::move(body));
    if (dpop_proof) request.headers.push_back({"DPoP", std::string(*dpop_proof)});
    return request;
}

/// The `error` code as it may appear in a message: %x20-21 / %x23-5B / %x5D-7E (RFC 6749
/// section 5.2), at most 64 characters; anything else is replaced by a placeholder.
std::string printable_error_code(std::string_view code) {
    if (code.empty()) return "(empty error code)";
    for (const char ch : code) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return "(invalid error code)";
    }
    return std::string(code.substr(0, 64));
}

[[noreturn]] void throw_oauth_error(int status, std::string_view code) {
    oidc::throw_oauth_error("token endpoint", status, code);
}

[[noreturn]] void malformed(std::string_view why) {
    throw error(oidc_errc::malformed_response, "token response: " + std::string(why));
}

std::optional<std::string> optional_string(const nlohmann::json& doc, const char* field, bool allow_empty = false) {
    const auto it = doc.find(field);
    if (it == doc.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) malformed("'" + std::string(field) + "' is not a string");
    auto value = it->get<std::string>();
    if (value.empty() && !allow_empty) malformed("'" + std::string(field) + "' is empty");
    return value;
}

/// A lifetime in seconds under `name` (a number or a string of digits), bounded by max_expires_in.
std::optional<std::chrono::seconds> seconds_of(const nlohmann::json& doc, const std::string& name) {
    const auto it = doc.find(name);
    if (it == doc.end() || it->is_null()) return std::nullopt;
    // Every failure names the member; the value is never shown.
    const auto malformed = [&name](const std::string& what) { ::multisession::oidc::malformed("'" + name + "' " + what); };
    const auto limit = max_expires_in.count();
    long long seconds = 0;
    if (it->is_number_unsigned()) {
        const auto value = it->get<std::uint64_t>();
        if (value > static_cast<std::uint64_t>(limit)) malformed("is out of range");
        seconds = static_cast<long long>(value);
    } else if (it->is_number_integer()) {
        seconds = it->get<std::int64_t>();
    } else if (it->is_number_float()) {
        const double value = it->get<double>();
        if (!std::isfinite(value) || value < 0 || value > static_cast<double>(limit))
            malformed("is out of range");
        seconds = static_cast<long long>(value);
    } else if (it->is_string()) {
        const auto& text = it->get_ref<const std::string&>();
        if (text.empty() || text.size() > 12) malformed("is not a number of seconds");
        for (const char c : text) {
            if (c < '0' || c > '9') malformed("is not a number of seconds");
            seconds = seconds * 10 + (c - '0');
        }
    } else {
        malformed("is not a number");
    }
    if (seconds < 0 || seconds > limit) malformed("is out of range");
    return std::chrono::seconds(seconds);
}

bool is_nqchar(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

} // namespace

std::string_view to_string(client_auth_method method) noexcept {
    switch (method) {
    case client_auth_method::none: return "none";
    case client_auth_method::client_secret_basic: return "client_secret_basic";
    case client_auth_method::client_secret_post: return "client_secret_post";
    }
    return "unknown";
}

client_auth_method choose_client_auth(const provider_metadata& metadata, const client_info& client) {
    if (!client.client_secret || client.type == client_type::solid_oidc) return client_auth_method::none;
    if (metadata.token_endpoint_auth_methods_supported.empty() || advertises(metadata, "client_secret_basic"))
        return client_auth_method::client_secret_basic;
    if (advertises(metadata, "client_secret_post")) return client_auth_method::client_secret_post;
    std::string advertised;
    for (const auto& method : metadata.token_endpoint_auth_methods_supported) {
        if (!advertised.empty()) advertised += ", ";
        advertised += detail::printable(method, 64);
        if (advertised.size() > 300) {
            advertised += ", ...";
            break;
        }
    }
    throw error(oidc_errc::invalid_client,
                "provider '" + detail::printable(metadata.issuer) +
                    "' offers neither client_secret_basic nor client_secret_post for a client with a secret "
                    "(it advertises: " + advertised + ")");
}

http::request refresh_token_request(const provider_metadata& metadata, const client_info& client,
                                    client_auth_method auth, std::string_view refresh_token,
                                    std::optional<std::string_view> scope, std::optional<std::string_view> dpop_proof) {
    fields body{{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}};
    if (scope) body.emplace_back("scope", *scope);
    return token_request(metadata, client, auth, std::move(body), dpop_proof);
}

http::request client_credentials_request(const provider_metadata& metadata, const client_info& client,
                                         client_auth_method auth, std::string_view scope,
                                         std::optional<std::string_view> dpop_proof) {
    return token_request(metadata, client, auth, {{"grant_type", "client_credentials"}, {"scope", scope}},
                         dpop_proof);
}

http::request authorization_code_request(const provider_metadata& metadata, const client_info& client,
                                         client_auth_method auth, std::string_view code,
                                         std::string_view redirect_uri, std::string_view code_verifier,
                                         std::optional<std::string_view> dpop_proof) {
    return token_request(metadata, client, auth,
                         {{"grant_type", "authorization_code"},
                          {"code", code},
                          {"redirect_uri", redirect_uri},
                          {"code_verifier", code_verifier}},
                         dpop_proof);
}

std::optional<oauth_error_details> parse_oauth_error(const http::response& response) {
    const auto doc = detail::try_parse_json_object(response.body);
    if (!doc) return std::nullopt;
    const auto it = doc->find("error");
    if (it == doc->end() || !it->is_string()) return std::nullopt;
    oauth_error_details details;
    details.error = it->get<std::string>();
    if (const auto d = doc->find("error_description"); d != doc->end() && d->is_string())
        details.description = d->get<std::string>();
    if (const auto u = doc->find("error_uri"); u != doc->end() && u->is_string()) details.uri = u->get<std::string>();
    return details;
}

http::request client_authenticated_post(std::string url, const client_info& client, client_auth_method auth,
                                        std::vector<std::pair<std::string_view, std::string_view>> body) {
    if (auth != client_auth_method::none && !client.client_secret)
        throw error(oidc_errc::invalid_client, "client authentication " + std::string(to_string(auth)) +
                                                   " chosen for a client without a secret");
    http::request request;
    request.method = "POST";
    request.url = std::move(url);
    request.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    request.headers.push_back({"Accept", "application/json"});
    switch (auth) {
    case client_auth_method::none:
        body.emplace_back("client_id", client.client_id);
        break;
    case client_auth_method::client_secret_basic:
        request.headers.push_back(
            {"Authorization", client_secret_basic_credential(client.client_id, *client.client_secret)});
        break;
    case client_auth_method::client_secret_post:
        body.emplace_back("client_id", client.client_id);
        body.emplace_back("client_secret", *client.client_secret);
        break;
    }
    request.body = form_body(body);
    return request;
}

void throw_oauth_error(std::string_view endpoint, int status, std::string_view code) {
    const auto shown = printable_error_code(code);
    // Map only a code that survived sanitising unchanged; a mangled one is just "another error".
    const auto errc = shown == code ? oauth_error_code(code) : oidc_errc::oauth_error;
    throw error(errc, std::string(endpoint) + " answered HTTP " + std::to_string(status) + " with error " + shown);
}

oidc_errc oauth_error_code(std::string_view error) noexcept {
    if (error == "invalid_grant") return oidc_errc::invalid_grant;
    if (error == "invalid_client") return oidc_errc::invalid_client;
    if (error == "unauthorized_client") return oidc_errc::unauthorized_client;
    if (error == "invalid_request") return oidc_errc::invalid_request;
    if (error == "invalid_scope") return oidc_errc::invalid_scope;
    if (error == "unsupported_grant_type") return oidc_errc::unsupported_grant_type;
    if (error == "invalid_dpop_proof") return oidc_errc::invalid_dpop_proof;
    if (error == "use_dpop_nonce") return oidc_errc::use_dpop_nonce;
    if (error == "server_error" || error == "temporarily_unavailable") return oidc_errc::server_error;
    return oidc_errc::oauth_error;
}

std::optional<std::string> dpop_nonce_of(const http::response& response) {
    const auto value = response.header_value("DPoP-Nonce");
    if (!value || value->empty() || !std::all_of(value->begin(), value->end(), is_nqchar)) return std::nullopt;
    return std::string(*value);
}

token_response parse_token_response(const http::response& response,
                                    std::optional<std::string_view> previous_refresh_token) {
    const int status = response.status;
    const bool success = status >= 200 && status <= 299;
    if (!success) {
        if (const auto details = parse_oauth_error(response)) throw_oauth_error(status, details->error);
        if (status >= 500 && status <= 599)
            throw error(oidc_errc::server_error, "token endpoint answered HTTP " + std::to_string(status));
        throw error(oidc_errc::unexpected_status, "token endpoint answered HTTP " + std::to_string(status));
    }
    const auto doc = detail::parse_json_object(response.body, "token response");
    if (!doc.contains("access_token")) {
        if (const auto it = doc.find("error"); it != doc.end() && it->is_string())
            throw_oauth_error(status, it->get_ref<const std::string&>());
    }

    token_response out;
    auto& tokens = out.tokens;
    auto access_token = optional_string(doc, "access_token");
    if (!access_token) malformed("'access_token' is missing");
    tokens.access_token = std::move(*access_token);

    const auto type = optional_string(doc, "token_type");
    if (!type) malformed("'token_type' is missing");
    if (detail::iequals(*type, "DPoP")) tokens.token_type = "DPoP";
    else if (detail::iequals(*type, "Bearer")) tokens.token_type = "Bearer";
    else malformed("'token_type' is neither DPoP nor Bearer");

    tokens.expires_in = seconds_of(doc, "expires_in");
    // Not in RFC 6749, but what Keycloak and others say about the refresh token's lifetime.
    tokens.refresh_expires_in = seconds_of(doc, "refresh_expires_in");
    tokens.id_token = optional_string(doc, "id_token");
    tokens.scope = optional_string(doc, "scope", /*allow_empty=*/true);
    if (auto fresh = optional_string(doc, "refresh_token")) {
        tokens.refresh_token_rotated = !previous_refresh_token || *previous_refresh_token != *fresh;
        tokens.refresh_token = std::move(fresh);
    } else if (previous_refresh_token && !previous_refresh_token->empty()) {
        tokens.refresh_token = std::string(*previous_refresh_token);
    }
    out.dpop_nonce = dpop_nonce_of(response);
    return out;
}

} // namespace multisession::oidc
