// ID tokens: compact JWS parsing and the whole verification an OpenID Connect client owes them
// (algorithm allow-list, key selection, signature, issuer, audience, times, the WebID rule).
// Two kinds of input:
//   "sign\n<header JSON>\n<payload JSON>": the target signs the two with its own key first, so
//       the claim checks behind the signature are reached with any header and payload;
//   anything else: a token as received, verified as it is.
// The key is a fixed test key (below), so seed tokens signed with it verify.
#include "fuzz_input.hpp"
#include "fuzz_target.hpp"

#include "oidc/jwk.hpp"
#include "oidc/jwt.hpp"
#include "oidc/wire_json.hpp"

#include <multisession/error.hpp>

#include <chrono>

using namespace multisession;
using multisession::fuzz::fuzz_check;

namespace {

// A P-256 key made for these tests; it protects nothing.
constexpr std::string_view test_private_jwk =
    R"({"kty":"EC","crv":"P-256","kid":"fuzz-key","x":"SMojdx3wN4chRpagRhv1edgI_x8PX9KIpIjJyreeTRY",)"
    R"("y":"4B8Kwv6zwqP2vHstyca8dHgwBrhhmjT-V-UcpRK-kSE","d":"T9aAXPqPxLU8GaDQb7CxI5SK0JRvamEWbT8T_yXAnco"})";
constexpr std::string_view test_jwks =
    R"({"keys":[{"kty":"EC","crv":"P-256","kid":"fuzz-key","use":"sig","alg":"ES256",)"
    R"("x":"SMojdx3wN4chRpagRhv1edgI_x8PX9KIpIjJyreeTRY","y":"4B8Kwv6zwqP2vHstyca8dHgwBrhhmjT-V-UcpRK-kSE"}]})";

struct fixture {
    oidc::jwk_key signer = oidc::parse_jwk(test_private_jwk);
    oidc::jwks keys = oidc::jwks::parse(test_jwks);
    oidc::jwt_expectations expected;

    fixture() {
        expected.issuer = "https://issuer.example";
        expected.audience = "fuzz-client";
        // 2027-01-15: seed tokens carry times around it.
        expected.now = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
    }
};

const fixture& the_fixture() {
    static const fixture f;
    return f;
}

} // namespace

FUZZ_TARGET(jwt) {
    const auto& f = the_fixture();
    std::string token;
    if (input.substr(0, 5) == "sign\n") {
        const auto [header_text, payload_text] = fuzz::split_line(input.substr(5));
        auto header = oidc::detail::try_parse_json_object(header_text);
        auto payload = oidc::detail::try_parse_json_object(payload_text);
        if (!header || !payload) return;
        try {
            token = oidc::sign_compact_jws(std::move(*header), *payload, f.signer.key.get(), oidc::jws_algorithm::es256);
        } catch (const multisession::error& e) {
            fuzz_check(e.code() == oidc_errc::invalid_request, "signing fails only on text that is not UTF-8");
            return;
        }
    } else {
        token = std::string(input);
    }

    try {
        const auto parts = oidc::parse_compact_jws(token);
        fuzz_check(parts.header.is_object() && parts.payload.is_object(), "header and payload are objects");
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == oidc_errc::invalid_token, "a malformed JWS is invalid_token");
    }

    try {
        const auto claims = oidc::verify_jwt(token, f.keys, f.expected);
        fuzz_check(claims.is_object(), "verified claims are an object");
        fuzz_check(claims.contains("iss") && claims["iss"] == f.expected.issuer, "a verified token is the issuer's");
        try {
            const auto webid = oidc::webid_from_claims(claims);
            fuzz_check(webid.starts_with("http://") || webid.starts_with("https://"), "a WebID is an http(s) URL");
        } catch (const multisession::error& e) {
            fuzz_check(e.code() == oidc_errc::missing_webid, "no WebID is missing_webid");
        }
    } catch (const multisession::error& e) {
        fuzz_check(e.code().category() == oidc_category(), "a refused token is an oidc error");
    }
}
