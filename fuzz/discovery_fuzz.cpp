// Discovery documents: the first line is the issuer the client was configured with, the rest the
// provider's answer (status, headers, body) for <issuer>/.well-known/openid-configuration.
#include "fuzz_input.hpp"
#include "fuzz_target.hpp"

#include "oidc/wire_discovery.hpp"

#include <multisession/error.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

namespace {

std::string_view without_trailing_slash(std::string_view text) {
    if (!text.empty() && text.back() == '/') text.remove_suffix(1);
    return text;
}

} // namespace

FUZZ_TARGET(discovery) {
    const auto [issuer, rest] = fuzz::split_line(input);
    const auto response = fuzz::response_of(rest);
    for (const bool loopback : {false, true}) {
        const oidc::discovery_options options{loopback};
        try {
            (void)oidc::discovery_request(issuer, options);
        } catch (const multisession::error& e) {
            fuzz_check(e.code().category() == http_category(), "a bad issuer is an http error");
        }
        try {
            const auto metadata = oidc::parse_discovery(issuer, response, options);
            fuzz_check(without_trailing_slash(metadata.issuer) == without_trailing_slash(issuer),
                       "the document is the configured issuer's");
            fuzz_check(!metadata.token_endpoint.empty(), "a token endpoint is named");
            fuzz_check(!metadata.token_endpoint_auth_methods_supported.empty(), "auth methods default when absent");
        } catch (const multisession::error& e) {
            fuzz_check(e.code().category() == oidc_category() || e.code().category() == http_category(),
                       "a bad document is an oidc or http error");
        }
    }
}
