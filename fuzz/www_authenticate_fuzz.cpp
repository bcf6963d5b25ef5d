// One WWW-Authenticate field value (RFC 9110 section 11.6.1), as a resource server or a provider
// may send it: challenges with auth-params, quoted strings with escapes, token68.
#include "fuzz_target.hpp"

#include "oidc/wire_challenge.hpp"

#include <multisession/error.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

FUZZ_TARGET(www_authenticate) {
    try {
        const auto challenges = oidc::parse_www_authenticate(input);
        for (const auto& challenge : challenges) {
            fuzz_check(!challenge.scheme.empty(), "a challenge has a scheme");
            fuzz_check(!challenge.token68 || challenge.params.empty(), "token68 or params, not both");
            for (const auto& [name, value] : challenge.params) {
                fuzz_check(!name.empty(), "a parameter has a name");
                for (const char c : name) fuzz_check(!(c >= 'A' && c <= 'Z'), "parameter names are lower-cased");
                (void)value;
            }
        }
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == oidc_errc::malformed_response, "a bad challenge is malformed_response");
    }
}
