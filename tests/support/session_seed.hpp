// Stored sessions for tests, the demo and the examples' smoke tests: records in Inrupt's layout
// whose refresh tokens the embedded test issuer minted, as if each user had logged in.
#pragma once

#include "test_issuer.hpp"

#include <multisession/storage.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace multisession::test {

struct seed_options {
    std::string client_id = "seed-client";
    /// Unset: a public client (no secret).
    std::optional<std::string> client_secret = std::string("seed-client-secret");
    /// Session i gets the id id_prefix + i and the WebID webid_prefix + i + "#me".
    std::string id_prefix = "session-";
    std::string webid_prefix = "https://pod.example/user-";
    std::size_t first_index = 0;
    /// DPoP-bound refresh tokens (a key pair per session, stored in the record) or Bearer.
    bool dpop = true;
};

/// Registers the client at `issuer` and stores `n` logged-in sessions in `store`; their ids, in
/// order.
std::vector<std::string> seed_sessions(test_issuer& issuer, storage& store, std::size_t n,
                                       const seed_options& options = {});

} // namespace multisession::test
