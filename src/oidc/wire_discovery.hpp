// OpenID Connect Discovery 1.0 (and RFC 8414 metadata): building the request for
// <issuer>/.well-known/openid-configuration and validating the provider's answer.
#pragma once

#include "oidc/wire_http.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::oidc {

/// What the library uses of a provider's discovery document. Endpoints are validated URLs (https,
/// or http to loopback when allowed); arrays default as the specification says when absent.
struct provider_metadata {
    std::string issuer;                                ///< as the document names it
    std::string token_endpoint;
    std::optional<std::string> authorization_endpoint;
    std::optional<std::string> jwks_uri;
    std::optional<std::string> registration_endpoint;
    std::optional<std::string> revocation_endpoint;
    std::optional<std::string> end_session_endpoint;
    std::optional<std::string> userinfo_endpoint;
    /// Default when absent: {"client_secret_basic"} (OIDC Discovery section 3, RFC 8414 section 2).
    std::vector<std::string> token_endpoint_auth_methods_supported;
    /// Empty when absent: the provider does not advertise DPoP.
    std::vector<std::string> dpop_signing_alg_values_supported;
    std::vector<std::string> id_token_signing_alg_values_supported;
    /// Default when absent: {"authorization_code", "implicit"}.
    std::vector<std::string> grant_types_supported;
    std::vector<std::string> scopes_supported;
    std::vector<std::string> response_types_supported;
    std::vector<std::string> code_challenge_methods_supported;
    std::vector<std::string> claims_supported;
};

/// How strictly endpoint URLs are checked.
struct discovery_options {
    /// Accept plain http:// for the issuer and endpoints when the host is 127.0.0.1, localhost or
    /// [::1] (test providers). Default false: https only.
    bool allow_insecure_loopback = false;
};

/// GET <issuer with one trailing '/' removed>/.well-known/openid-configuration, Accept:
/// application/json. Throws multisession::error: http_errc::invalid_url when `issuer` is not an
/// absolute URL or has a query or fragment (OIDC Discovery section 3 forbids them),
/// http_errc::insecure_url_refused for plain http (see discovery_options).
http::request discovery_request(std::string_view issuer, const discovery_options& options = {});

/// Validates a discovery response for the configured `issuer`.
///
/// Issuer comparison: exact string equality (OIDC Discovery section 4.3), except that one trailing
/// '/' on either side is ignored: discovery_request fetches the same document for "https://a" and
/// "https://a/", so the two spellings name the same provider; the document's own spelling is kept
/// in the result (ID tokens carry that one in `iss`).
///
/// Throws multisession::error: oidc_errc::server_error on 5xx, oidc_errc::unexpected_status on any
/// other non-2xx; oidc_errc::malformed_response when the body is not a JSON object, `issuer` or
/// `token_endpoint` is missing or not a string, a known field has the wrong type (endpoints must be
/// strings, list fields arrays of strings; null counts as absent) or an endpoint is not a URL;
/// oidc_errc::issuer_mismatch; http_errc::insecure_url_refused for an http endpoint (see
/// discovery_options). Unknown members are ignored. Pure.
provider_metadata parse_discovery(std::string_view issuer, const http::response& response,
                                  const discovery_options& options = {});

} // namespace multisession::oidc
