#include "oidc/dpop.hpp"

#include "oidc/base64url.hpp"
#include "oidc/jose_sign.hpp"
#include "oidc/jwk.hpp"
#include "oidc/jwt.hpp"

#include <openssl/core_names.h>

#include <algorithm>

namespace multisession::oidc {
namespace {

using json = nlohmann::json;
using namespace detail;

constexpr std::size_t jti_bytes = 16;

[[noreturn]] void invalid(const std::string& what) { throw_openssl(oidc_errc::invalid_key, "DPoP key: " + what); }

/// The private JWK text as a key pair, checked to be EC P-256 with `d`.
jwk_key load_private(std::string_view private_jwk_json) {
    auto loaded = parse_jwk(private_jwk_json);
    if (loaded.family != key_family::ec_p256 || !loaded.has_private) invalid("not an EC P-256 private JWK");
    return loaded;
}

bool is_nonce_char(char c) {
    // RFC 9449 section 8.1: NQCHAR = %x21 / %x23-5B / %x5D-7E
    const auto byte = static_cast<unsigned char>(c);
    return byte == 0x21 || (byte >= 0x23 && byte <= 0x5b) || (byte >= 0x5d && byte <= 0x7e);
}

} // namespace

dpop_key::dpop_key(shared_pkey key) : key_(std::move(key)) {
    public_jwk_ = ec_public_jwk(key_.get());
    // Inrupt's stored publicKey and proof headers carry the algorithm; the thumbprint ignores it.
    public_jwk_["alg"] = "ES256";
    thumbprint_ = jwk_thumbprint(public_jwk_);
}

dpop_key dpop_key::generate() {
    pkey_ctx_ptr context(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    EVP_PKEY* raw = nullptr;
    if (!context || EVP_PKEY_keygen_init(context.get()) != 1 ||
        EVP_PKEY_CTX_set_group_name(context.get(), "prime256v1") != 1 || EVP_PKEY_generate(context.get(), &raw) != 1)
        invalid("OpenSSL cannot generate an EC P-256 key");
    return dpop_key(share(pkey_ptr(raw)));
}

dpop_key dpop_key::from_private_jwk(std::string_view private_jwk_json) {
    return dpop_key(load_private(private_jwk_json).key);
}

dpop_key dpop_key::from_jwk(std::string_view public_jwk_json, std::string_view private_jwk_json) {
    dpop_key pair(load_private(private_jwk_json).key);
    const json stored = json::parse(public_jwk_json, nullptr, false);
    if (!stored.is_object()) invalid("the public JWK is not a JSON object");
    if (const auto alg = stored.find("alg"); alg != stored.end() && *alg != "ES256")
        invalid("the public JWK's alg is not ES256");
    // The private JWK was checked in full (its d matches its x and y); the public one only has to
    // name the same point. Comparing members is enough when both are written canonically (32-byte
    // coordinates); anything else takes the long way through a key import.
    const auto same = [&](const char* member) {
        const auto it = stored.find(member);
        return it != stored.end() && it->is_string() && *it == pair.public_jwk_.at(member);
    };
    if (same("kty") && same("crv") && same("x") && same("y")) return pair;
    const auto loaded = parse_jwk(stored);
    if (loaded.family != key_family::ec_p256 || ec_public_jwk(loaded.key.get()) != ec_public_jwk(pair.key_.get()))
        invalid("the public JWK does not belong to the private key");
    return pair;
}

std::string dpop_key::private_jwk_json() const {
    json jwk = ec_private_jwk(key_.get());
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
    json header{{"typ", "dpop+jwt"}, {"jwk", key.public_jwk()}};
    return sign_compact_jws(std::move(header), claims, key.native_handle(), jws_algorithm::es256);
}

} // namespace multisession::oidc
