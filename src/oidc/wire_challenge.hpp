// WWW-Authenticate challenges (RFC 9110 section 11.6.1, RFC 6750 section 3, RFC 9449 section 7.1)
// and the "retry with a DPoP nonce" decision for resource servers and the token endpoint.
#pragma once

#include "oidc/wire_http.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace multisession::oidc {

/// One challenge: `DPoP error="use_dpop_nonce", algs="ES256"` or `Basic dG9rZW42OA==`.
struct auth_challenge {
    std::string scheme;                                     ///< as sent; compare ignoring ASCII case
    std::vector<std::pair<std::string, std::string>> params; ///< names lower-cased, values unescaped
    std::optional<std::string> token68;                      ///< the token68 form instead of params

    /// The value of the first parameter named `name` (lower-case), or nullopt.
    [[nodiscard]] std::optional<std::string_view> param(std::string_view name) const {
        for (const auto& [key, value] : params)
            if (key == name) return std::string_view(value);
        return std::nullopt;
    }
};

/// Parses one WWW-Authenticate field value: comma-separated challenges, each a scheme followed by
/// auth-params (token or quoted-string values, backslash escapes resolved) or a token68; empty list
/// elements are skipped. Throws multisession::error(oidc_errc::malformed_response) on anything
/// else (the message holds no part of the value). Pure.
std::vector<auth_challenge> parse_www_authenticate(std::string_view value);

/// The challenges of every WWW-Authenticate field of `response`; fields that do not parse are
/// skipped. Never throws except std::bad_alloc.
std::vector<auth_challenge> challenges_of(const http::response& response);

/// True when the request should be repeated with the nonce from the DPoP-Nonce header (RFC 9449
/// section 8): a resource server's 401 with a DPoP challenge whose error is "use_dpop_nonce", or a
/// token endpoint's 400 whose JSON error is "use_dpop_nonce" - in both cases only when a
/// well-formed DPoP-Nonce header is present. Never throws except std::bad_alloc.
bool needs_dpop_nonce(const http::response& response);

} // namespace multisession::oidc
