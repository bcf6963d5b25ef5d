// Interoperability with a real OpenID provider: the provider client and the Beast transport
// against oidc-provider (tests/interop/provider.mjs), over plain HTTP and over HTTPS with a
// generated CA. Discovery, client credentials (Basic and POST authentication, Bearer and DPoP),
// refresh-token rotation with reuse detection, ID token verification and the WebID claim, DPoP
// nonces, userinfo as a DPoP-protected resource, a provider that closes idle connections, a
// store written by Inrupt's own Node library (inrupt_store.mjs) taken over from its records, also
// when that library keeps it in Redis, and rotation safety across worker processes sharing one
// store (SQLite, or one redis-server for several nodes), a crashed one included.
// Everything the provider hands out was minted by the provider itself; all traffic goes to
// 127.0.0.1, where the tests also start their redis-server.
#include "oidc/provider_client.hpp"

#include "http/beast_transport.hpp"
#include "oidc/dpop.hpp"
#include "oidc/jwt.hpp"
#include "oidc/wire_discovery.hpp"
#include "oidc/wire_token.hpp"
#include "oidc/wire_url.hpp"
#include "session/session_record.hpp"

#include "../support/child_process.hpp"
#include "../support/oidc_provider_process.hpp"
#include "../support/redis_server.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_ca.hpp"
#include "../support/test_pki.hpp"
#include "../support/transport_thread.hpp"

#include <multisession/error.hpp>
#include <multisession/session.hpp>
#include <multisession/storage/open.hpp>

#include <doctest/doctest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

extern char** environ;

namespace http = multisession::http;
namespace oidc = multisession::oidc;
namespace test = multisession::test;
using multisession::oidc_errc;
using namespace std::chrono_literals;

namespace {

enum class scheme { http, https };

// Provider configurations (see provider.mjs); each runs once per scheme and is shared by the tests.
enum class flavour { standard, dpop_nonce, post_only };

struct over_http {
    static constexpr scheme value = scheme::http;
};
struct over_https {
    static constexpr scheme value = scheme::https;
};

using test::shared_pki;

// Started on first use and stopped at exit; a provider that fails to start fails each test that
// needs it, with the provider's stderr in the message.
const test::oidc_provider_process& shared_provider(scheme s, flavour f) {
    static std::map<std::pair<scheme, flavour>, std::unique_ptr<test::oidc_provider_process>> running;
    auto& slot = running[{s, f}];
    if (!slot) {
        test::oidc_provider_options options;
        if (s == scheme::https) options.tls = shared_pki().localhost;
        options.require_dpop_nonce = f == flavour::dpop_nonce;
        options.client_secret_post_only = f == flavour::post_only;
        slot = std::make_unique<test::oidc_provider_process>(std::move(options));
    }
    return *slot;
}

// A provider, and a client side for it: an io_context on its own thread, a Beast transport
// (trusting the test CA for HTTPS; plain HTTP allowed to loopback only for the HTTP runs) and a
// fresh provider client, so no cache carries over from one test to the next.
class interop_fixture {
public:
    explicit interop_fixture(scheme s, flavour f = flavour::standard)
        : provider_(shared_provider(s, f)), io_(http_options(s)) {
        oidc::provider_client_options options;
        options.allow_insecure_loopback = s == scheme::http;
        client_ = oidc::provider_client::create(io_.transport(), options);
    }

    [[nodiscard]] const std::string& issuer() const { return provider_.issuer(); }
    [[nodiscard]] oidc::provider_client& client() { return *client_; }
    [[nodiscard]] http::transport& transport() { return *io_.transport(); }

    std::string mint(std::string_view client_id, std::string_view account,
                     const std::optional<oidc::dpop_key>& bound_to = std::nullopt) {
        std::optional<std::string> jkt;
        if (bound_to) jkt = bound_to->thumbprint();
        return provider_.mint_refresh_token(*io_.transport(), client_id, account, jkt);
    }

    // One raw exchange, for looking at the provider's answers below the provider client.
    http::response send(http::request req) {
        auto [ec, res] = io_.send(std::move(req), 30s);
        REQUIRE_MESSAGE(!ec, ec.message());
        return res;
    }

private:
    // HTTPS trusts the test CA; plain HTTP is allowed to loopback only for the HTTP runs.
    static http::client_options http_options(scheme s) {
        http::client_options options;
        if (s == scheme::https)
            options.ca_file = shared_pki().ca_file;
        else
            options.allow_insecure_loopback = true;
        return options;
    }

