// JSON Web Keys and key sets as a provider publishes them at its jwks_uri, and single keys as
// session records store them ("publicKey", "privateKey").
#include "fuzz_target.hpp"

#include "oidc/jwk.hpp"
#include "oidc/wire_json.hpp"

#include <multisession/error.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

FUZZ_TARGET(jwks) {
    try {
        const auto keys = oidc::jwks::parse(input);
        for (const auto& key : keys.keys()) {
            fuzz_check(key.key != nullptr, "a usable key is loaded");
            if (!key.kid.empty()) fuzz_check(!keys.find(key.kid).empty(), "a key is found by its kid");
        }
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == oidc_errc::malformed_response, "a bad key set is malformed_response");
    }
    try {
        const auto key = oidc::parse_jwk(input);
        fuzz_check(key.key != nullptr, "a parsed key is loaded");
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == oidc_errc::invalid_key || e.code() == oidc_errc::malformed_response,
                   "a bad key is invalid_key");
    }
    if (auto json = oidc::detail::try_parse_json_object(input)) {
        try {
            const auto thumbprint = oidc::jwk_thumbprint(*json);
            fuzz_check(thumbprint.size() == 43, "a thumbprint is a base64url SHA-256");
        } catch (const multisession::error& e) {
            fuzz_check(e.code() == oidc_errc::invalid_key, "a key without its members is invalid_key");
        }
    }
}
