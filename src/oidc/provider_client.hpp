// The provider client: what sessions use to talk to OpenID providers and resource servers. It
// joins the sans-I/O protocol pieces (discovery, token grants, DPoP, JWT/JWKS) to an
// http::transport and keeps what all sessions share:
//   - discovery documents, cached per issuer for a TTL, fetched once however many callers ask;
//   - JWKS, cached per issuer, refetched when a token names an unknown `kid` (at most once per
//     refetch interval, so a stream of bogus kids cannot make us hammer the provider);
//   - DPoP nonces, cached per origin (RFC 9449 section 8), with one retry when the token endpoint
//     or a resource server asks for a fresh nonce.
// No Beast and no Asio here: completions are plain callbacks, run on the transport's executor (or,
// for answers served from the caches, on the calling thread). provider_client_asio.hpp adds the
// Asio completion-token forms; the blocking forms below wait for the callback.
#pragma once

#include "http/transport.hpp"
#include "oidc/dpop.hpp"
#include "oidc/jwk.hpp"
#include "oidc/wire_discovery.hpp"
#include "oidc/wire_login.hpp"
#include "oidc/wire_token.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace multisession::oidc {

/// Settings of a provider_client. Durations are wall-clock (see `clock`).
struct provider_client_options {
    /// Plain http:// issuers, endpoints and resources on 127.0.0.1, localhost and [::1] are
    /// accepted only when this is set (tests, local providers); the transport must allow them too.
    bool allow_insecure_loopback = false;
    /// How long a discovery document is reused before it is fetched again.
    std::chrono::seconds discovery_ttl{3600};
    /// How long a JWKS is reused before it is fetched again (a token with an unknown `kid` refetches
    /// earlier, see jwks_refetch_interval).
    std::chrono::seconds jwks_ttl{3600};
    /// Least time between two fetches of one issuer's JWKS triggered by an unknown `kid`.
    std::chrono::seconds jwks_refetch_interval{60};
    /// Tolerance for clocks that disagree, applied to `exp`, `nbf` and `iat` of verified tokens.
    std::chrono::seconds clock_skew{60};
    /// Accepted JWT signature algorithms (see jwt_expectations::allowed_algorithms).
    std::vector<std::string> allowed_algorithms{"RS256", "PS256", "ES256", "EdDSA"};
    /// Most origins whose DPoP nonce is remembered; the least recently stored is forgotten first.
    std::size_t max_nonce_origins = 4096;
    /// "Now" for cache ages, DPoP `iat` and token time claims; empty means system_clock::now.
    std::function<std::chrono::system_clock::time_point()> clock{};
};

/// Counters, for tests and benchmarks. Monotonic since creation.
struct provider_client_stats {
    std::uint64_t discovery_fetches = 0;     ///< discovery requests sent
    std::uint64_t jwks_fetches = 0;          ///< JWKS requests sent
    std::uint64_t token_requests = 0;        ///< token endpoint requests sent (retries included)
    std::uint64_t resource_requests = 0;     ///< fetch() requests sent (retries included)
    std::uint64_t nonce_retries = 0;         ///< requests repeated with a fresh DPoP nonce
    std::uint64_t registration_requests = 0; ///< dynamic client registration requests sent
    std::uint64_t revocation_requests = 0;   ///< token revocation requests sent
};

/// How a request to a resource server is authorised: the access token and, for DPoP-bound tokens
/// (token_type "DPoP", any case), the key the token is bound to. All secrets.
struct resource_credentials {
    ::multisession::detail::secret_string access_token{};
    std::string token_type = "DPoP";
    std::optional<dpop_key> key{}; ///< required for token_type "DPoP"
};

/// Talks to any number of providers over one transport. Create it with create(). Thread-safe: every method may be called from any
/// thread at once.
///
/// Completion callbacks are called exactly once, on the transport's executor or (for cache hits
/// and argument errors) on the calling thread before the async_ method returns. On failure the
/// error_code is one of http_errc (transport), oidc_errc (protocol) or storage_errc never; the
/// value argument is then empty. The blocking forms throw multisession::error carrying the same
/// code; they must not be called on the transport's executor thread (they would wait for
/// themselves).
class provider_client {
public:
    using metadata_ptr = std::shared_ptr<const provider_metadata>;
    using jwks_ptr = std::shared_ptr<const jwks>;

    template <class T>
    using callback = std::function<void(std::error_code, T)>;

    static std::shared_ptr<provider_client> create(std::shared_ptr<http::transport> transport,
                                                   provider_client_options options = {});
    ~provider_client();
    provider_client(const provider_client&) = delete;
    provider_client& operator=(const provider_client&) = delete;

    /// The discovery document of `issuer`, from the cache when fresh. Concurrent calls for one
    /// issuer share one request. A failed fetch is not cached.
    void async_discover(std::string issuer, callback<metadata_ptr> done);