    const test::oidc_provider_process& provider_;
    test::transport_thread io_;
    std::shared_ptr<oidc::provider_client> client_;
};

oidc::client_info confidential_client() {
    return {std::string(test::interop_confidential_client_id), std::string(test::interop_confidential_client_secret),
            oidc::client_type::static_client};
}

oidc::client_info public_client() {
    return {std::string(test::interop_public_client_id), std::nullopt, oidc::client_type::static_client};
}

// A distinct account per call, so tests never share a grant.
std::string fresh_account(std::string_view prefix) {
    static std::atomic<int> next{0};
    return std::string(prefix) + "-" + std::to_string(++next);
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

// The claims of a refresh's ID token, verified against the provider's JWKS.
nlohmann::json verified_id_token(interop_fixture& f, const oidc::client_info& client, const oidc::token_set& tokens) {
    REQUIRE(tokens.id_token.has_value());
    return f.client().verify_jwt(f.issuer(), client.client_id, *tokens.id_token);
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

struct script_run {
    int exit_code = -1; ///< the exit code, 128 + the signal number, or -1 when it was killed for time
    std::string output; ///< stdout and stderr together
    std::chrono::milliseconds took{};
};

// Runs `node <args...>` with `extra_env` added to this process's environment, and waits for it at
// most `timeout`; past that it is killed by PID. Output goes to a file in `dir`, not a pipe:
// nothing has to drain it while we wait.
script_run run_node(const std::vector<std::string>& args,
                    const std::vector<std::pair<std::string, std::string>>& extra_env, const std::filesystem::path& dir,
                    std::chrono::milliseconds timeout) {
    std::vector<std::string> argv{"node"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const bool replaced = std::any_of(extra_env.begin(), extra_env.end(), [&](const auto& kv) {
            return entry.substr(0, kv.first.size() + 1) == kv.first + "=";
        });
        if (!replaced) env.emplace_back(entry);
    }
    for (const auto& [name, value] : extra_env)
        env.push_back(name + "=" + value);

    const std::string output_path = (dir / "node-output.log").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, STDERR_FILENO, STDOUT_FILENO);
    std::vector<char*> argp;
    for (auto& a : argv)
        argp.push_back(a.data());
    argp.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& e : env)
        envp.push_back(e.data());
    envp.push_back(nullptr);

    const auto started = std::chrono::steady_clock::now();
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, "node", &actions, nullptr, argp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error(std::string("cannot start node: ") + std::strerror(rc));

    script_run run;
    int status = 0;
    for (;;) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        if (std::chrono::steady_clock::now() - started > timeout) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    run.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    run.output = read_text(output_path);
    return run;
}

// A session record of Inrupt's store: a JSON object whose values are all strings.
std::map<std::string, std::string> parse_record(const std::string& text) {
    const auto json = nlohmann::json::parse(text, nullptr, false);
    REQUIRE(json.is_object());
    std::map<std::string, std::string> record;
    for (const auto& [name, value] : json.items()) {
        CAPTURE(name);
        REQUIRE(value.is_string());
        record[name] = value.get<std::string>();
    }
    return record;
}

// The first of `names` the record has: Inrupt writes some fields under two spellings.
std::optional<std::string> field(const std::map<std::string, std::string>& record,
                                 std::initializer_list<std::string_view> names) {
    for (const auto name : names) {
        if (const auto it = record.find(std::string(name)); it != record.end()) return it->second;
    }
    return std::nullopt;
}

oidc::client_type client_type_of(const std::optional<std::string>& stored) {
    if (stored == "static") return oidc::client_type::static_client;
    if (stored == "solid-oidc") return oidc::client_type::solid_oidc;
    return oidc::client_type::dynamic;
}

} // namespace

TYPE_TO_STRING(over_http);
TYPE_TO_STRING(over_https);

TEST_CASE("oidc-provider is installed for the interoperability suite") {
    // Fails rather than skips: CI installs it, and a suite that silently does nothing reads as a pass.
    REQUIRE_MESSAGE(test::interop_available(),
                    "oidc-provider is not installed under $MULTISESSION_INTEROP_DIR/node_modules; "
                    "install it with `./run.sh deps` (or `npm ci` in tests/interop)");
}

TEST_CASE("a provider that cannot start fails with its stderr") {
    test::oidc_provider_options options;
    options.tls = test::tls_identity{"not a certificate", "not a key"};
    std::string message;
    try {
        test::oidc_provider_process broken(options);
    } catch (const std::runtime_error& e) {
        message = e.what();
    }
    CHECK(message.find("did not start") != std::string::npos);
    CHECK(message.find("its stderr:") != std::string::npos);
    CHECK(message.find("(empty)") == std::string::npos);
}

TEST_CASE_TEMPLATE("discovery names the issuer, its endpoints and DPoP support", T, over_http, over_https) {
    interop_fixture f(T::value);
    const auto metadata = f.client().discover(f.issuer());
    CHECK(metadata->issuer == f.issuer());
    CHECK(metadata->token_endpoint == f.issuer() + "/token");
    CHECK(metadata->jwks_uri == f.issuer() + "/jwks");
    CHECK(contains(metadata->dpop_signing_alg_values_supported, "ES256"));
    CHECK(contains(metadata->token_endpoint_auth_methods_supported, "client_secret_basic"));
    CHECK(contains(metadata->token_endpoint_auth_methods_supported, "client_secret_post"));
    CHECK(contains(metadata->token_endpoint_auth_methods_supported, "none"));
    CHECK(contains(metadata->grant_types_supported, "refresh_token"));
    CHECK(contains(metadata->grant_types_supported, "client_credentials"));
    CHECK(contains(metadata->scopes_supported, "webid"));
    CHECK(contains(metadata->claims_supported, "webid"));

    // Served from the cache the second time.
    CHECK(f.client().discover(f.issuer())->token_endpoint == metadata->token_endpoint);
    CHECK(f.client().stats().discovery_fetches == 1);

    // Both signing keys (ES256 and RS256) load.
    const auto keys = f.client().fetch_jwks(f.issuer());
    CHECK(keys->keys().size() == 2);
    CHECK(keys->skipped() == 0);
}

