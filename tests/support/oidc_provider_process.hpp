// A real OpenID provider for the interoperability suite: oidc-provider (tests/interop/provider.mjs)
// run by node as a child process on 127.0.0.1, over HTTP or HTTPS. The destructor stops it by PID,
// and the child also exits by itself when this process dies (its stdin pipe closes), so a killed
// test leaves no provider behind.
#pragma once

#include "http/transport.hpp"
#include "temp_dir.hpp"
#include "test_ca.hpp"

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace multisession::test {

/// The clients provider.mjs registers.
inline constexpr std::string_view interop_confidential_client_id = "confidential-client";
inline constexpr std::string_view interop_confidential_client_secret = "s3cret:with%odd+chars and/=";
inline constexpr std::string_view interop_public_client_id = "public-client";

/// The WebID provider.mjs puts in the `webid` claim of `account_id`'s ID tokens.
std::string interop_webid(std::string_view account_id);

/// The directory of provider.mjs and its node_modules: $MULTISESSION_INTEROP_DIR. Throws
/// std::runtime_error when the variable is unset.
std::filesystem::path interop_dir();

/// True when oidc-provider is installed under interop_dir()/node_modules. The suite fails (it
/// does not skip) when this is false: an interoperability check that quietly does nothing would
/// read as a pass.
bool interop_available();

/// How to start the provider.
struct oidc_provider_options {
    /// Serve HTTPS with this identity (it must cover IP:127.0.0.1); plain HTTP when empty.
    std::optional<tls_identity> tls;
    /// Demand a server-provided nonce in every DPoP proof (RFC 9449 section 8).
    bool require_dpop_nonce = false;
    /// Advertise and register client_secret_post only (no client_secret_basic).
    bool client_secret_post_only = false;
    /// Lifetime of the access tokens the provider issues (whole seconds, at least 1); unset: the
    /// provider's default of one hour.
    std::optional<std::chrono::seconds> access_token_ttl{};
    /// Longest wait for the provider's READY line.
    std::chrono::milliseconds start_timeout{30'000};
    /// After SIGTERM, how long to wait before SIGKILL.
    std::chrono::milliseconds stop_timeout{5'000};
};

/// One running provider. Not copyable; not thread-safe (one test thread drives it).
class oidc_provider_process {
public:
    /// Starts `node provider.mjs 0 ...` and waits for it to listen. Throws std::runtime_error when
    /// oidc-provider is not installed, node cannot be started, or the provider exits or stays
    /// silent past options.start_timeout; the message then ends with the tail of its stderr.
    explicit oidc_provider_process(oidc_provider_options options = {});

    /// Stops the provider: SIGTERM, then SIGKILL after options.stop_timeout, and reaps it.
    ~oidc_provider_process();

    oidc_provider_process(const oidc_provider_process&) = delete;
    oidc_provider_process& operator=(const oidc_provider_process&) = delete;

    /// "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>", exactly as the provider spells it.
    [[nodiscard]] const std::string& issuer() const noexcept { return issuer_; }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

    /// Has the provider create a grant (scope "openid offline_access webid") for `account_id` and
    /// `client_id` and returns a refresh token under it, as a finished login would leave. With
    /// `dpop_jkt` (an RFC 7638 thumbprint) the token is bound to that key: redeeming it then needs
    /// a DPoP proof signed by the key. Sent through `transport` (which must trust the provider's
    /// certificate for HTTPS); blocks until the answer, at most `timeout`. Throws
    /// std::runtime_error on any failure. Must not be called on the transport's executor thread.
    std::string mint_refresh_token(http::transport& transport, std::string_view client_id,
                                   std::string_view account_id,
                                   const std::optional<std::string>& dpop_jkt = std::nullopt,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

    /// The last `max_bytes` the provider wrote to stderr, for failure messages.
    [[nodiscard]] std::string stderr_tail(std::size_t max_bytes = 4096) const;

private:
    void stop() noexcept;

    oidc_provider_options options_;
    temp_dir dir_; // TLS files and the provider's stderr
    pid_t pid_ = -1;
    int stdin_ = -1;  // write end of the child's stdin: closing it (or dying) tells the child to exit
    int stdout_ = -1; // read end of the child's stdout: the READY line
    std::uint16_t port_ = 0;
    std::string issuer_;
};

} // namespace multisession::test
