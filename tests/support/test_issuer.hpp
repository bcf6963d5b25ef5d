// The embedded test issuer: a small OpenID provider and a protected resource on 127.0.0.1, built
// on test_http_server, for fault injection in tests, benchmarks and the demo. It serves
//   GET  /.well-known/openid-configuration   discovery
//   GET  /jwks                               the public signing keys
//   GET  /authorize                          the authorization endpoint (code flow, PKCE S256 only):
//                                            the "user" is whoever set_authorize_user() names
//   POST /token                              refresh_token, client_credentials, authorization_code (PKCE S256)
//   POST /register                           dynamic client registration (RFC 7591)
//   POST /revoke                             token revocation (RFC 7009)
//   GET  /logout                             RP-initiated logout (end_session_endpoint), GET or POST
//   ANY  /resource/...                       a protected resource that checks access tokens (DPoP or Bearer)
// /register, /revoke and /logout can be switched off (test_issuer_options::advertise_*): they then
// leave discovery and answer 404, as at a provider without them.
// Refresh tokens are minted provider-side (mint_refresh_token) or by an authorization code, and
// rotate on use; a rotated-away token is refused with invalid_grant and counted as a reuse, a
// revoked one is refused with invalid_grant and is no reuse. DPoP proofs are checked fully
// (typ, alg, jwk, signature, htm, htu, iat window, jti replay, ath, binding to the token's jkt,
// nonce when demanded). Every misbehaviour a client must survive can be switched on at run time.
// The presigned_refresh option is a benchmark mode that skips every check on prepared refreshes.
//
// The authorization endpoint never redirects to a URI it cannot trust: an unknown client_id, a
// missing redirect_uri, one the client did not register, or a query that does not decode gets a
// 400 text page. Every other outcome is a 302 to redirect_uri with `iss` (RFC 9207) and `state`,
// and either `code` or `error` (invalid_request, invalid_scope, access_denied, or the injected
// issuer_faults::authorize_error).
//
// Token and revocation endpoint answers (JSON {"error","error_description"}, always Cache-Control:
// no-store, and on the token endpoint DPoP-Nonce with the current nonce on every answer while
// require_dpop_nonce is set):
//   401 invalid_client        unknown client, wrong secret, a secret missing or unexpected, a client
//                             whose secret_expires_at has passed
//                             (with WWW-Authenticate: Basic when Basic credentials were sent)
//   400 invalid_dpop_proof    a DPoP header that fails a check, or none for a DPoP-bound refresh token
//   400 use_dpop_nonce        a valid proof without the current nonce (require_dpop_nonce)
//   400 invalid_grant         unknown, foreign, expired, revoked or rotated-away refresh token; a
//                             refresh token bound to another key than the proof's; unknown or spent
//                             code, wrong redirect_uri or code_verifier
//   400 unauthorized_client   client_credentials by a public client
//   400 invalid_scope, invalid_request, unsupported_grant_type
// The registration endpoint answers 201 with the client's credentials and metadata, or 400
// invalid_redirect_uri / invalid_client_metadata.
// The resource answers 401 with WWW-Authenticate `DPoP error="...", algs="ES256"` (invalid_token,
// invalid_dpop_proof, use_dpop_nonce with a DPoP-Nonce header) or `Bearer error="invalid_token"`;
// without an Authorization header it offers both schemes. A revoked access token is invalid_token.
#pragma once

#include "test_ca.hpp"
#include "test_http_server.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace multisession::test {