TEST_CASE_TEMPLATE("client credentials for the confidential client, Bearer and DPoP", T, over_http, over_https) {
    SUBCASE("client_secret_basic (advertised, so chosen)") {
        interop_fixture f(T::value);
        const auto bearer = f.client().client_credentials(f.issuer(), confidential_client(), std::nullopt);
        CHECK_FALSE(bearer.access_token.empty());
        CHECK(bearer.token_type == "Bearer");
        CHECK(bearer.expires_in == std::chrono::seconds(3600));
        CHECK_FALSE(bearer.refresh_token.has_value());
        CHECK(bearer.scope == std::string(oidc::default_client_credentials_scope));

        const auto key = oidc::dpop_key::generate();
        const auto dpop = f.client().client_credentials(f.issuer(), confidential_client(), key);
        CHECK(dpop.token_type == "DPoP");
        CHECK(dpop.access_token != bearer.access_token);

        auto wrong = confidential_client();
        wrong.client_secret = "not-the-secret";
        CHECK(test::code_of([&] { (void)f.client().client_credentials(f.issuer(), wrong, std::nullopt); }) ==
              oidc_errc::invalid_client);
    }
    SUBCASE("client_secret_post (the only secret method advertised)") {
        interop_fixture f(T::value, flavour::post_only);
        const auto metadata = f.client().discover(f.issuer());
        CHECK_FALSE(contains(metadata->token_endpoint_auth_methods_supported, "client_secret_basic"));
        CHECK(oidc::choose_client_auth(*metadata, confidential_client()) == oidc::client_auth_method::client_secret_post);

        CHECK(f.client().client_credentials(f.issuer(), confidential_client(), std::nullopt).token_type == "Bearer");
        CHECK(f.client().client_credentials(f.issuer(), confidential_client(), oidc::dpop_key::generate()).token_type ==
              "DPoP");
    }
    SUBCASE("client_secret_post to a provider that also takes Basic") {
        // The wire builder with an explicit method: the provider accepts either for a secret client.
        interop_fixture f(T::value);
        const auto metadata = f.client().discover(f.issuer());
        auto res = f.send(oidc::client_credentials_request(*metadata, confidential_client(),
                                                           oidc::client_auth_method::client_secret_post));
        CHECK(res.status == 200);
        CHECK(oidc::parse_token_response(res, std::nullopt).tokens.token_type == "Bearer");
    }
}

TEST_CASE_TEMPLATE("a DPoP-bound refresh token rotates, and reusing the old one revokes the grant", T, over_http,
                   over_https) {
    interop_fixture f(T::value);
    const auto client = public_client();
    const auto key = oidc::dpop_key::generate();
    const auto account = fresh_account("dpop");
    const auto first = f.mint(client.client_id, account, key);

    // The binding is enforced: no proof, or a proof by another key, is refused without using the
    // token up.
    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), client, first, std::nullopt); }) ==
          oidc_errc::invalid_grant);
    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), client, first, oidc::dpop_key::generate()); }) ==
          oidc_errc::invalid_grant);

    const auto r1 = f.client().refresh(f.issuer(), client, first, key);
    CHECK(r1.token_type == "DPoP");
    REQUIRE(r1.refresh_token.has_value());
    CHECK(r1.refresh_token_rotated);
    CHECK(*r1.refresh_token != first);

    // The new token works again (and rotates again).
    const auto r2 = f.client().refresh(f.issuer(), client, *r1.refresh_token, key);
    REQUIRE(r2.refresh_token.has_value());
    CHECK(r2.refresh_token_rotated);
    CHECK(*r2.refresh_token != *r1.refresh_token);

    // The access token is bound to the key: the provider's userinfo endpoint takes it with a proof.
    const auto userinfo = f.client().discover(f.issuer())->userinfo_endpoint;
    REQUIRE(userinfo.has_value());
    const auto res = f.client().fetch({"GET", *userinfo, {}, {}}, oidc::resource_credentials{r2.access_token, "DPoP", key});
    CHECK(res.status == 200);
    CHECK(nlohmann::json::parse(res.body, nullptr, false).value("webid", "") == test::interop_webid(account));

    // Reuse of a rotated-away token: invalid_grant, and the provider revokes the whole grant, so
    // even the newest token is dead afterwards.
    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), client, first, key); }) == oidc_errc::invalid_grant);
    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), client, *r2.refresh_token, key); }) ==
          oidc_errc::invalid_grant);
}

TEST_CASE_TEMPLATE("a Bearer refresh token rotates, and the old one is refused", T, over_http, over_https) {
    interop_fixture f(T::value);
    const auto client = confidential_client();
    const auto first = f.mint(client.client_id, fresh_account("bearer"));

    const auto r1 = f.client().refresh(f.issuer(), client, first, std::nullopt);
    CHECK(r1.token_type == "Bearer");
    REQUIRE(r1.refresh_token.has_value());
    CHECK(r1.refresh_token_rotated);
    CHECK(*r1.refresh_token != first);

    const auto r2 = f.client().refresh(f.issuer(), client, *r1.refresh_token, std::nullopt);
    REQUIRE(r2.refresh_token.has_value());
    CHECK(*r2.refresh_token != *r1.refresh_token);

    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), client, *r1.refresh_token, std::nullopt); }) ==
          oidc_errc::invalid_grant);
    CHECK(test::code_of([&] { (void)f.client().refresh(f.issuer(), client, *r2.refresh_token, std::nullopt); }) ==
          oidc_errc::invalid_grant);

    // An unbound token may still be redeemed with a proof, which binds the new access token.
    const auto other = f.mint(client.client_id, fresh_account("bearer"));
    CHECK(f.client().refresh(f.issuer(), client, other, oidc::dpop_key::generate()).token_type == "DPoP");
}

TEST_CASE_TEMPLATE("the ID token of a refresh verifies and carries the WebID", T, over_http, over_https) {
    interop_fixture f(T::value);
    // The confidential client's ID tokens are ES256, the public client's RS256 (see provider.mjs).
    for (const auto& client : {confidential_client(), public_client()}) {
        CAPTURE(client.client_id);
        const auto account = fresh_account("webid");
        const auto key = oidc::dpop_key::generate();
        const auto tokens = f.client().refresh(f.issuer(), client, f.mint(client.client_id, account, key), key);
        const auto claims = verified_id_token(f, client, tokens);
        CHECK(claims.at("iss") == f.issuer());
        CHECK(claims.at("aud") == client.client_id);
        CHECK(claims.at("sub") == account);
        CHECK(oidc::webid_from_claims(claims) == test::interop_webid(account));

        // Meant for this client only.
        CHECK(test::code_of([&] { (void)f.client().verify_jwt(f.issuer(), "someone-else", *tokens.id_token); }) ==
              oidc_errc::audience_mismatch);
    }
    CHECK(f.client().stats().jwks_fetches == 1);
}

