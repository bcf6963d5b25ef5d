#include "oidc/wire_discovery.hpp"

#include "oidc/wire_json.hpp"
#include "oidc/wire_text.hpp"
#include "oidc/wire_url.hpp"

#include <multisession/error.hpp>

namespace multisession::oidc {
namespace {

std::string_view without_trailing_slash(std::string_view text) noexcept {
    if (!text.empty() && text.back() == '/') text.remove_suffix(1);
    return text;
}

class document_reader {
public:
    document_reader(const nlohmann::json& doc, std::string context, bool allow_insecure_loopback)
        : doc_(doc), context_(std::move(context)), allow_insecure_loopback_(allow_insecure_loopback) {}

    [[noreturn]] void malformed(std::string_view field, std::string_view why) const {
        throw error(oidc_errc::malformed_response, context_ + ": '" + std::string(field) + "' " + std::string(why));
    }

    std::optional<std::string> string(const char* field) const {
        const auto it = doc_.find(field);
        if (it == doc_.end() || it->is_null()) return std::nullopt;
        if (!it->is_string()) malformed(field, "is not a string");
        return it->get<std::string>();
    }

    std::string required_string(const char* field) const {
        auto value = string(field);
        if (!value) malformed(field, "is missing");
        return std::move(*value);
    }

    std::optional<std::string> endpoint(const char* field) const {
        auto value = string(field);
        if (value) check(field, *value);
        return value;
    }

    void check(const char* field, const std::string& url) const {
        try {
            (void)check_endpoint_url(url, allow_insecure_loopback_);
        } catch (const error& e) {
            if (e.code() == http_errc::insecure_url_refused)
                throw error(http_errc::insecure_url_refused,
                            context_ + ": '" + field + "' is plain http to a host that is not loopback-allowed");
            malformed(field, "is not an acceptable absolute URL");
        }
    }

    std::vector<std::string> strings(const char* field, std::vector<std::string> fallback) const {
        const auto it = doc_.find(field);
        if (it == doc_.end() || it->is_null()) return fallback;
        if (!it->is_array()) malformed(field, "is not an array");
        std::vector<std::string> out;
        out.reserve(it->size());
        for (const auto& item : *it) {
            if (!item.is_string()) malformed(field, "has an element that is not a string");
            out.push_back(item.get<std::string>());
        }
        return out;
    }

private:
    const nlohmann::json& doc_;
    std::string context_;
    bool allow_insecure_loopback_;
};

} // namespace

http::request discovery_request(std::string_view issuer, const discovery_options& options) {
    const auto parts = check_endpoint_url(issuer, options.allow_insecure_loopback);
    if (parts.has_query) throw error(http_errc::invalid_url, "issuer '" + detail::printable(issuer) + "' has a query");
    http::request request;
    request.method = "GET";
    request.url = std::string(without_trailing_slash(issuer)) + "/.well-known/openid-configuration";
    request.headers.push_back({"Accept", "application/json"});
    return request;
}

provider_metadata parse_discovery(std::string_view issuer, const http::response& response,
                                  const discovery_options& options) {
    const std::string context = "discovery of '" + detail::printable(issuer) + "'";
    if (response.status < 200 || response.status > 299) {
        const auto code = response.status >= 500 && response.status <= 599 ? oidc_errc::server_error
                                                                             : oidc_errc::unexpected_status;
        throw error(code, context + ": HTTP status " + std::to_string(response.status));
    }
    const auto doc = detail::parse_json_object(response.body, context);
    const document_reader read(doc, context, options.allow_insecure_loopback);

    provider_metadata md;
    md.issuer = read.required_string("issuer");
    if (without_trailing_slash(md.issuer) != without_trailing_slash(issuer) || md.issuer.empty())
        throw error(oidc_errc::issuer_mismatch, context + ": the document names another issuer");
    read.check("issuer", md.issuer);
    md.token_endpoint = read.required_string("token_endpoint");
    read.check("token_endpoint", md.token_endpoint);
    md.authorization_endpoint = read.endpoint("authorization_endpoint");
    md.jwks_uri = read.endpoint("jwks_uri");
    md.registration_endpoint = read.endpoint("registration_endpoint");
    md.revocation_endpoint = read.endpoint("revocation_endpoint");
    md.end_session_endpoint = read.endpoint("end_session_endpoint");
    md.userinfo_endpoint = read.endpoint("userinfo_endpoint");
    md.token_endpoint_auth_methods_supported = read.strings("token_endpoint_auth_methods_supported",
                                                            {"client_secret_basic"});
    md.dpop_signing_alg_values_supported = read.strings("dpop_signing_alg_values_supported", {});
    md.id_token_signing_alg_values_supported = read.strings("id_token_signing_alg_values_supported", {});
    md.grant_types_supported = read.strings("grant_types_supported", {"authorization_code", "implicit"});
    md.scopes_supported = read.strings("scopes_supported", {});
    md.response_types_supported = read.strings("response_types_supported", {});
    md.code_challenge_methods_supported = read.strings("code_challenge_methods_supported", {});
    md.claims_supported = read.strings("claims_supported", {});
    return md;
}

} // namespace multisession::oidc