struct test_issuer_options {
    /// HTTPS with this identity (e.g. test_ca::issue_localhost()); unset: plain HTTP.
    std::optional<tls_identity> tls{};
    /// The host named in the issuer URL and endpoints (the server listens on 127.0.0.1 either way):
    /// "localhost" or "127.0.0.1".
    std::string host = "127.0.0.1";
    /// Algorithm of the ID and access token signatures: "ES256", "RS256", "PS256" or "EdDSA".
    std::string signing_algorithm = "ES256";
    std::chrono::seconds access_token_lifetime{300};
    /// 0 means refresh tokens never expire.
    std::chrono::seconds refresh_token_lifetime{0};
    /// Each refresh answers with a new refresh token and retires the old one (as oidc-provider
    /// and most Solid providers do). When false the refresh token stays valid and responses carry
    /// none (the client keeps the one it has).
    bool rotate_refresh_tokens = true;
    /// Advertised token_endpoint_auth_methods_supported (all three are accepted regardless).
    std::vector<std::string> token_endpoint_auth_methods{"client_secret_basic", "client_secret_post", "none"};
    /// Whether discovery advertises dpop_signing_alg_values_supported ["ES256"].
    bool advertise_dpop = true;
    /// Whether POST /register exists (and discovery names it as registration_endpoint).
    bool advertise_registration = true;
    /// Whether POST /revoke exists (and discovery names it as revocation_endpoint).
    bool advertise_revocation = true;
    /// Whether /logout exists (and discovery names it as end_session_endpoint).
    bool advertise_end_session = true;
    /// How long a secret issued by POST /register stays valid (client_secret_expires_at); 0 means
    /// it never expires (client_secret_expires_at 0, as RFC 7591 spells "never").
    std::chrono::seconds registration_secret_lifetime{0};
    /// "Now" for token times, refresh token expiry and DPoP iat checks; empty means the system
    /// clock. Called on the server thread and the caller's, under the issuer's lock.
    std::function<std::chrono::system_clock::time_point()> clock{};
    /// A benchmark mode, off by default, for measuring clients without the provider's cost:
    /// mint_refresh_token also prepares the whole token response that the first redemption of
    /// that refresh token will get (a successor refresh token, and an access token and an ID token
    /// signed there and then, valid for presigned_token_lifetime). POST /token with that refresh
    /// token is then answered with the prepared bytes: a lookup and a write, no signing, and NO
    /// check of the client's authentication or of the DPoP proof (nor issuer_faults, nor an entry
    /// in recent_token_requests). Rotation stays sane: the answered token is retired and a reuse
    /// gets invalid_grant (counted); the successor is an ordinary refresh token, redeemed through
    /// the full checks. Never use it where the checks are what a test is about.
    bool presigned_refresh = false;
    /// Lifetime of the tokens prepared by presigned_refresh, counted from the mint: long enough for
    /// a benchmark that mints many sessions before it redeems the first.
    std::chrono::seconds presigned_token_lifetime{24 * 3600};
};

/// A registered client. Without a secret it is public (token_endpoint_auth_method none).
struct test_client {
    std::string client_id{};
    std::optional<std::string> secret{};
    /// The WebID client_credentials tokens are issued for; unset: no id_token for that grant.
    std::optional<std::string> webid{};
    /// The redirect URIs /authorize accepts for this client (exact string match); empty: any.
    std::vector<std::string> redirect_uris{};
    /// From this instant on (issuer clock) the token and revocation endpoints refuse the client with
    /// 401 invalid_client, as a provider does once a registered secret has expired; unset: never.
    std::optional<std::chrono::system_clock::time_point> secret_expires_at{};
};

/// Misbehaviours. Each applies to every matching request while set; set_faults({}) clears them.
struct issuer_faults {
    std::chrono::milliseconds delay{0};   ///< silence before every response's headers
    std::chrono::milliseconds byte_interval{0}; ///< > 0: bodies trickle one byte per interval
    bool server_error = false;            ///< every endpoint answers 500 (a plain text body)
    bool token_server_error = false;      ///< only /token answers 500 with {"error":"server_error"}
    bool malformed_json = false;          ///< discovery, JWKS and token bodies are not JSON
    std::uint64_t huge_body_bytes = 0;    ///< > 0: every answer is a 200 body of this many bytes
    bool close_mid_body = false;          ///< every answer stops halfway and the connection closes
    bool never_answer = false;            ///< requests are read and never answered
    bool wrong_issuer = false;            ///< discovery and tokens name "https://evil.example"
    bool expired_id_token = false;        ///< ID tokens expired an hour ago
    bool future_id_token = false;         ///< ID tokens issued (iat, nbf) an hour from now
    bool bad_id_token_signature = false;  ///< ID token signatures do not verify
    bool id_token_alg_none = false;       ///< ID tokens are unsecured JWTs (alg none)
    std::optional<std::string> id_token_audience{}; ///< ID tokens carry this `aud` instead of the client id
    bool require_dpop_nonce = false;      ///< token endpoint and resource demand the current nonce
    bool omit_refresh_token = false;      ///< token responses carry no refresh_token (and nothing rotates)
    std::optional<std::string> token_type{}; ///< token_type spelling to answer with (e.g. "dpop")
    std::optional<std::string> oauth_error{}; ///< /token answers 400 {"error": this}
    /// /token answers 307 Temporary Redirect with this Location (e.g. "/token" itself): a client
    /// that followed it would send the refresh token again, wherever it points.
    std::optional<std::string> token_redirect{};
    /// /authorize redirects with error=this (once client and redirect_uri are known to be trusted).
    std::optional<std::string> authorize_error{};
};