TEST_CASE_TEMPLATE("a provider that demands DPoP nonces", T, over_http, over_https) {
    interop_fixture f(T::value, flavour::dpop_nonce);
    const auto metadata = f.client().discover(f.issuer());
    const auto client = public_client();
    const auto key = oidc::dpop_key::generate();
    const auto first = f.mint(client.client_id, fresh_account("nonce"), key);

    // What the provider answers a proof without a nonce: 400 use_dpop_nonce and a DPoP-Nonce header.
    const auto proof = oidc::make_dpop_proof(key, "POST", metadata->token_endpoint, f.client().now());
    const auto refused = f.send(oidc::refresh_token_request(*metadata, client, oidc::client_auth_method::none, first,
                                                            std::nullopt, proof));
    CHECK(refused.status == 400);
    const auto error = oidc::parse_oauth_error(refused);
    REQUIRE(error.has_value());
    CHECK(error->error == "use_dpop_nonce");
    CHECK(oidc::dpop_nonce_of(refused).has_value());

    // The provider client retries once with the nonce, then remembers it for the origin.
    const auto r1 = f.client().refresh(f.issuer(), client, first, key);
    CHECK(r1.token_type == "DPoP");
    REQUIRE(r1.refresh_token.has_value());
    CHECK(f.client().stats().nonce_retries == 1);
    CHECK(f.client().cached_nonce(oidc::origin_of(f.issuer())).has_value());

    // The remembered nonce is accepted: no further retry.
    const auto r2 = f.client().refresh(f.issuer(), client, *r1.refresh_token, key);
    CHECK(r2.refresh_token_rotated);
    CHECK(f.client().client_credentials(f.issuer(), confidential_client(), key).token_type == "DPoP");
    CHECK(f.client().stats().nonce_retries == 1);

    // The resource side (userinfo) takes the same nonces.
    const auto res = f.client().fetch({"GET", *metadata->userinfo_endpoint, {}, {}},
                                      oidc::resource_credentials{r2.access_token, "DPoP", key});
    CHECK(res.status == 200);
}

TEST_CASE_TEMPLATE("requests after the provider closed an idle kept-alive connection", T, over_http, over_https) {
    // Node closes kept-alive connections after 5 s of silence, long before the client's pool would.
    interop_fixture f(T::value);
    const auto client = confidential_client();
    const auto first = f.client().refresh(f.issuer(), client, f.mint(client.client_id, fresh_account("idle")),
                                          std::nullopt);
    std::this_thread::sleep_for(6s);
    const auto second = f.client().refresh(f.issuer(), client, *first.refresh_token, std::nullopt);
    CHECK(second.refresh_token_rotated);
}

