#include "oidc/jwk.hpp"

#include "oidc/base64url.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <array>

namespace multisession::oidc {
namespace {

using namespace detail;
using json = nlohmann::json;

constexpr std::size_t p256_size = 32;
constexpr std::size_t ed25519_size = 32;
constexpr int rsa_min_bits = 2048;
// Verification cost grows with the modulus: a hostile key set must not buy minutes of CPU.
constexpr int rsa_max_bits = 8192;

[[noreturn]] void invalid(const std::string& what) { throw_openssl(oidc_errc::invalid_key, "JWK: " + what); }

/// The string member `name`, or null when it is absent. Present but not a string is an error.
const std::string* optional_string(const json& jwk, const char* name) {
    const auto it = jwk.find(name);
    if (it == jwk.end()) return nullptr;
    if (!it->is_string()) invalid(std::string("member '") + name + "' is not a string");
    return &it->get_ref<const std::string&>();
}

const std::string& required_string(const json& jwk, const char* name) {
    const auto* value = optional_string(jwk, name);
    if (value == nullptr) invalid(std::string("member '") + name + "' is missing");
    return *value;
}

/// The bytes of base64url member `name`; when `size` is not zero they must be exactly that many.
std::string decoded_member(const json& jwk, const char* name, std::size_t size) {
    auto bytes = base64url_decode(required_string(jwk, name));
    if (!bytes) invalid(std::string("member '") + name + "' is not base64url");
    if (size != 0 && bytes->size() != size) {
        cleanse(*bytes);
        invalid(std::string("member '") + name + "' has the wrong length");
    }
    return std::move(*bytes);
}

/// Wipes a string when the scope ends, however it ends.
struct cleanse_guard {
    std::string& bytes;
    ~cleanse_guard() { cleanse(bytes); }
};

pkey_ptr from_params(const char* type, int selection, const OSSL_PARAM_BLD* builder) {
    params_ptr params(OSSL_PARAM_BLD_to_param(const_cast<OSSL_PARAM_BLD*>(builder)));
    pkey_ctx_ptr context(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* raw = nullptr;
    if (!params || !context || EVP_PKEY_fromdata_init(context.get()) != 1 ||
        EVP_PKEY_fromdata(context.get(), &raw, selection, params.get()) != 1)
        return nullptr;
    return pkey_ptr(raw);
}

/// P-256, built once: read-only after construction, so shared by every thread.
const EC_GROUP* p256_group() {
    static const std::unique_ptr<EC_GROUP, decltype(&EC_GROUP_free)> group(
        EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1), &EC_GROUP_free);
    return group.get();
}

/// Whether 1 <= d < n and d·G is the uncompressed `point`.
bool pair_matches(const BIGNUM* d, const std::string& point) {
    const EC_GROUP* group = p256_group();
    if (group == nullptr || BN_is_zero(d) || BN_is_negative(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
        return false;
    const std::unique_ptr<BN_CTX, decltype(&BN_CTX_free)> context(BN_CTX_new(), &BN_CTX_free);
    const std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> computed(EC_POINT_new(group), &EC_POINT_free);
    const std::unique_ptr<EC_POINT, decltype(&EC_POINT_free)> stored(EC_POINT_new(group), &EC_POINT_free);
    return context && computed && stored && EC_POINT_mul(group, computed.get(), d, nullptr, nullptr, context.get()) == 1 &&
           EC_POINT_oct2point(group, stored.get(), bytes_of(point), point.size(), context.get()) == 1 &&
           EC_POINT_cmp(group, computed.get(), stored.get(), context.get()) == 0;
}

jwk_key load_ec(const json& jwk) {
    if (required_string(jwk, "crv") != "P-256") invalid("unsupported EC curve");
    const std::string x = decoded_member(jwk, "x", p256_size);
    const std::string y = decoded_member(jwk, "y", p256_size);
    const std::string point = "\x04" + x + y; // SEC 1 uncompressed form
    const bool has_private = jwk.contains("d");

    param_bld_ptr builder(OSSL_PARAM_BLD_new());
    if (!builder || OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
        invalid("cannot build an EC key");
    bn_ptr scalar;
    if (has_private) {
        std::string d = decoded_member(jwk, "d", p256_size);
        cleanse_guard wipe{d};
        scalar.reset(BN_bin2bn(bytes_of(d), static_cast<int>(d.size()), nullptr));
        if (!scalar || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar.get()) != 1)
            invalid("cannot build an EC key");
    }
    auto key = from_params("EC", has_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, builder.get());
    if (!key) invalid("EC point is not on the P-256 curve");
    // Import checks that the point is on the curve; for a key pair, that `d` is in [1, n-1] and
    // belongs to (x, y) is checked too, so a mismatched stored pair is caught at load, not at the
    // provider. Not with EVP_PKEY_check or EVP_PKEY_pairwise_check: both also run OpenSSL's full
    // public-key check, whose order check (n·Q = O, a variable-base scalar multiplication) cost
    // ~110 us of a session's ~220 us key restore and proves nothing on P-256, whose cofactor is 1.
    // d·G on the shared group (the generator's precomputed table) costs ~20 us.
    if (has_private && !pair_matches(scalar.get(), point)) invalid("EC private key does not match its public point");
    if (!has_private) {
        pkey_ctx_ptr checker(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
        if (!checker || EVP_PKEY_public_check(checker.get()) != 1) invalid("EC point is not on the P-256 curve");
    }
    jwk_key out;
    out.key = share(std::move(key));
    out.family = key_family::ec_p256;
    out.has_private = has_private;
    return out;
}

jwk_key load_rsa(const json& jwk) {
    const std::string n = decoded_member(jwk, "n", 0);
    const std::string e = decoded_member(jwk, "e", 0);
    if (n.empty() || e.empty() || e.size() > 8) invalid("RSA member 'n' or 'e' has the wrong length");
    bn_ptr modulus(BN_bin2bn(bytes_of(n), static_cast<int>(n.size()), nullptr));
    bn_ptr exponent(BN_bin2bn(bytes_of(e), static_cast<int>(e.size()), nullptr));
    if (!modulus || !exponent) invalid("cannot build an RSA key");
    const int bits = BN_num_bits(modulus.get());
    if (bits < rsa_min_bits || bits > rsa_max_bits) invalid("RSA modulus size is outside 2048..8192 bits");
    if (!BN_is_odd(modulus.get()) || !BN_is_odd(exponent.get()) || BN_is_one(exponent.get()))
        invalid("RSA member 'n' or 'e' is not a valid value");
    param_bld_ptr builder(OSSL_PARAM_BLD_new());
    if (!builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, modulus.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, exponent.get()) != 1)
        invalid("cannot build an RSA key");
    auto key = from_params("RSA", EVP_PKEY_PUBLIC_KEY, builder.get());
    if (!key) invalid("cannot build an RSA key");
    jwk_key out;
    out.key = share(std::move(key));
    out.family = key_family::rsa;
    return out;
}

jwk_key load_okp(const json& jwk) {
    if (required_string(jwk, "crv") != "Ed25519") invalid("unsupported OKP curve");
    const std::string x = decoded_member(jwk, "x", ed25519_size);
    pkey_ptr key(EVP_PKEY_new_raw_public_key_ex(nullptr, "ED25519", nullptr, bytes_of(x), x.size()));
    if (!key) invalid("cannot build an Ed25519 key");
    jwk_key out;
    out.key = share(std::move(key));
    out.family = key_family::ed25519;
    return out;
}

/// `number` as exactly `size` big-endian bytes, base64url-encoded.
std::string encode_bn(const BIGNUM* number, std::size_t size) {
    std::string bytes(size, '\0');
    cleanse_guard wipe{bytes};
    if (BN_bn2binpad(number, reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(size)) !=
        static_cast<int>(size))
        invalid("EC coordinate does not fit 32 bytes");
    return base64url_encode(bytes);
}

std::string encode_bn_param(EVP_PKEY* key, const char* name) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) invalid("cannot export the EC key");
    bn_ptr number(raw);
    return encode_bn(number.get(), p256_size);
}

void require_p256(EVP_PKEY* key) {
    if (family_of(key) != key_family::ec_p256) invalid("not an EC P-256 key");
}

} // namespace

jwk_key parse_jwk(const json& jwk) {
    if (!jwk.is_object()) invalid("not a JSON object");
    const std::string& kty = required_string(jwk, "kty");
    jwk_key out;
    if (kty == "EC") {
        out = load_ec(jwk);
    } else if (kty == "RSA") {
        out = load_rsa(jwk);
    } else if (kty == "OKP") {
        out = load_okp(jwk);
    } else {
        invalid("unsupported kty " + quoted_identifier(kty));
    }
    if (const auto* kid = optional_string(jwk, "kid")) out.kid = *kid;
    if (const auto* alg = optional_string(jwk, "alg")) out.alg = *alg;
    if (const auto* use = optional_string(jwk, "use")) out.use = *use;
    return out;
}

jwk_key parse_jwk(std::string_view text, const std::function<void(const json&, const jwk_key&)>& inspect) {
    json document = json::parse(text, nullptr, false);
    struct wipe_json {
        json& value;
        ~wipe_json() { cleanse_jwk(value); }
    } wipe{document};
    if (document.is_discarded()) invalid("not JSON");
    auto key = parse_jwk(document);
    if (inspect) inspect(document, key);
    return key;
}

json ec_public_jwk(EVP_PKEY* key) {
    require_p256(key);
    return json{{"kty", "EC"},
                {"crv", "P-256"},
                {"x", encode_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X)},
                {"y", encode_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y)}};
}

