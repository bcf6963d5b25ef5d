// The certificate authority and localhost identity one test program shares: made once on first
// use (a CA generated for the run, in a temporary directory removed at exit).
#pragma once

#include "temp_dir.hpp"
#include "test_ca.hpp"

#include <string>

namespace multisession::test {

struct shared_test_pki {
    temp_dir dir;
    test_ca ca{"multisession test CA"};
    tls_identity localhost = ca.issue_localhost();
    std::string ca_file = ca.write_cert(dir.path()).string();
};

/// The program's CA and 127.0.0.1/localhost identity.
inline const shared_test_pki& shared_pki() {
    static const shared_test_pki pki;
    return pki;
}

} // namespace multisession::test
