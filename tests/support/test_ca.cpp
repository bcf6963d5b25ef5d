#include "test_ca.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <stdexcept>

namespace multisession::test {

namespace {

[[noreturn]] void fail(const char* what) { throw std::runtime_error(std::string("test_ca: ") + what); }

template <class T, void (*Free)(T*)>
struct deleter {
    void operator()(T* p) const noexcept { Free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY, EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509, X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO, BIO_free_all>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION, X509_EXTENSION_free>>;

pkey_ptr new_p256_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) fail("EC key generation failed");
    return key;
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

std::string cert_to_pem(X509* cert) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail("PEM_write_bio_X509 failed");
    return bio_text(bio.get());
}

std::string key_to_pem(EVP_PKEY* key) {
    bio_ptr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        fail("PEM_write_bio_PrivateKey failed");
    return bio_text(bio.get());
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail("adding an X.509 extension failed");
}

// A certificate with a random serial, the given subject CN and public key, valid [-1 h, +1 day].
x509_ptr new_cert(const std::string& common_name, EVP_PKEY* subject_key) {
    x509_ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), 2) != 1) fail("X509_new failed");
    unsigned char serial_bytes[16];
    if (RAND_bytes(serial_bytes, sizeof serial_bytes) != 1) fail("RAND_bytes failed");
    serial_bytes[0] &= 0x7f; // positive
    BIGNUM* serial = BN_bin2bn(serial_bytes, sizeof serial_bytes, nullptr);
    if (!serial || !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()))) fail("serial failed");
    BN_free(serial);
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600))
        fail("validity failed");
    X509_NAME* name = X509_get_subject_name(cert.get());
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1)
        fail("subject failed");
    if (X509_set_pubkey(cert.get(), subject_key) != 1) fail("X509_set_pubkey failed");
    return cert;
}

void sign(X509* cert, EVP_PKEY* issuer_key) {
    if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) fail("X509_sign failed");
}

} // namespace

struct test_ca::key_holder {
    pkey_ptr key;
};

test_ca::test_ca(const std::string& common_name)
    : key_(std::make_unique<key_holder>(key_holder{new_p256_key()})), cert_(nullptr) {
    x509_ptr cert = new_cert(common_name, key_->key.get());
    if (X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get())) != 1) fail("issuer failed");
    add_ext(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), cert.get(), NID_subject_key_identifier, "hash");
    sign(cert.get(), key_->key.get());
    cert_pem_ = cert_to_pem(cert.get());
    cert_ = cert.release();
}

test_ca::~test_ca() { X509_free(static_cast<X509*>(cert_)); }

tls_identity test_ca::issue(const std::vector<std::string>& subject_alt_names) const {
    if (subject_alt_names.empty()) fail("a certificate needs at least one subject alternative name");
    auto* ca_cert = static_cast<X509*>(cert_);
    pkey_ptr key = new_p256_key();
    const std::string& first = subject_alt_names.front();
    auto colon = first.find(':');
    x509_ptr cert = new_cert(colon == std::string::npos ? first : first.substr(colon + 1), key.get());
    if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert)) != 1) fail("issuer failed");
    std::string sans;
    for (const auto& san : subject_alt_names)
        sans += (sans.empty() ? "" : ",") + san;
    add_ext(cert.get(), ca_cert, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), ca_cert, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), ca_cert, NID_ext_key_usage, "serverAuth");
    add_ext(cert.get(), ca_cert, NID_subject_alt_name, sans);
    add_ext(cert.get(), ca_cert, NID_authority_key_identifier, "keyid:always");
    sign(cert.get(), key_->key.get());
    return tls_identity{cert_to_pem(cert.get()), key_to_pem(key.get())};
}

tls_identity test_ca::issue_localhost() const { return issue({"DNS:localhost", "IP:127.0.0.1", "IP:::1"}); }

std::filesystem::path test_ca::write_cert(const std::filesystem::path& dir, const std::string& file_name) const {
    auto path = dir / file_name;
    write_pem_file(path, cert_pem_);
    return path;
}

void write_pem_file(const std::filesystem::path& path, const std::string& pem) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << pem;
    out.close();
    if (!out) throw std::runtime_error("test_ca: cannot write " + path.string());
}

} // namespace multisession::test