json ec_private_jwk(EVP_PKEY* key) {
    json out = ec_public_jwk(key);
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) invalid("the EC key has no private part");
    bn_ptr scalar(raw);
    std::string d = encode_bn(scalar.get(), p256_size);
    cleanse_guard wipe{d};
    out["d"] = d;
    return out;
}

void cleanse_jwk(json& jwk) noexcept {
    if (jwk.is_object() || jwk.is_array()) {
        for (auto& member : jwk)
            if (member.is_string()) cleanse(member.get_ref<std::string&>());
    } else if (jwk.is_string()) {
        cleanse(jwk.get_ref<std::string&>());
    }
    jwk = json();
}

std::string jwk_thumbprint(const json& jwk) {
    if (!jwk.is_object()) invalid("not a JSON object");
    const std::string& kty = required_string(jwk, "kty");
    // RFC 7638 section 3.2: only the required members, in lexicographic order.
    std::vector<const char*> members;
    if (kty == "EC") {
        members = {"crv", "kty", "x", "y"};
    } else if (kty == "RSA") {
        members = {"e", "kty", "n"};
    } else if (kty == "OKP") {
        members = {"crv", "kty", "x"};
    } else {
        invalid("no thumbprint for kty " + quoted_identifier(kty));
    }
    std::string canonical = "{";
    try {
        for (const char* name : members) {
            if (canonical.size() > 1) canonical += ',';
            canonical += json(name).dump();
            canonical += ':';
            canonical += json(required_string(jwk, name)).dump();
        }
    } catch (const json::exception&) {
        invalid("a member is not valid UTF-8");
    }
    canonical += '}';
    return base64url_encode(sha256(canonical));
}

