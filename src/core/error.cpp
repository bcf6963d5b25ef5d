#include <multisession/error.hpp>

namespace multisession {
namespace {

/// One category per error enum: a name and a message for each value.
template <class Enum>
class enum_category final : public std::error_category {
public:
    using describe_fn = const char* (*)(Enum);
    enum_category(const char* name, describe_fn describe) : name_(name), describe_(describe) {}

    const char* name() const noexcept override { return name_; }
    std::string message(int value) const override {
        const char* text = describe_(static_cast<Enum>(value));
        return text != nullptr ? text : std::string(name_) + " error " + std::to_string(value);
    }

private:
    const char* name_;
    describe_fn describe_;
};

const char* describe(storage_errc e) {
    switch (e) {
    case storage_errc::io_error: return "storage I/O error";
    case storage_errc::corrupt_record: return "stored entry is corrupt";
    case storage_errc::busy: return "store is locked by another writer";
    case storage_errc::invalid_key: return "invalid key";
    case storage_errc::invalid_uri: return "invalid storage URI";
    case storage_errc::decryption_failed: return "stored value failed authentication";
    case storage_errc::unknown_key_id: return "stored value is sealed with an unknown key";
    case storage_errc::invalid_configuration: return "invalid storage configuration";
    case storage_errc::backend_error: return "storage backend error";
    case storage_errc::unavailable: return "storage server unavailable";
    case storage_errc::invalid_value: return "invalid value";
    }
    return nullptr;
}

const char* describe(http_errc e) {
    switch (e) {
    case http_errc::invalid_url: return "invalid URL";
    case http_errc::insecure_url_refused: return "plain HTTP refused";
    case http_errc::connect_failed: return "could not connect";
    case http_errc::tls_failed: return "TLS handshake failed";
    case http_errc::timeout: return "timed out";
    case http_errc::connection_closed: return "connection closed before the response was complete";
    case http_errc::malformed_response: return "malformed HTTP response";
    case http_errc::body_too_large: return "response body too large";
    case http_errc::shut_down: return "HTTP client shut down";
    }
    return nullptr;
}

const char* describe(oidc_errc e) {
    switch (e) {
    case oidc_errc::invalid_grant: return "the grant is invalid, expired, revoked or already used";
    case oidc_errc::invalid_client: return "client authentication failed";
    case oidc_errc::unauthorized_client: return "the client is not allowed this grant";
    case oidc_errc::invalid_request: return "the provider rejected the request";
    case oidc_errc::invalid_scope: return "invalid scope";
    case oidc_errc::unsupported_grant_type: return "unsupported grant type";
    case oidc_errc::invalid_dpop_proof: return "the provider rejected the DPoP proof";
    case oidc_errc::use_dpop_nonce: return "the provider kept demanding a DPoP nonce";
    case oidc_errc::oauth_error: return "OAuth error";
    case oidc_errc::server_error: return "provider error";
    case oidc_errc::unexpected_status: return "unexpected HTTP status";
    case oidc_errc::malformed_response: return "malformed provider response";
    case oidc_errc::issuer_mismatch: return "issuer mismatch";
    case oidc_errc::invalid_token: return "invalid token";
    case oidc_errc::unsupported_algorithm: return "algorithm not allowed";
    case oidc_errc::token_expired: return "token expired";
    case oidc_errc::token_not_yet_valid: return "token not yet valid";
    case oidc_errc::audience_mismatch: return "token audience mismatch";
    case oidc_errc::unknown_key: return "no matching signing key";
    case oidc_errc::invalid_key: return "invalid key";
    case oidc_errc::missing_webid: return "no WebID in the token";
    case oidc_errc::invalid_state: return "no pending login for this state (unknown, used or expired)";
    case oidc_errc::access_denied: return "the authorization was refused";
    case oidc_errc::unsupported_feature: return "the provider does not offer this";
    }
    return nullptr;
}

} // namespace

const std::error_category& storage_category() noexcept {
    static const enum_category<storage_errc> category("multisession.storage", describe);
    return category;
}

const std::error_category& http_category() noexcept {
    static const enum_category<http_errc> category("multisession.http", describe);
    return category;
}

const std::error_category& oidc_category() noexcept {
    static const enum_category<oidc_errc> category("multisession.oidc", describe);
    return category;
}

std::error_code make_error_code(storage_errc e) noexcept { return {static_cast<int>(e), storage_category()}; }
std::error_code make_error_code(http_errc e) noexcept { return {static_cast<int>(e), http_category()}; }
std::error_code make_error_code(oidc_errc e) noexcept { return {static_cast<int>(e), oidc_category()}; }

} // namespace multisession