namespace {

// inrupt_store.mjs logs three sessions in with @inrupt/solid-client-authn-node (authorization
// code, through provider.mjs's login and consent route): a static client with DPoP and with
// Bearer, and a Solid-OIDC public client with DPoP. Every session it leaves in the store must be
// usable from the records alone.
// Runs inrupt_store.mjs against the provider of `f`: three authorization-code logins by Inrupt's
// library into the store that `destination` names ({"--out", file} or {"--redis", url}).
void run_inrupt_store(interop_fixture& f, scheme s, const test::temp_dir& dir, const std::string& account_prefix,
                      const std::vector<std::string>& destination) {
    // Installed with oidc-provider (package-lock.json); an older node_modules lacks it.
    REQUIRE_MESSAGE(std::filesystem::is_regular_file(test::interop_dir() /
                                                     "node_modules/@inrupt/solid-client-authn-node/package.json"),
                    "@inrupt/solid-client-authn-node is not installed under $MULTISESSION_INTEROP_DIR/node_modules; "
                    "install it with `./run.sh deps` (or `npm ci` in tests/interop)");
    const auto script = (test::interop_dir() / "inrupt_store.mjs").string();
    std::vector<std::string> args{script, "--issuer", f.issuer()};
    args.insert(args.end(), destination.begin(), destination.end());
    args.insert(args.end(), {"--sessions", "3", "--account", account_prefix});
    std::vector<std::pair<std::string, std::string>> env;
    if (s == scheme::https) {
        // Node trusts extra CAs only from its start-up environment; with the variable already set
        // the script does not start itself again.
        args.insert(args.end(), {"--ca", shared_pki().ca_file});
        env.emplace_back("NODE_EXTRA_CA_CERTS", shared_pki().ca_file);
    }
    const auto run = run_node(args, env, dir.path(), 60s);
    MESSAGE("inrupt_store.mjs took " << run.took.count() << " ms");
    REQUIRE_MESSAGE(run.exit_code == 0, "inrupt_store.mjs "
                                            << (run.exit_code < 0 ? std::string("did not finish within 60 s")
                                                                  : "exited with " + std::to_string(run.exit_code))
                                            << ":\n"
                                            << run.output);
}

// The logins with Inrupt's store in a Map, written as JSON into `dir`. Returns that store.
nlohmann::json inrupt_written_store(interop_fixture& f, scheme s, const test::temp_dir& dir,
                                    const std::string& account_prefix) {
    const auto out = dir / "inrupt-store.json";
    run_inrupt_store(f, s, dir, account_prefix, {"--out", out.string()});
    return nlohmann::json::parse(read_text(out), nullptr, false);
}

void redeem_inrupt_written_store(scheme s) {
    interop_fixture f(s);
    test::temp_dir dir;
    const auto account_prefix = fresh_account("inrupt");
    const auto dump = inrupt_written_store(f, s, dir, account_prefix);
    REQUIRE(dump.is_object());
    // The library stores strings only.
    for (const auto& [key, value] : dump.items()) {
        CAPTURE(key);
        CHECK(value.is_string());
    }

    // The index lists exactly the three sessions logged in.
    REQUIRE(dump.contains("solidClientAuthn:registeredSessions"));
    const auto index =
        nlohmann::json::parse(dump["solidClientAuthn:registeredSessions"].get<std::string>(), nullptr, false);
    REQUIRE(index.is_array());
    REQUIRE(index.size() == 3);
    std::set<std::string> indexed;
    for (const auto& id : index) {
        REQUIRE(id.is_string());
        indexed.insert(id.get<std::string>());
    }
    CHECK(indexed.size() == 3);
    CHECK(dump.contains("issuerConfig:" + f.issuer()));

    static constexpr std::string_view user_prefix = "solidClientAuthenticationUser:";
    std::set<std::string> redeemed;
    std::set<std::string> accounts;
    std::map<std::string, int> kinds; // "<clientType> <dpop>" -> sessions
    for (const auto& [key, value] : dump.items()) {
        if (key.rfind(user_prefix, 0) != 0) continue;
        const std::string id = key.substr(user_prefix.size());
        CAPTURE(id);
        const auto record = parse_record(value.get<std::string>());
        if (!record.contains("issuer") || !record.contains("refreshToken")) {
            // The other kind of record under this prefix: an OAuth state pointing at its session.
            CHECK(record.size() == 1);
            CHECK(indexed.contains(field(record, {"sessionId"}).value_or("")));
            continue;
        }
        CHECK(indexed.contains(id));
        CHECK(record.at("issuer") == f.issuer());
        CHECK(field(record, {"isLoggedIn"}) == "true");

        const auto client_id = field(record, {"clientId", "clientAppId"});
        REQUIRE(client_id.has_value());
        const oidc::client_info client{*client_id, field(record, {"clientSecret", "clientAppSecret"}),
                                       client_type_of(field(record, {"clientType"}))};
        const bool dpop = field(record, {"dpop"}) == "true";
        kinds[field(record, {"clientType"}).value_or("?") + (dpop ? " DPoP" : " Bearer")] += 1;
        std::optional<oidc::dpop_key> key_of_record;
        if (dpop) {
            const auto public_jwk = field(record, {"publicKey"});
            const auto private_jwk = field(record, {"privateKey"});
            REQUIRE(public_jwk.has_value());
            REQUIRE(private_jwk.has_value());
            key_of_record = oidc::dpop_key::from_jwk(*public_jwk, *private_jwk);
        }

        const auto& stored_token = record.at("refreshToken");
        if (client.type == oidc::client_type::solid_oidc) {
            // A public client's refresh token is bound to the login's DPoP key: only the stored
            // key redeems it (a refused attempt does not use the token up).
            CHECK_FALSE(client.client_secret.has_value());
            REQUIRE(key_of_record.has_value());
            CHECK(test::code_of([&] {
                      (void)f.client().refresh(f.issuer(), client, stored_token, oidc::dpop_key::generate());
                  }) == oidc_errc::invalid_grant);
        }
        const auto tokens = f.client().refresh(f.issuer(), client, stored_token, key_of_record);
        CHECK(tokens.token_type == (dpop ? "DPoP" : "Bearer"));
        REQUIRE(tokens.refresh_token.has_value());
        CHECK(tokens.refresh_token_rotated);
        CHECK(*tokens.refresh_token != stored_token);

        const auto claims = verified_id_token(f, client, tokens);
        const auto account = claims.at("sub").get<std::string>();
        CHECK(account.rfind(account_prefix + "-", 0) == 0);
        CHECK(oidc::webid_from_claims(claims) == test::interop_webid(account));
        CHECK(field(record, {"webId"}) == test::interop_webid(account));
        accounts.insert(account);
        redeemed.insert(id);
    }
    CHECK(redeemed == indexed);
    CHECK(accounts.size() == 3);
    CHECK(kinds == std::map<std::string, int>{{"static DPoP", 1}, {"static Bearer", 1}, {"solid-oidc DPoP", 1}});
}

} // namespace

TEST_CASE_TEMPLATE("a store written by Inrupt's library is redeemable here", T, over_http, over_https) {
    redeem_inrupt_written_store(T::value);
}