jwks jwks::parse(const json& document) {
    const auto keys = document.is_object() ? document.find("keys") : document.end();
    if (!document.is_object() || keys == document.end() || !keys->is_array())
        throw error(oidc_errc::malformed_response, "JWKS: not an object with a 'keys' array");
    jwks out;
    for (const auto& entry : *keys) {
        try {
            auto key = parse_jwk(entry);
            if (!key.use.empty() && key.use != "sig") {
                ++out.skipped_;
                continue;
            }
            key.verifier = std::make_shared<const jws_verifier>(key.key);
            out.by_kid_[key.kid].push_back(out.keys_.size());
            out.keys_.push_back(std::move(key));
        } catch (const error&) {
            ++out.skipped_;
        }
    }
    return out;
}

jwks jwks::parse(std::string_view text) {
    const json document = json::parse(text, nullptr, false);
    if (document.is_discarded()) throw error(oidc_errc::malformed_response, "JWKS: not JSON");
    return parse(document);
}

std::vector<const jwk_key*> jwks::find(std::string_view kid) const {
    std::vector<const jwk_key*> out;
    if (const auto it = by_kid_.find(kid); it != by_kid_.end())
        for (const auto index : it->second)
            out.push_back(&keys_[index]);
    return out;
}

} // namespace multisession::oidc
