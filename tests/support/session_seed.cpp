#include "session_seed.hpp"

#include "oidc/dpop.hpp"
#include "session/session_record.hpp"

namespace multisession::test {

std::vector<std::string> seed_sessions(test_issuer& issuer, storage& store, std::size_t n,
                                       const seed_options& options) {
    namespace sd = session_detail;
    issuer.add_client({options.client_id, options.client_secret, std::nullopt});
    std::vector<std::string> ids;
    ids.reserve(n);
    for (std::size_t i = options.first_index; i < options.first_index + n; ++i) {
        const std::string id = options.id_prefix + std::to_string(i);
        const std::string webid = options.webid_prefix + std::to_string(i) + "#me";
        sd::session_record r;
        r.issuer = issuer.issuer();
        r.client_id = options.client_id;
        r.client_secret = options.client_secret;
        r.client_type = "static";
        r.webid = webid;
        r.is_logged_in = true;
        r.dpop = options.dpop;
        if (options.dpop) {
            const auto key = oidc::dpop_key::generate();
            r.public_key = key.public_jwk_json();
            r.private_key = key.private_jwk_json();
            r.refresh_token = issuer.mint_refresh_token(options.client_id, webid, key.thumbprint());
        } else {
            r.refresh_token = issuer.mint_refresh_token(options.client_id, webid);
        }
        store.set(sd::record_key(id), sd::serialize_session_record(r));
        ids.push_back(id);
    }
    return ids;
}

} // namespace multisession::test