// The same kind of store, through the session API itself: listed, rehydrated and cleared by a
// session_manager. Once with Inrupt's keys and values copied as they are into a SQLite store; once
// with Inrupt's library keeping its store in Redis itself (an IStorage over the `redis` client for
// Node: GET, SET, DEL) and this library opening that database with its redis backend.
namespace {

// The entries Inrupt's library wrote are `dump`; `store` holds them as they are, untouched.
void rehydrate_inrupt_sessions(scheme s, const nlohmann::json& dump,
                               const std::shared_ptr<multisession::storage>& store) {
    REQUIRE(dump.contains("solidClientAuthn:registeredSessions"));
    const auto index = nlohmann::json::parse(dump["solidClientAuthn:registeredSessions"].get<std::string>());

    multisession::session_manager_options options;
    options.store = store;
    if (s == scheme::https)
        options.ca_file = shared_pki().ca_file;
    else
        options.allow_insecure_loopback = true;
    multisession::session_manager manager(options);
    auto ids = manager.get_session_id_from_storage_all();
    std::sort(ids.begin(), ids.end());
    std::vector<std::string> indexed = index.get<std::vector<std::string>>();
    std::sort(indexed.begin(), indexed.end());
    CHECK(indexed.size() == 3);
    CHECK(ids == indexed); // the state records are not sessions

    for (const auto& r : manager.rehydrate(ids)) {
        CAPTURE(r.session_id);
        REQUIRE_MESSAGE(!r.error, r.error.message());
        REQUIRE(r.value.has_value());
        CHECK(r.value->is_logged_in());
        const auto record = nlohmann::json::parse(dump["solidClientAuthenticationUser:" + r.session_id].get<std::string>());
        CHECK(r.value->webid() == record.at("webId").get<std::string>());
        // The rotated token replaced Inrupt's in the record; the other fields are as Inrupt wrote them.
        const auto now = nlohmann::json::parse(*store->get("solidClientAuthenticationUser:" + r.session_id));
        CHECK(now.at("refreshToken") != record.at("refreshToken"));
        for (const char* member : {"issuer", "clientId", "clientType", "dpop", "webId", "publicKey", "privateKey"}) {
            CAPTURE(member);
            CHECK(now.value(member, std::string()) == record.value(member, std::string()));
        }
    }
    // A second restart rehydrates from the rotated tokens.
    for (const auto& r : manager.rehydrate(ids)) CHECK((r.value && r.value->is_logged_in()));
    auto cleared = manager.clear_session_from_storage_all();
    std::sort(cleared.session_ids.begin(), cleared.session_ids.end());
    CHECK(cleared.session_ids == indexed);
    CHECK(store->get("solidClientAuthn:registeredSessions") == "[]");
    // Records, login states and leases are gone; what else Inrupt's library keeps stays.
    CHECK(store->keys("solidClientAuthenticationUser:").empty());
    CHECK(store->keys("multisession:").empty());
    for (const auto& [key, value] : dump.items()) {
        if (key.starts_with("solidClientAuthenticationUser:") || key == "solidClientAuthn:registeredSessions") continue;
        CAPTURE(key);
        CHECK(store->get(key) == value.get<std::string>());
    }
}

void rehydrate_inrupt_written_store(scheme s) {
    interop_fixture f(s);
    test::temp_dir dir;
    const auto dump = inrupt_written_store(f, s, dir, fresh_account("inrupt"));
    REQUIRE(dump.is_object());
    auto store = multisession::open_storage("sqlite:" + (dir / "copied.db").string());
    for (const auto& [key, value] : dump.items()) store->set(key, value.get<std::string>());
    rehydrate_inrupt_sessions(s, dump, store);
}

// Every entry of database 0 of `redis`, read with a plain Redis client (KEYS, TYPE, PTTL, GET),
// not through the store under test.
nlohmann::json redis_entries(const test::redis_server& redis) {
    test::redis_client client(redis.port());
    const auto keys = client.command({"KEYS", "*"});
    REQUIRE(keys->type == REDIS_REPLY_ARRAY);
    auto entries = nlohmann::json::object();
    for (std::size_t i = 0; i < keys->elements; ++i) {
        const std::string key(keys->element[i]->str, keys->element[i]->len);
        CAPTURE(key);
        CHECK(client.text({"TYPE", key}) == "string"); // a plain string, no hash or envelope
        CHECK(client.integer({"PTTL", key}) == -1);    // and no expiry
        const auto value = client.text({"GET", key});
        REQUIRE(value.has_value());
        entries[key] = *value;
    }
    return entries;
}

void rehydrate_inrupt_redis_store(scheme s) {
    // Installed from package-lock.json with the other packages; an older node_modules lacks it.
    REQUIRE_MESSAGE(std::filesystem::is_regular_file(test::interop_dir() / "node_modules/redis/package.json"),
                    "the redis client for Node is not installed under $MULTISESSION_INTEROP_DIR/node_modules; "
                    "install it with `./run.sh deps` (or `npm ci` in tests/interop)");
    interop_fixture f(s);
    test::temp_dir dir;
    test::redis_server redis;
    run_inrupt_store(f, s, dir, fresh_account("inrupt"), {"--redis", redis.uri(0)});
    // What Inrupt's library left in Redis, before this library touches it: its own keys, as in
    // the JSON store, and nothing else.
    const auto dump = redis_entries(redis);
    CHECK(dump.contains("issuerConfig:" + f.issuer()));
    for (const auto& [key, value] : dump.items()) {
        CAPTURE(key);
        CHECK((key.starts_with("solidClientAuthenticationUser:") || key.starts_with("issuerConfig:") ||
               key == "solidClientAuthn:registeredSessions"));
    }
    rehydrate_inrupt_sessions(s, dump, multisession::open_storage(redis.uri(0)));
}

} // namespace

TEST_CASE_TEMPLATE("a store written by Inrupt's library rehydrates through the session API", T, over_http,
                   over_https) {
    rehydrate_inrupt_written_store(T::value);
}

TEST_CASE_TEMPLATE("a store Inrupt's library keeps in Redis is listed, rehydrated and cleared by the redis backend", T,
                   over_http, over_https) {
    rehydrate_inrupt_redis_store(T::value);
}

// Rotation safety across processes, against a provider that rotates the refresh token on every
// refresh and revokes the whole grant when a rotated-away token comes back. Several worker
// processes (tests/support/session_worker.cpp) share one store and rehydrate the same sessions:
// a SQLite file, as processes on one machine would, or one redis-server, as server nodes on
// several machines would. Only the store's lease keeps them from redeeming a token twice.
namespace {

namespace sd = multisession::session_detail;

// The lease_duration the worker runs with: how long a dead worker's lease blocks the others.
constexpr auto worker_lease_duration = 5s;

std::string session_worker_path() {
    const char* path = std::getenv("MULTISESSION_SESSION_WORKER");
    if (path == nullptr || *path == '\0') throw std::runtime_error("MULTISESSION_SESSION_WORKER is not set");
    return path;
}

// A worker for the provider of scheme `s` (trusting the test CA over HTTPS, allowed plain HTTP to
// loopback otherwise) whose every round rehydrates each of `ids`, in that order.
std::vector<std::string> worker_argv(scheme s, const std::string& store_uri, const std::vector<std::string>& ids,
                                     int rounds) {
    std::vector<std::string> argv{session_worker_path(), "--store", store_uri, "--rounds", std::to_string(rounds)};
    for (const auto& id : ids)
        argv.insert(argv.end(), {"--id", id});
    if (s == scheme::https)
        argv.insert(argv.end(), {"--ca", shared_pki().ca_file});
    else
        argv.emplace_back("--allow-loopback");
    return argv;
}

struct worker_run {
    bool finished = false; ///< false: still running at the deadline (the caller's RAII kills it)
    int exit_code = -1;
    std::vector<std::string> lines;
    std::chrono::milliseconds took{};
};

// Collects a worker's output until it closes stdout, then reaps it; gives up at `deadline`.
// Workers write a few hundred bytes at most, far below a pipe's buffer, so reading them one after
// the other never stalls one that is still running.
worker_run finish_worker(test::child_process& child, std::chrono::steady_clock::time_point started,
                         std::chrono::steady_clock::time_point deadline) {
    worker_run run;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) return run;
        auto line = child.read_line(static_cast<int>(left.count()));
        if (line.empty()) break;
        run.lines.push_back(std::move(line));
    }
    if (std::chrono::steady_clock::now() >= deadline) return run; // silent until the deadline
    run.exit_code = child.wait();
    run.finished = true;
    run.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    return run;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines)
        text += line + "\n";
    return text;
}