/// Counters since start (or the last reset_counters()).
struct issuer_stats {
    std::uint64_t discovery_requests = 0;
    std::uint64_t jwks_requests = 0;
    std::uint64_t token_requests = 0;          ///< every POST /token, successful or not
    std::uint64_t tokens_issued = 0;           ///< 2xx token responses
    std::uint64_t refresh_reuses = 0;          ///< redemptions of an already rotated refresh token
    std::uint64_t nonce_challenges = 0;        ///< use_dpop_nonce answers (token endpoint and resource)
    std::uint64_t resource_requests = 0;
    std::uint64_t resource_authorized = 0;     ///< resource requests that passed every check
    std::uint64_t dpop_rejections = 0;         ///< proofs refused or missing where needed (token endpoint, resource)
    std::uint64_t authorize_requests = 0;      ///< every request to /authorize, whatever came of it
    std::uint64_t registrations = 0;           ///< clients registered by POST /register (201 answers)
    std::uint64_t revocation_requests = 0;     ///< every request to /revoke, successful or not
    std::uint64_t tokens_revoked = 0;          ///< refresh and access tokens a /revoke request revoked
};

/// What the token endpoint last saw and decided, for assertions on the wire format.
struct token_request_record {
    std::string grant_type{};
    std::string auth_method{};   ///< "client_secret_basic", "client_secret_post" or "none"
    bool had_dpop_proof = false;
    std::optional<std::string> proof_nonce{};
    int status = 0;
    std::string error{};         ///< the OAuth error code answered, empty on success
};

/// The issuer. Every method may be called from any thread: one lock guards the state the server
/// thread shares with its callers.
class test_issuer {
public:
    explicit test_issuer(test_issuer_options options = {});
    ~test_issuer();
    test_issuer(const test_issuer&) = delete;
    test_issuer& operator=(const test_issuer&) = delete;

    /// "http(s)://<host>:<port>" (no trailing slash): the `iss` of every token.
    [[nodiscard]] std::string issuer() const;
    /// issuer() + "/resource" + `path` ("/resource/a" for "/a").
    [[nodiscard]] std::string resource_url(std::string_view path = "") const;

    /// Registers (or replaces) a client, as POST /register does for a client it registers.
    void add_client(test_client client);

    /// A refresh token for `client_id` and `webid`, as if a user had logged in. With `dpop_jkt`
    /// (a key thumbprint) the token is bound to that key: redeeming it needs a proof by that key.
    std::string mint_refresh_token(const std::string& client_id, const std::string& webid,
                                   std::optional<std::string> dpop_jkt = std::nullopt);

    /// An authorization code for the PKCE S256 `code_challenge`, single use, with the scope
    /// "openid offline_access webid" (so redeeming it also gives a refresh token).
    std::string mint_authorization_code(const std::string& client_id, const std::string& webid,
                                        const std::string& redirect_uri, const std::string& code_challenge);

    /// The WebID of the user who "logs in" at /authorize from now on (consenting to whatever is
    /// asked); nullopt: the user refuses, and /authorize redirects with error=access_denied. The
    /// default is nullopt.
    void set_authorize_user(std::optional<std::string> webid);

    /// The decoded query parameters of the last /authorize request whose query could be decoded
    /// (whatever was answered), or nullopt when there was none.
    [[nodiscard]] std::optional<std::map<std::string, std::string>> last_authorize_query() const;

    /// The decoded parameters (query, or form body for POST) of the last end-session request, or
    /// nullopt when there was none.
    [[nodiscard]] std::optional<std::map<std::string, std::string>> last_end_session_query() const;

    /// Whether `refresh_token` would be accepted now (issued, not rotated away, revoked or expired).
    [[nodiscard]] bool refresh_token_valid(const std::string& refresh_token) const;

    void set_faults(issuer_faults faults);
    [[nodiscard]] issuer_faults faults() const;

    /// Replaces the signing key with a new one under a new `kid`; the old key leaves the JWKS.
    void rotate_signing_key();
    /// The `kid` of the current signing key.
    [[nodiscard]] std::string signing_kid() const;
    /// Makes the current DPoP nonce stale: the next nonce-demanding request is challenged again.
    void rotate_nonce();

    /// A signed JWT from this issuer with `claims` (iss added when absent), under the current key
    /// unless `kid` names another one (which then is not in the JWKS: an unknown key).
    [[nodiscard]] std::string sign_token(const std::string& claims_json,
                                         std::optional<std::string> kid = std::nullopt) const;

    [[nodiscard]] issuer_stats stats() const;
    void reset_counters();
    /// The last `n` token endpoint requests, oldest first.
    [[nodiscard]] std::vector<token_request_record> recent_token_requests(std::size_t n = 16) const;

    /// The underlying server (connection counts, close_idle_connections).
    [[nodiscard]] test_http_server& server() noexcept;

private:
    struct impl;
    std::shared_ptr<impl> impl_;
    std::unique_ptr<test_http_server> server_;
};

} // namespace multisession::test
