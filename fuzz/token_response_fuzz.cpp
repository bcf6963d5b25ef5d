// Token endpoint answers (status, headers, body): success bodies, OAuth error bodies, DPoP nonces
// and WWW-Authenticate challenges, as a provider - broken or hostile - may send them.
#include "fuzz_input.hpp"
#include "fuzz_target.hpp"

#include "oidc/wire_challenge.hpp"
#include "oidc/wire_token.hpp"

#include <multisession/error.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

namespace {

bool is_nqchar_text(std::string_view text) {
    if (text.empty()) return false;
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x21 || u > 0x7e || u == '"' || u == '\\') return false;
    }
    return true;
}

} // namespace

FUZZ_TARGET(token_response) {
    const auto response = fuzz::response_of(input);
    try {
        const auto parsed = oidc::parse_token_response(response, std::string_view("previous-refresh-token"));
        const auto& tokens = parsed.tokens;
        fuzz_check(response.status >= 200 && response.status < 300, "only a 2xx answer grants tokens");
        fuzz_check(!tokens.access_token.empty(), "a granted access token is not empty");
        fuzz_check(tokens.token_type == "DPoP" || tokens.token_type == "Bearer", "token_type is DPoP or Bearer");
        fuzz_check(tokens.refresh_token.has_value(), "the previous refresh token is kept when none is sent");
        fuzz_check(!tokens.expires_in || (tokens.expires_in->count() >= 0 && *tokens.expires_in <= oidc::max_expires_in),
                   "expires_in within bounds");
        fuzz_check(tokens.refresh_token_rotated == (*tokens.refresh_token != "previous-refresh-token"),
                   "rotated exactly when the refresh token changed");
        if (parsed.dpop_nonce) fuzz_check(is_nqchar_text(*parsed.dpop_nonce), "a DPoP nonce is 1*NQCHAR");
    } catch (const multisession::error& e) {
        fuzz_check(e.code().category() == oidc_category(), "token answers fail with an oidc error");
    }
    (void)oidc::parse_oauth_error(response);
    if (const auto nonce = oidc::dpop_nonce_of(response)) fuzz_check(is_nqchar_text(*nonce), "a DPoP nonce is 1*NQCHAR");
    (void)oidc::needs_dpop_nonce(response);
    for (const auto& challenge : oidc::challenges_of(response))
        fuzz_check(!challenge.scheme.empty(), "a challenge has a scheme");
}