// The value of `name=` in a worker's summary line, or -1.
long summary_field(const worker_run& run, std::string_view name) {
    if (run.lines.empty() || run.lines.back().rfind("summary ", 0) != 0) return -1;
    const auto& summary = run.lines.back();
    const auto at = summary.find(" " + std::string(name) + "=");
    if (at == std::string::npos) return -1;
    return std::stol(summary.substr(at + name.size() + 2));
}

// How a worker prints an error code (see session_worker.cpp), without the message.
std::string printed(std::error_code ec) {
    return "error " + std::string(ec.category().name()) + ":" + std::to_string(ec.value()) + " ";
}

// What a finished login leaves in the store for a static confidential client with DPoP: the
// record layout of Inrupt's library, the refresh token minted by the provider and bound to `key`.
sd::session_record store_dpop_session(multisession::storage& store, const std::string& id, interop_fixture& f,
                                      const oidc::dpop_key& key, const std::string& account) {
    sd::session_record r;
    r.issuer = f.issuer();
    r.client_id = std::string(test::interop_confidential_client_id);
    r.client_secret = std::string(test::interop_confidential_client_secret);
    r.client_type = "static";
    r.dpop = true;
    r.public_key = key.public_jwk_json();
    r.private_key = key.private_jwk_json();
    r.refresh_token = f.mint(test::interop_confidential_client_id, account, key);
    r.webid = test::interop_webid(account);
    r.is_logged_in = true;
    store.set(sd::record_key(id), sd::serialize_session_record(r));
    return r;
}

sd::session_record stored_record(multisession::storage& store, const std::string& id) {
    const auto text = store.get(sd::record_key(id));
    REQUIRE(text.has_value());
    return sd::parse_session_record(id, *text);
}

} // namespace

namespace {

// 4 worker processes sharing the store at `uri`, `rounds` rounds each, every round rehydrating
// each of `session_count` sessions (static confidential client, DPoP-bound refresh tokens, one
// account each). The workers take the sessions in different orders, so at any moment some
// contend for one session's lease while others refresh another session.
void rotate_across_processes(scheme s, const std::string& uri, int session_count, int rounds) {
    constexpr int processes = 4;
    interop_fixture f(s);
    struct seeded {
        std::string id;
        oidc::dpop_key key;
        sd::session_record before;
    };
    std::vector<seeded> sessions;
    {
        auto store = multisession::open_storage(uri);
        for (int i = 0; i < session_count; ++i) {
            auto id = session_count == 1 ? std::string("shared-by-processes")
                                         : "shared-by-processes-" + std::to_string(i + 1);
            auto key = oidc::dpop_key::generate();
            auto before = store_dpop_session(*store, id, f, key, fresh_account("processes"));
            sessions.push_back({std::move(id), std::move(key), std::move(before)});
        }
    }
    const long per_process = static_cast<long>(rounds) * session_count;

    // A short pause between rounds makes the processes take turns: without it the one that just
    // released a lease mostly takes it straight back while the others back off, and a token
    // passes between processes only a few times in a run; with it, about half the rounds wait.
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::unique_ptr<test::child_process>> workers;
    for (int i = 0; i < processes; ++i) {
        std::vector<std::string> order;
        for (int j = 0; j < session_count; ++j)
            order.push_back(sessions[static_cast<std::size_t>((i + j) % session_count)].id);
        auto argv = worker_argv(s, uri, order, rounds);
        argv.insert(argv.end(), {"--pause-ms", "5"});
        workers.push_back(std::make_unique<test::child_process>(argv));
    }
    const auto deadline = started + 120s;
    long total_refreshes = 0;
    long total_lease_waits = 0;
    for (int i = 0; i < processes; ++i) {
        CAPTURE(i);
        const auto run = finish_worker(*workers[static_cast<std::size_t>(i)], started, deadline);
        const auto output = joined(run.lines);
        CAPTURE(output);
        REQUIRE_MESSAGE(run.finished, "worker still running after 120 s");
        // Every rehydration ok: had the provider ever seen a rotated-away token, it would have
        // revoked that session's grant, and every later round of every process would have failed
        // with invalid_grant.
        CHECK(run.exit_code == 0);
        CHECK(std::count_if(run.lines.begin(), run.lines.end(),
                            [](const std::string& line) { return line.ends_with(" ok"); }) == per_process);
        CHECK(summary_field(run, "ok") == per_process);
        // One token request per rehydration: none was refused and retried with an adopted token.
        CHECK(summary_field(run, "refreshes") == per_process);
        CHECK(summary_field(run, "adopted") == 0);
        total_refreshes += summary_field(run, "refreshes");
        total_lease_waits += summary_field(run, "lease_waits");
    }
    CHECK(total_refreshes == processes * per_process);
    MESSAGE((processes * per_process) << " rehydrations of " << session_count << " session(s) in "
                                      << (std::chrono::steady_clock::now() - started) / 1ms << " ms, "
                                      << total_lease_waits << " of them waited for another process's lease");
    // The processes did contend: rehydrations found the lease taken, so tokens went from process
    // to process under the lease.
    CHECK(total_lease_waits > 0);

    auto store = multisession::open_storage(uri);
    const auto client = confidential_client();
    std::vector<std::string> record_keys;
    for (const auto& session : sessions) {
        CAPTURE(session.id);
        const auto record = stored_record(*store, session.id);
        REQUIRE(record.refresh_token.has_value());
        CHECK(*record.refresh_token != *session.before.refresh_token);
        // The record is intact: apart from the token and the times a refresh sets, every field is
        // as it was stored (issuer, client and secret, key pair, WebID, ...).
        CHECK(record.updated_at.has_value());
        auto expected = session.before;
        expected.refresh_token = record.refresh_token;
        expected.updated_at = record.updated_at;
        expected.access_token_expires_at = record.access_token_expires_at;
        CHECK(record == expected);
        // The token in the store is the newest of its chain: only an unredeemed token is
        // accepted, so one more refresh with it succeeds, and after that it is a rotated-away
        // token like the rest.
        const auto next = f.client().refresh(f.issuer(), client, *record.refresh_token, session.key);
        CHECK(next.refresh_token_rotated);
        CHECK(test::code_of([&] {
                  (void)f.client().refresh(f.issuer(), client, *record.refresh_token, session.key);
              }) == oidc_errc::invalid_grant);
        record_keys.push_back(sd::record_key(session.id));
        // The one entry that finds the session by its WebID (lifecycle.md).
        REQUIRE(record.webid);
        record_keys.push_back(sd::webid_entry_key(*record.webid, session.id));
    }
    // Nothing else is left in the store: every lease was released, and no index or other entry
    // was added.
    auto keys = store->keys();
    std::sort(keys.begin(), keys.end());
    std::sort(record_keys.begin(), record_keys.end());
    CHECK(keys == record_keys);
}

} // namespace

