// A throw-away certificate authority for TLS tests. Keys and certificates are generated in memory
// when a test runs (ECDSA P-256, SHA-256); no private key is ever stored in the repository.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace multisession::test {

/// A certificate and its private key, both PEM.
struct tls_identity {
    std::string cert_pem; ///< the leaf certificate (a server sends this chain)
    std::string key_pem;  ///< PKCS#8 private key
};

/// A self-signed CA (basicConstraints CA:TRUE) that issues server certificates.
/// Not thread-safe for concurrent issue() calls on one object.
class test_ca {
public:
    /// Generates the CA key and its self-signed certificate, valid from an hour ago for a day.
    /// Throws std::runtime_error when OpenSSL fails.
    explicit test_ca(const std::string& common_name = "multisession test CA");
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    /// The CA certificate, PEM: what a client trusts (client_options::ca_file).
    [[nodiscard]] const std::string& cert_pem() const noexcept { return cert_pem_; }

    /// Issues a server certificate (CA:FALSE, serverAuth) for `subject_alt_names` written the
    /// OpenSSL way: "DNS:localhost", "IP:127.0.0.1", "IP:::1". The first name is the subject CN.
    [[nodiscard]] tls_identity issue(const std::vector<std::string>& subject_alt_names) const;

    /// The usual loopback server identity: DNS:localhost, IP:127.0.0.1 and IP:::1.
    [[nodiscard]] tls_identity issue_localhost() const;

    /// Writes cert_pem() to `dir`/`file_name` and returns the path.
    std::filesystem::path write_cert(const std::filesystem::path& dir, const std::string& file_name = "ca.pem") const;

private:
    struct key_holder;
    std::unique_ptr<key_holder> key_;
    std::string cert_pem_;
    void* cert_; // X509*, kept opaque so this header stays free of OpenSSL
};

/// Writes `pem` to `path` (created or replaced).
void write_pem_file(const std::filesystem::path& path, const std::string& pem);

} // namespace multisession::test
