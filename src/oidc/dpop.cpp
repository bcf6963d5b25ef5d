#include "oidc/dpop.hpp"

#include "oidc/base64url.hpp"
#include "oidc/jose_sign.hpp"
#include "oidc/jwk.hpp"
#include "oidc/jwt.hpp"

#include <openssl/core_names.h>

#include <algorithm>
#include <mutex>

namespace multisession::oidc {
namespace {

using json = nlohmann::json;
using namespace detail;

constexpr std::size_t jti_bytes = 16;

[[noreturn]] void invalid(const std::string& what) { throw_openssl(oidc_errc::invalid_key, "DPoP key: " + what); }

/// A private JWK, loaded: the key pair and its public JWK.
struct loaded_pair {
    shared_pkey key;
    json public_jwk;
};

/// The private JWK text as a key pair, checked to be EC P-256 with `d`. The public JWK is built
/// from the checked x and y, re-encoded: a proof must carry the canonical text, whatever the
/// record's encoder did, or the provider's thumbprint of it would not be the bound one.
loaded_pair load_private(std::string_view private_jwk_json) {
    json public_jwk;
    auto loaded = parse_jwk(private_jwk_json, [&](const json& document, const jwk_key& key) {
        if (key.family != key_family::ec_p256 || !key.has_private) invalid("not an EC P-256 private JWK");
        // parse_jwk checked that both are base64url of 32 bytes.
        const auto canonical = [&](const char* member) {
            return base64url_encode(base64url_decode(document.at(member).get_ref<const std::string&>()).value());
        };
        public_jwk = json{{"alg", "ES256"}, {"crv", "P-256"}, {"kty", "EC"}, {"x", canonical("x")}, {"y", canonical("y")}};
    });
    return {std::move(loaded.key), std::move(public_jwk)};
}

bool is_nonce_char(char c) {
    // RFC 9449 section 8.1: NQCHAR = %x21 / %x23-5B / %x5D-7E
    const auto byte = static_cast<unsigned char>(c);
    return byte == 0x21 || (byte >= 0x23 && byte <= 0x5b) || (byte >= 0x5d && byte <= 0x7e);
}

} // namespace

struct dpop_key::state {
    shared_pkey key;
    json public_jwk;
    std::string encoded_header;
    mutable std::once_flag thumbprint_once;
    mutable std::string thumbprint;
};

dpop_key::dpop_key(shared_pkey key, json public_jwk) {
    auto s = std::make_shared<state>();
    s->key = std::move(key);
    s->public_jwk = std::move(public_jwk);
    // Inrupt's stored publicKey and proof headers carry the algorithm; the thumbprint ignores it.
    s->public_jwk["alg"] = "ES256";
    s->encoded_header = base64url_encode(json{{"alg", "ES256"}, {"jwk", s->public_jwk}, {"typ", "dpop+jwt"}}.dump());
    state_ = std::move(s);
}

const json& dpop_key::public_jwk() const noexcept { return state_->public_jwk; }

EVP_PKEY* dpop_key::native_handle() const noexcept { return state_->key.get(); }

const std::string& dpop_key::encoded_proof_header() const noexcept { return state_->encoded_header; }

const std::string& dpop_key::thumbprint() const {
    std::call_once(state_->thumbprint_once, [&] { state_->thumbprint = jwk_thumbprint(state_->public_jwk); });
    return state_->thumbprint;
}

dpop_key dpop_key::generate() {
    pkey_ctx_ptr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!context || EVP_PKEY_keygen_init(context.get()) != 1 ||
        EVP_PKEY_CTX_set_group_name(context.get(), "prime256v1") != 1 || EVP_PKEY_generate(context.get(), &raw) != 1)
        invalid("OpenSSL cannot generate an EC P-256 key");
    auto key = share(pkey_ptr(raw));
    auto jwk = ec_public_jwk(key.get());
    return dpop_key(std::move(key), std::move(jwk));
}

dpop_key dpop_key::from_private_jwk(std::string_view private_jwk_json) {
    auto loaded = load_private(private_jwk_json);
    return dpop_key(std::move(loaded.key), std::move(loaded.public_jwk));
}

dpop_key dpop_key::from_jwk(std::string_view public_jwk_json, std::string_view private_jwk_json) {
    auto loaded = load_private(private_jwk_json);
    dpop_key pair(std::move(loaded.key), std::move(loaded.public_jwk));
    const json stored = json::parse(public_jwk_json, nullptr, false);
    if (!stored.is_object()) invalid("the public JWK is not a JSON object");
    if (const auto alg = stored.find("alg"); alg != stored.end() && *alg != "ES256")
        invalid("the public JWK's alg is not ES256");
    // The private JWK was checked in full (its d matches its x and y); the public one only has to
    // name the same point. Comparing members is enough when both are written canonically (32-byte
    // coordinates); anything else takes the long way through a key import.
    const auto same = [&](const char* member) {
        const auto it = stored.find(member);
        return it != stored.end() && it->is_string() && *it == pair.public_jwk().at(member);
    };
    if (same("kty") && same("crv") && same("x") && same("y")) return pair;
    const auto public_loaded = parse_jwk(stored);
    if (public_loaded.family != key_family::ec_p256 ||
        ec_public_jwk(public_loaded.key.get()) != ec_public_jwk(pair.native_handle()))
        invalid("the public JWK does not belong to the private key");
    return pair;
}

std::string dpop_key::private_jwk_json() const {
    json jwk = ec_private_jwk(native_handle());
    struct wipe_json {
        json& value;
        ~wipe_json() { cleanse_jwk(value); }
    } wipe{jwk};
    return jwk.dump();
}

std::string dpop_htu(std::string_view url) {
    url = url.substr(0, std::min(url.find('?'), url.find('#')));
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::string(url);
    const auto authority_start = scheme_end + 3;
    const auto authority_end = std::min(url.find('/', authority_start), url.size());
    const auto at = url.substr(authority_start, authority_end - authority_start).rfind('@');
    if (at == std::string_view::npos) return std::string(url);
    return std::string(url.substr(0, authority_start)) + std::string(url.substr(authority_start + at + 1));
}

std::string dpop_ath(std::string_view access_token) { return base64url_encode(sha256(access_token)); }

std::string make_dpop_proof(const dpop_key& key, std::string_view htm, std::string_view htu,
                            std::chrono::system_clock::time_point now, std::optional<std::string_view> nonce,
                            std::optional<std::string_view> access_token) {
    json claims{
        {"htm", std::string(htm)},
        {"htu", dpop_htu(htu)},
        {"iat", std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()},
        {"jti", base64url_encode(random_bytes(jti_bytes))},
    };
    if (nonce) {
        if (nonce->empty() || !std::all_of(nonce->begin(), nonce->end(), is_nonce_char))
            throw error(oidc_errc::malformed_response, "DPoP-Nonce: not a valid nonce (RFC 9449 section 8.1)");
        claims["nonce"] = std::string(*nonce);
    }
    if (access_token) claims["ath"] = dpop_ath(*access_token);
    std::string signing_input = key.encoded_proof_header();
    signing_input += '.';
    try {
        signing_input += base64url_encode(claims.dump());
    } catch (const json::exception&) {
        throw error(oidc_errc::invalid_request, "DPoP proof: a claim value is not valid UTF-8");
    }
    const std::string signature = jws_sign(key.native_handle(), jws_algorithm::es256, signing_input);
    signing_input += '.';
    signing_input += base64url_encode(signature);
    return signing_input;
}

} // namespace multisession::oidc