TEST_CASE_TEMPLATE("4 processes x 50 rounds on one session id in SQLite: no refresh token is ever redeemed twice", T,
                   over_http, over_https) {
    test::temp_dir dir;
    rotate_across_processes(T::value, "sqlite:" + (dir / "sessions.db").string(), 1, 50);
}

TEST_CASE_TEMPLATE("4 nodes x 50 rounds on 3 session ids in one redis-server: no refresh token is ever redeemed twice",
                   T, over_http, over_https) {
    test::redis_server redis; // on 127.0.0.1, stopped by PID at the end of the test
    rotate_across_processes(T::value, redis.uri(0), 3, 50);
}

TEST_CASE_TEMPLATE("a process killed between the token response and the storage write", T, over_http, over_https) {
    interop_fixture f(T::value);
    test::temp_dir dir;
    const std::string uri = "sqlite:" + (dir / "sessions.db").string();
    const std::string id = "crashed-in-rotation";
    const auto key = oidc::dpop_key::generate();
    auto store = multisession::open_storage(uri);
    const auto before = store_dpop_session(*store, id, f, key, fresh_account("crash"));

    {
        auto argv = worker_argv(T::value, uri, {id}, 1);
        argv.emplace_back("--crash-on-record-write");
        test::child_process crashing(argv);
        const auto started = std::chrono::steady_clock::now();
        const auto run = finish_worker(crashing, started, started + 60s);
        CAPTURE(joined(run.lines));
        REQUIRE(run.finished);
        REQUIRE(run.exit_code == 86);
    }
    // The provider rotated the token, the new one died with the process: the store still holds the
    // redeemed one, and the dead process's lease, which nobody will release.
    CHECK(stored_record(*store, id) == before);
    CHECK(store->get(sd::lease_key(id)).has_value());

    test::child_process survivor(worker_argv(T::value, uri, {id}, 1));
    const auto started = std::chrono::steady_clock::now();
    const auto run = finish_worker(survivor, started, started + 60s);
    const auto output = joined(run.lines);
    CAPTURE(output);
    REQUIRE_MESSAGE(run.finished, "the next process was still waiting after 60 s");
    MESSAGE("the next process finished after " << run.took.count() << " ms: " << output);
    // It waits for the dead lease to run out, and not much longer.
    CHECK(run.took < worker_lease_duration + 10s);
    REQUIRE(run.lines.size() == 2);
    // Either outcome is acceptable in general: a provider with a reuse grace period would take the
    // redeemed token once more ("ok"); any other answer must be a plain invalid_grant, never a
    // timeout or storage_errc::busy. oidc-provider 8.8.1 gives invalid_grant: the stored token was
    // consumed by the dead process's refresh, and a consumed token is refused ("refresh token
    // already used") and its whole grant revoked, the dead process's unstored token included. The
    // session is logged out for good; a new login is the only way back.
    const bool ok = run.lines[0] == "round 1 ok";
    const bool invalid_grant = run.lines[0].starts_with("round 1 " + printed(oidc_errc::invalid_grant));
    CHECK((ok || invalid_grant));
    CHECK(run.exit_code == (ok ? 0 : 1));
    CHECK(invalid_grant); // what oidc-provider does (see above)

    // The record is intact: it parses, names the same issuer and client, and (after invalid_grant)
    // still holds the token it held, as get_session_from_storage promises.
    const auto after = stored_record(*store, id);
    CHECK(after.issuer == before.issuer);
    CHECK(after.client_id == before.client_id);
    CHECK(after.client_secret == before.client_secret);
    CHECK(after.public_key == before.public_key);
    if (invalid_grant) CHECK(after.refresh_token == before.refresh_token);
}