    /// The JWKS of `issuer` (discovering it first when needed), from the cache when fresh.
    void async_jwks(std::string issuer, callback<jwks_ptr> done);

    /// grant_type=refresh_token. With `key`, the request carries a DPoP proof (with the origin's
    /// cached nonce, and one retry when the provider demands a new one). The result keeps
    /// `refresh_token` when the provider did not rotate it. The ID token, if any, is not verified
    /// here: persist a rotated refresh token first, then call async_verify_id_token.
    void async_refresh(std::string issuer, client_info client, std::string refresh_token,
                       std::optional<dpop_key> key, callback<token_set> done);

    /// grant_type=client_credentials with `scope`; DPoP as async_refresh.
    void async_client_credentials(std::string issuer, client_info client, std::optional<dpop_key> key,
                                  std::string scope, callback<token_set> done);

    /// grant_type=authorization_code with PKCE; DPoP as async_refresh.
    void async_authorization_code(std::string issuer, client_info client, std::string code,
                                  std::string redirect_uri, std::string code_verifier,
                                  std::optional<dpop_key> key, callback<token_set> done);

    /// Registers a client at the issuer's registration_endpoint (RFC 7591), discovering it first.
    /// Fails with oidc_errc::unsupported_feature when the provider advertises no registration
    /// endpoint, otherwise as registration_http_request and parse_registration_response. Never
    /// retried: a lost answer may have registered a client, and a second try registers another.
    void async_register(std::string issuer, registration_request request, callback<registered_client> done);

    /// Revokes `token` at the issuer's revocation_endpoint (RFC 7009), discovering it first, with
    /// the client authentication choose_client_auth picks. `token_type_hint` ("refresh_token",
    /// "access_token", or empty for none) helps the provider find the token. The value is true
    /// when the provider answered 200 (which it also does for a token it did not know). Fails
    /// with oidc_errc::unsupported_feature when the provider advertises no revocation endpoint,
    /// otherwise as revocation_request and check_revocation_response.
    void async_revoke(std::string issuer, client_info client, std::string token, std::string token_type_hint,
                      callback<bool> done);

    /// Verifies a JWT issued by `issuer` for `audience` against the issuer's JWKS (refetched once,
    /// rate-limited, when the token names a key the cached set lacks) and returns its claims. For
    /// ID tokens `audience` is the client id; Solid-OIDC access tokens carry "solid".
    void async_verify_jwt(std::string issuer, std::string audience, std::string token,
                          callback<nlohmann::json> done);

    /// Sends `req` to a resource server. With `credentials`, adds `Authorization: DPoP <token>` and
    /// a DPoP proof (htm, htu, ath, the origin's cached nonce), or `Authorization: Bearer <token>`;
    /// a 401 with a `use_dpop_nonce` challenge is retried once with the new nonce. Any status is
    /// returned as a response, not an error.
    void async_fetch(http::request req, std::optional<resource_credentials> credentials,
                     callback<http::response> done);

    // Blocking forms: the same operations, waiting for the result. Throw multisession::error.
    metadata_ptr discover(const std::string& issuer);
    jwks_ptr fetch_jwks(const std::string& issuer);
    token_set refresh(const std::string& issuer, const client_info& client, const std::string& refresh_token,
                      const std::optional<dpop_key>& key);
    token_set client_credentials(const std::string& issuer, const client_info& client,
                                 const std::optional<dpop_key>& key,
                                 const std::string& scope = std::string(default_client_credentials_scope));
    token_set authorization_code(const std::string& issuer, const client_info& client, const std::string& code,
                                 const std::string& redirect_uri, const std::string& code_verifier,
                                 const std::optional<dpop_key>& key);
    registered_client register_client(const std::string& issuer, const registration_request& request);
    void revoke(const std::string& issuer, const client_info& client, const std::string& token,
                const std::string& token_type_hint);
    nlohmann::json verify_jwt(const std::string& issuer, const std::string& audience, const std::string& token);
    http::response fetch(http::request req, const std::optional<resource_credentials>& credentials);

    /// Forgets the cached discovery document and JWKS of `issuer` (e.g. after a key compromise).
    void invalidate(const std::string& issuer);

    /// The DPoP nonce remembered for `origin` ("scheme://host:port", see origin_of), if any.
    std::optional<std::string> cached_nonce(const std::string& origin) const;

    provider_client_stats stats() const;

    /// The time this client uses (options.clock or the system clock).
    std::chrono::system_clock::time_point now() const;

    const provider_client_options& options() const noexcept;

private:
    struct state;
    explicit provider_client(std::shared_ptr<state> st);

    // Pending operations hold the state, not the client: destroying the client while requests are
    // in flight is fine, their callbacks still run.
    std::shared_ptr<state> state_;
};

} // namespace multisession::oidc
