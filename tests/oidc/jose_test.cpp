// JOSE primitives of src/oidc: base64url, JWK, thumbprints, DPoP proofs, JWT verification, WebID.
#include "oidc/base64url.hpp"
#include "oidc/dpop.hpp"
#include "oidc/jose_sign.hpp"
#include "oidc/jwk.hpp"
#include "oidc/jwt.hpp"

#include <multisession/error.hpp>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace multisession;
using namespace multisession::oidc;
using json = nlohmann::json;
using std::chrono::seconds;
using std::chrono::system_clock;

namespace {

/// The oidc code `action` throws as multisession::error; fails the test on any other outcome.
std::error_code code_of(const std::function<void()>& action, std::string* message = nullptr) {
    try {
        action();
    } catch (const multisession::error& e) {
        if (message) *message = e.what();
        return e.code();
    } catch (const std::exception& e) {
        FAIL("unexpected exception type: " << e.what());
    }
    return {};
}

json decode_part(const std::string& token, int index) {
    std::size_t start = 0;
    for (int i = 0; i < index; ++i)
        start = token.find('.', start) + 1;
    const auto end = token.find('.', start);
    const auto bytes = base64url_decode(token.substr(start, end - start));
    REQUIRE(bytes);
    return json::parse(*bytes);
}

oidc::detail::shared_pkey generate(const char* type, std::size_t rsa_bits = 0) {
    EVP_PKEY* key =
        rsa_bits ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, rsa_bits) : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
    REQUIRE(key != nullptr);
    return oidc::detail::shared_pkey(key, oidc::detail::pkey_free{});
}

std::string bn_param(EVP_PKEY* key, const char* name) {
    BIGNUM* number = nullptr;
    REQUIRE(EVP_PKEY_get_bn_param(key, name, &number) == 1);
    std::string bytes(static_cast<std::size_t>(BN_num_bytes(number)), '\0');
    BN_bn2bin(number, reinterpret_cast<unsigned char*>(bytes.data()));
    BN_free(number);
    return base64url_encode(bytes);
}

json rsa_jwk(EVP_PKEY* key, const std::string& kid) {
    return {{"kty", "RSA"},
            {"kid", kid},
            {"n", bn_param(key, OSSL_PKEY_PARAM_RSA_N)},
            {"e", bn_param(key, OSSL_PKEY_PARAM_RSA_E)}};
}

json ed25519_jwk(EVP_PKEY* key, const std::string& kid) {
    std::string raw(32, '\0');
    std::size_t size = raw.size();
    REQUIRE(EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) == 1);
    return {{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", kid}, {"x", base64url_encode(raw)}};
}

json ec_jwk(EVP_PKEY* key, const std::string& kid) {
    json jwk = ec_public_jwk(key);
    jwk["kid"] = kid;
    return jwk;
}

// A key pair as Inrupt's Node library stores it (`publicKey` with alg, `privateKey` with d).
const std::string stored_x = "hm3w1xWQP0PVIyiyYtgv9F7pblPEPtL_cBjnbUcNIuM";
const std::string stored_y = "nag8bgwnuJrKRFfJ55OFn-WMNpXF3fdXcsshkdVHa5w";
const std::string stored_d = "xbEeNXRhvOTvanuWaDOELpRemxqcdOQJ-PuQPJncVGw";
const std::string stored_public =
    R"({"kty":"EC","x":")" + stored_x + R"(","y":")" + stored_y + R"(","crv":"P-256","alg":"ES256"})";
const std::string stored_private =
    R"({"kty":"EC","x":")" + stored_x + R"(","y":")" + stored_y + R"(","crv":"P-256","d":")" + stored_d + R"("})";

const system_clock::time_point fixed_now{seconds{1'700'000'000}};

} // namespace

TEST_CASE("base64url encodes RFC 4648 vectors without padding") {
    CHECK(base64url_encode("") == "");
    CHECK(base64url_encode("f") == "Zg");
    CHECK(base64url_encode("fo") == "Zm8");
    CHECK(base64url_encode("foo") == "Zm9v");
    CHECK(base64url_encode("foob") == "Zm9vYg");
    CHECK(base64url_encode("fooba") == "Zm9vYmE");
    CHECK(base64url_encode("foobar") == "Zm9vYmFy");
    CHECK(base64url_encode("\xfb\xff") == "-_8");
}

TEST_CASE("base64url decodes, tolerating trailing padding only") {
    CHECK(base64url_decode("") == std::string());
    CHECK(base64url_decode("Zm9vYmFy") == std::string("foobar"));
    CHECK(base64url_decode("Zm9vYg") == std::string("foob"));
    CHECK(base64url_decode("Zm9vYg==") == std::string("foob"));
    CHECK(base64url_decode("Zm9vYmE=") == std::string("fooba"));
    CHECK(base64url_decode("-_8") == std::string("\xfb\xff"));
    for (const char* bad :
         {"Zm9v!", "+/8", "Z", "Zm9vY", "Zm=9v", "Zg=", "Zg===", "====", "Zh", "Zm9", "Zm9vYg==Zg", "Zm 9v", "Zm9v\n"})
        CHECK_MESSAGE(!base64url_decode(bad), bad);
    std::string all;
    for (int i = 0; i < 256; ++i)
        all += static_cast<char>(i);
    CHECK(base64url_decode(base64url_encode(all)) == all);
}

TEST_CASE("RFC 7638 thumbprint example and Ed25519 (RFC 8037) thumbprint") {
    const json rsa = {
        {"kty", "RSA"},
        {"n",
         "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
         "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_"
         "FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHz"
         "u6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
         "kEgU8"
         "awapJzKnqDKgw"},
        {"e", "AQAB"},
        {"alg", "RS256"},
        {"kid", "2011-04-29"}};
    CHECK(jwk_thumbprint(rsa) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    CHECK(parse_jwk(rsa).family == key_family::rsa); // the example key is also a valid 2048-bit key
    const json okp = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}};
    CHECK(jwk_thumbprint(okp) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    CHECK(jwk_thumbprint(json::parse(stored_private)) == "ZePqs7U-uy-iJHV4odcUnFvpnz79h5l0yzYyzXBOs8I");
    CHECK(code_of([] { (void)jwk_thumbprint(json{{"kty", "oct"}, {"k", "AA"}}); }) == oidc_errc::invalid_key);
    CHECK(code_of([] {
              (void)jwk_thumbprint(json{{"kty", "EC"}, {"crv", "P-256"}, {"x", "AA"}});
          }) == oidc_errc::invalid_key);
}

TEST_CASE("RFC 8037 Ed25519 signature example verifies") {
    const auto key =
        parse_jwk(json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}});
    const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
    const auto signature =
        base64url_decode("hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
    REQUIRE(signature);
    CHECK(jws_verify(key.key.get(), jws_algorithm::eddsa, input, *signature));
    CHECK_FALSE(jws_verify(key.key.get(), jws_algorithm::eddsa, input + "x", *signature));
    CHECK_FALSE(jws_verify(key.key.get(), jws_algorithm::es256, input, *signature)); // wrong family
}

TEST_CASE("dpop_key: generated keys round-trip through their JWKs") {
    const auto key = dpop_key::generate();
    const json pub = key.public_jwk();
    CHECK(pub.size() == 5);
    CHECK(pub["kty"] == "EC");
    CHECK(pub["crv"] == "P-256");
    CHECK(pub["alg"] == "ES256");
    CHECK(base64url_decode(pub["x"].get<std::string>())->size() == 32);
    CHECK(base64url_decode(pub["y"].get<std::string>())->size() == 32);
    CHECK_FALSE(pub.contains("d"));
    const json priv = json::parse(key.private_jwk_json());
    CHECK(priv.size() == 5);
    CHECK(base64url_decode(priv["d"].get<std::string>())->size() == 32);
    CHECK(priv["x"] == pub["x"]);

    const auto loaded = dpop_key::from_jwk(key.public_jwk_json(), key.private_jwk_json());
    CHECK(loaded.public_jwk() == pub);
    CHECK(loaded.private_jwk_json() == key.private_jwk_json());
    CHECK(loaded.thumbprint() == key.thumbprint());
    CHECK(dpop_key::from_private_jwk(key.private_jwk_json()).public_jwk() == pub);
    CHECK(dpop_key::generate().thumbprint() != key.thumbprint());
}

TEST_CASE("dpop_key loads an Inrupt-style stored pair") {
    const auto key = dpop_key::from_jwk(stored_public, stored_private);
    CHECK(key.public_jwk() == json::parse(stored_public));
    const json priv = json::parse(key.private_jwk_json());
    CHECK(priv == json{{"kty", "EC"}, {"crv", "P-256"}, {"x", stored_x}, {"y", stored_y}, {"d", stored_d}});
    CHECK(key.thumbprint() == "ZePqs7U-uy-iJHV4odcUnFvpnz79h5l0yzYyzXBOs8I");

    // A public key that belongs to another private key, or with another alg, is refused.
    const auto other = dpop_key::generate();
    std::string message;
    CHECK(code_of([&] { (void)dpop_key::from_jwk(other.public_jwk_json(), stored_private); }, &message) ==
          oidc_errc::invalid_key);
    CHECK(message.find(stored_d) == std::string::npos);
    json wrong_alg = json::parse(stored_public);
    wrong_alg["alg"] = "ES384";
    CHECK(code_of([&] { (void)dpop_key::from_jwk(wrong_alg.dump(), stored_private); }) == oidc_errc::invalid_key);
    CHECK(code_of([&] { (void)dpop_key::from_private_jwk(stored_public); }) == oidc_errc::invalid_key);
    CHECK(code_of([&] { (void)dpop_key::from_private_jwk("{not json"); }) == oidc_errc::invalid_key);
}

TEST_CASE("invalid JWKs are refused with invalid_key, never echoing key material") {
    const json good = json::parse(stored_private);
    CHECK(parse_jwk(good).has_private);
    CHECK_FALSE(parse_jwk(json::parse(stored_public)).has_private);

    auto with = [&](const char* member, json value) {
        json jwk = good;
        if (value.is_null())
            jwk.erase(member);
        else
            jwk[member] = std::move(value);
        return jwk;
    };
    // Off the curve: change the last character of y (a valid encoding, another coordinate).
    std::string off_curve_y = stored_y;
    off_curve_y.back() = off_curve_y.back() == 'w' ? 'g' : 'w';
    json off_curve = with("y", off_curve_y);
    off_curve.erase("d");
    // Another key's private scalar for this point.
    const json other_private = json::parse(dpop_key::generate().private_jwk_json());
    const std::string other_d = other_private["d"];
    const std::vector<json> bad = {
        off_curve,
        with("d", other_d),                                       // d does not match (x, y)
        with("x", stored_x.substr(0, 42)),                        // 31 bytes
        with("d", base64url_encode(std::string(33, '\x01'))),     // 33 bytes
        with("d", base64url_encode(std::string(32, '\0'))),       // scalar zero
        with("d", base64url_encode(std::string(32, '\xff'))),     // scalar above the group order
        with("y", nullptr),                                       // missing
        with("crv", nullptr),                                     // missing
        with("crv", "P-384"),                                     // unknown curve
        with("kty", "oct"),                                       // unknown kty
        with("kty", nullptr),                                     // missing kty
        with("x", 42),                                            // not a string
        with("x", "not*base64"),                                  // bad encoding
        json{{"kty", "OKP"}, {"crv", "X25519"}, {"x", stored_x}}, // not a signature curve
        json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", "AAAA"}},  // wrong length
        json{{"kty", "RSA"}, {"n", base64url_encode(std::string(128, '\xc5'))}, {"e", "AQAB"}}, // 1024 bits
        json{{"kty", "RSA"}, {"e", "AQAB"}},                                                    // missing n
        json::array(),
        json("EC"),
    };
    for (const auto& jwk : bad) {
        std::string message;
        CHECK_MESSAGE(code_of([&] { (void)parse_jwk(jwk); }, &message) == oidc_errc::invalid_key, jwk.dump());
        CHECK(message.find(stored_d) == std::string::npos);
        CHECK(message.find(other_d) == std::string::npos);
    }
    CHECK(code_of([] { (void)parse_jwk(std::string_view("{\"kty\":")); }) == oidc_errc::invalid_key);
}

TEST_CASE("DPoP proofs carry exactly the RFC 9449 header and claims") {
    const auto key = dpop_key::from_jwk(stored_public, stored_private);
    const std::string token = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    const auto proof = make_dpop_proof(key, "GET", "https://user:pw@pod.example/r/a?x=1&y=2#frag", fixed_now,
                                       std::string_view("n-0S6_WzA2Mj"), std::string_view(token));
    const json header = decode_part(proof, 0);
    CHECK(header == json{{"typ", "dpop+jwt"}, {"alg", "ES256"}, {"jwk", json::parse(stored_public)}});
    CHECK_FALSE(header["jwk"].contains("d"));
    const json claims = decode_part(proof, 1);
    CHECK(claims.size() == 6);
    CHECK(claims["htm"] == "GET");
    CHECK(claims["htu"] == "https://pod.example/r/a");
    CHECK(claims["iat"] == 1'700'000'000);
    CHECK(claims["nonce"] == "n-0S6_WzA2Mj");
    CHECK(claims["ath"] == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"); // RFC 9449 section 7.1 example
    CHECK(base64url_decode(claims["jti"].get<std::string>())->size() >= 16);

    // The signature is JOSE R||S (64 bytes) and verifies with the public key alone.
    const auto parsed = parse_compact_jws(proof);
    CHECK(parsed.signature.size() == 64);
    const auto verifier = parse_jwk(header["jwk"]);
    CHECK(jws_verify(verifier.key.get(), jws_algorithm::es256, parsed.signing_input, parsed.signature));
    auto tampered = parsed.signature;
    tampered[10] = static_cast<char>(tampered[10] ^ 1);
    CHECK_FALSE(jws_verify(verifier.key.get(), jws_algorithm::es256, parsed.signing_input, tampered));

    const json plain = decode_part(make_dpop_proof(key, "POST", "https://idp.example/token#f", fixed_now), 1);
    CHECK(plain.size() == 4);
    CHECK_FALSE(plain.contains("nonce"));
    CHECK_FALSE(plain.contains("ath"));
    CHECK(plain["htu"] == "https://idp.example/token");
    CHECK(plain["htm"] == "POST");

    CHECK(code_of([&] { (void)make_dpop_proof(key, "GET", "https://x/", fixed_now, std::string_view("a\"b")); }) ==
          oidc_errc::malformed_response);
    CHECK(dpop_htu("https://pod.example/a/b") == "https://pod.example/a/b");
    CHECK(dpop_htu("https://pod.example?q") == "https://pod.example");
    CHECK(dpop_htu("https://pod.example/p@x/y") == "https://pod.example/p@x/y");
}

TEST_CASE("dpop_key: a stored pair with padded base64url gets the canonical public JWK") {
    // The decoder tolerates trailing padding; the provider hashes the proof's jwk as sent, so the
    // proof must carry the canonical (unpadded) text the thumbprint was bound to.
    const std::string padded_x = stored_x + "=";
    REQUIRE(base64url_decode(padded_x) == base64url_decode(stored_x));
    std::string padded_private = stored_private;
    padded_private.replace(padded_private.find(stored_x), stored_x.size(), padded_x);
    const auto key = dpop_key::from_private_jwk(padded_private);
    CHECK(key.public_jwk()["x"] == stored_x);
    CHECK(key.thumbprint() == "ZePqs7U-uy-iJHV4odcUnFvpnz79h5l0yzYyzXBOs8I");
    const json header = decode_part(make_dpop_proof(key, "GET", "https://pod.example/", fixed_now), 0);
    CHECK(header["jwk"]["x"] == stored_x);
    CHECK(dpop_key::from_jwk(stored_public, padded_private).public_jwk() == json::parse(stored_public));
}

TEST_CASE("jws_verifier: one set-up per algorithm, reused for every signature, from many threads") {
    const auto rsa = generate("RSA", 2048);
    const auto ec = dpop_key::generate();
    const auto rsa_public = parse_jwk(rsa_jwk(rsa.get(), "r"));
    const auto ec_public = parse_jwk(ec.public_jwk());
    const jws_verifier rsa_verifier(rsa_public.key);
    const jws_verifier ec_verifier(ec_public.key);

    std::vector<std::pair<std::string, std::string>> signed_inputs; // ES256
    for (int i = 0; i < 8; ++i) {
        const std::string input = "input-" + std::to_string(i);
        signed_inputs.emplace_back(input, jws_sign(ec.native_handle(), jws_algorithm::es256, input));
    }
    // The same verifier, again and again: a used context must not leak into the next check.
    for (int round = 0; round < 3; ++round)
        for (const auto& [input, signature] : signed_inputs) {
            CHECK(ec_verifier.verify(jws_algorithm::es256, input, signature));
            CHECK_FALSE(ec_verifier.verify(jws_algorithm::es256, input + "x", signature));
            CHECK_FALSE(ec_verifier.verify(jws_algorithm::es256, input, signature.substr(1)));
        }
    // Another signature's input under this signature: refused.
    CHECK_FALSE(ec_verifier.verify(jws_algorithm::es256, signed_inputs[0].first, signed_inputs[1].second));
    // A key of another family: false, every time, whatever was set up before.
    CHECK_FALSE(ec_verifier.verify(jws_algorithm::rs256, "a", std::string(256, 'x')));
    CHECK_FALSE(ec_verifier.verify(jws_algorithm::eddsa, "a", std::string(64, 'x')));
    CHECK_FALSE(rsa_verifier.verify(jws_algorithm::es256, "a", signed_inputs[0].second));

    // RS256 and PS256 on one RSA key: each algorithm has its own context (PSS padding set on one).
    const std::string input = "rsa input";
    const auto rs = jws_sign(rsa.get(), jws_algorithm::rs256, input);
    const auto ps = jws_sign(rsa.get(), jws_algorithm::ps256, input);
    for (int round = 0; round < 2; ++round) {
        CHECK(rsa_verifier.verify(jws_algorithm::rs256, input, rs));
        CHECK(rsa_verifier.verify(jws_algorithm::ps256, input, ps));
        CHECK_FALSE(rsa_verifier.verify(jws_algorithm::rs256, input, ps));
        CHECK_FALSE(rsa_verifier.verify(jws_algorithm::ps256, input, rs));
    }

    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                const auto& [in, signature] = signed_inputs[static_cast<std::size_t>((t + i) % 8)];
                if (!ec_verifier.verify(jws_algorithm::es256, in, signature)) ++wrong;
                if (ec_verifier.verify(jws_algorithm::es256, in + "!", signature)) ++wrong;
            }
        });
    for (auto& thread : threads) thread.join();
    CHECK(wrong.load() == 0);
}

TEST_CASE("DPoP jti values are unique") {
    const auto key = dpop_key::generate();
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i)
        seen.insert(decode_part(make_dpop_proof(key, "GET", "https://pod.example/", fixed_now), 1)["jti"]);
    CHECK(seen.size() == 1000);
}

TEST_CASE("verify_jwt") {
    const auto rsa = generate("RSA", 2048);
    const auto ec = dpop_key::generate();
    const auto ed = generate("ED25519");
    const auto keys = jwks::parse(
        json{{"keys", {rsa_jwk(rsa.get(), "rsa1"), ec_jwk(ec.native_handle(), "ec1"), ed25519_jwk(ed.get(), "ed1")}}});
    REQUIRE(keys.keys().size() == 3);

    jwt_expectations expected;
    expected.issuer = "https://idp.example/";
    expected.audience = "client-1";
    expected.now = fixed_now;
    const json claims = {{"iss", "https://idp.example/"},
                         {"aud", "client-1"},
                         {"sub", "https://pod.example/me"},
                         {"iat", 1'700'000'000 - 10},
                         {"exp", 1'700'000'000 + 300}};
    auto sign = [&](EVP_PKEY* key, jws_algorithm alg, const std::string& kid, const json& body) {
        json header = {{"typ", "JWT"}};
        if (!kid.empty()) header["kid"] = kid;
        return sign_compact_jws(header, body, key, alg);
    };
    auto verify_code = [&](const std::string& token, const jwt_expectations& options) {
        return code_of([&] { (void)verify_jwt(token, keys, options); });
    };

    SUBCASE("each supported algorithm is accepted") {
        CHECK(verify_jwt(sign(rsa.get(), jws_algorithm::rs256, "rsa1", claims), keys, expected) == claims);
        CHECK(verify_jwt(sign(rsa.get(), jws_algorithm::ps256, "rsa1", claims), keys, expected) == claims);
        CHECK(verify_jwt(sign(ec.native_handle(), jws_algorithm::es256, "ec1", claims), keys, expected) == claims);
        CHECK(verify_jwt(sign(ed.get(), jws_algorithm::eddsa, "ed1", claims), keys, expected) == claims);
        // Without a kid, the keys of the right family are tried.
        CHECK(verify_jwt(sign(ed.get(), jws_algorithm::eddsa, "", claims), keys, expected) == claims);
        CHECK(verify_jwt(sign(rsa.get(), jws_algorithm::ps256, "", claims), keys, expected) == claims);
        // Real time (no injected now) works for a token valid now.
        json current = claims;
        const auto now_s = std::chrono::duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
        current["iat"] = now_s;
        current["exp"] = now_s + 60;
        jwt_expectations live = expected;
        live.now.reset();
        CHECK(verify_jwt(sign(rsa.get(), jws_algorithm::rs256, "rsa1", current), keys, live) == current);
    }

    SUBCASE("algorithms outside the allow-list") {
        const std::string body = base64url_encode(claims.dump());
        CHECK(verify_code(base64url_encode(R"({"alg":"none"})") + "." + body + ".", expected) ==
              oidc_errc::unsupported_algorithm);
        CHECK(verify_code(base64url_encode(R"({"alg":"HS256","kid":"rsa1"})") + "." + body + "." +
                              base64url_encode(std::string(32, 'k')),
                          expected) == oidc_errc::unsupported_algorithm);
        jwt_expectations permissive = expected;
        permissive.allowed_algorithms = {"none", "HS256", "RS256"};
        CHECK(verify_code(base64url_encode(R"({"alg":"none"})") + "." + body + ".", permissive) ==
              oidc_errc::unsupported_algorithm);
        CHECK(verify_code(base64url_encode(R"({"alg":"HS256"})") + "." + body + ".AAAA", permissive) ==
              oidc_errc::unsupported_algorithm);
        jwt_expectations rsa_only = expected;
        rsa_only.allowed_algorithms = {"RS256"};
        CHECK(verify_code(sign(ec.native_handle(), jws_algorithm::es256, "ec1", claims), rsa_only) ==
              oidc_errc::unsupported_algorithm);
        CHECK(verify_code(base64url_encode(R"({"alg":"ES512"})") + "." + body + ".AAAA", expected) ==
              oidc_errc::unsupported_algorithm);
    }

    SUBCASE("an algorithm that does not fit the named key") {
        // Signed with RSA, but the header names the EC key.
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "ec1", claims), expected) == oidc_errc::invalid_token);
        CHECK(verify_code(sign(ec.native_handle(), jws_algorithm::es256, "rsa1", claims), expected) ==
              oidc_errc::invalid_token);
        // A JWK whose own alg is RS256 does not verify PS256.
        json pinned = rsa_jwk(rsa.get(), "pinned");
        pinned["alg"] = "RS256";
        const auto pinned_set = jwks::parse(json{{"keys", {pinned}}});
        CHECK(code_of([&] {
                  (void)verify_jwt(sign(rsa.get(), jws_algorithm::ps256, "pinned", claims), pinned_set, expected);
              }) == oidc_errc::invalid_token);
        CHECK(verify_jwt(sign(rsa.get(), jws_algorithm::rs256, "pinned", claims), pinned_set, expected) == claims);
    }

    SUBCASE("bad signatures") {
        const auto token = sign(rsa.get(), jws_algorithm::rs256, "rsa1", claims);
        const auto last_dot = token.rfind('.');
        auto signature = *base64url_decode(token.substr(last_dot + 1));
        signature[17] = static_cast<char>(signature[17] ^ 0x40);
        std::string message;
        CHECK(
            code_of(
                [&] { (void)verify_jwt(token.substr(0, last_dot + 1) + base64url_encode(signature), keys, expected); },
                &message) == oidc_errc::invalid_token);
        CHECK(message.find(token.substr(0, 20)) == std::string::npos);
        // Another key of the same family with the same kid.
        const auto impostor = generate("RSA", 2048);
        CHECK(verify_code(sign(impostor.get(), jws_algorithm::rs256, "rsa1", claims), expected) ==
              oidc_errc::invalid_token);
        // A payload swapped under a valid signature.
        json other = claims;
        other["sub"] = "https://evil.example/me";
        const auto first_dot = token.find('.');
        CHECK(verify_code(token.substr(0, first_dot + 1) + base64url_encode(other.dump()) + token.substr(last_dot),
                          expected) == oidc_errc::invalid_token);
        // ES256 with a DER signature instead of R||S.
        const auto es = sign(ec.native_handle(), jws_algorithm::es256, "ec1", claims);
        CHECK(verify_code(es + "AA", expected) == oidc_errc::invalid_token);
    }

    SUBCASE("issuer and audience") {
        json wrong = claims;
        wrong["iss"] = "https://idp.example";
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "rsa1", wrong), expected) ==
              oidc_errc::issuer_mismatch);
        wrong = claims;
        wrong.erase("iss");
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "rsa1", wrong), expected) ==
              oidc_errc::issuer_mismatch);
        wrong = claims;
        wrong["aud"] = "client-2";
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "rsa1", wrong), expected) ==
              oidc_errc::audience_mismatch);
        wrong["aud"] = json::array({"client-2", "client-3"});
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "rsa1", wrong), expected) ==
              oidc_errc::audience_mismatch);
        wrong.erase("aud");
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "rsa1", wrong), expected) ==
              oidc_errc::audience_mismatch);
        json in_array = claims;
        in_array["aud"] = json::array({"solid", "client-1"});
        CHECK(verify_jwt(sign(rsa.get(), jws_algorithm::rs256, "rsa1", in_array), keys, expected) == in_array);
    }

    SUBCASE("time claims with a clock skew") {
        auto with = [&](const char* name, json value) {
            json body = claims;
            if (value.is_null())
                body.erase(name);
            else
                body[name] = std::move(value);
            return sign(rsa.get(), jws_algorithm::rs256, "rsa1", body);
        };
        const long long now = 1'700'000'000;
        CHECK(verify_code(with("exp", now - 30), expected) == std::error_code()); // within the 60 s skew
        CHECK(verify_code(with("exp", now - 61), expected) == oidc_errc::token_expired);
        CHECK(verify_code(with("exp", now - 60), expected) == oidc_errc::token_expired);
        CHECK(verify_code(with("exp", nullptr), expected) == oidc_errc::invalid_token);
        CHECK(verify_code(with("exp", "soon"), expected) == oidc_errc::invalid_token);
        CHECK(verify_code(with("nbf", now + 30), expected) == std::error_code());
        CHECK(verify_code(with("nbf", now + 61), expected) == oidc_errc::token_not_yet_valid);
        CHECK(verify_code(with("iat", now + 120), expected) == oidc_errc::token_not_yet_valid);
        jwt_expectations strict = expected;
        strict.clock_skew = seconds{0};
        CHECK(verify_code(with("exp", now - 30), strict) == oidc_errc::token_expired);
        CHECK(verify_code(with("exp", now + 0.5), strict) == std::error_code());
    }

    SUBCASE("unknown keys") {
        CHECK(verify_code(sign(rsa.get(), jws_algorithm::rs256, "rotated", claims), expected) ==
              oidc_errc::unknown_key);
        const auto ec_only = jwks::parse(json{{"keys", {ec_jwk(ec.native_handle(), "ec1")}}});
        CHECK(code_of([&] {
                  (void)verify_jwt(sign(rsa.get(), jws_algorithm::rs256, "", claims), ec_only, expected);
              }) == oidc_errc::unknown_key);
        CHECK(code_of([&] {
                  (void)verify_jwt(sign(rsa.get(), jws_algorithm::rs256, "rsa1", claims), jwks(), expected);
              }) == oidc_errc::unknown_key);
    }

    SUBCASE("malformed compact forms") {
        const auto token = sign(rsa.get(), jws_algorithm::rs256, "rsa1", claims);
        const auto first_dot = token.find('.');
        const auto last_dot = token.rfind('.');
        const std::string header = token.substr(0, first_dot);
        const std::string body = token.substr(first_dot + 1, last_dot - first_dot - 1);
        const std::string signature = token.substr(last_dot + 1);
        for (const std::string& bad : {
                 header + "." + body, // 2 parts
                 token + ".x",        // 4 parts
                 std::string(""),
                 std::string(".."),
                 "!!!" + header + "." + body + "." + signature,                   // bad base64
                 header + "." + body + "=x." + signature,                         // bad base64
                 header + "." + body + "." + signature + "*",                     // bad base64 signature
                 base64url_encode("[1]") + "." + body + "." + signature,          // header not an object
                 header + "." + base64url_encode("42") + "." + signature,         // payload not an object
                 header + "." + base64url_encode("{\"a\":") + "." + signature,    // payload not JSON
                 base64url_encode(R"({"alg":7})") + "." + body + "." + signature, // alg not a string
                 base64url_encode(R"({"alg":"RS256","kid":1})") + "." + body + "." + signature,
                 base64url_encode(R"({"alg":"RS256","kid":"rsa1","crit":["b64"]})") + "." + body + "." + signature,
             }) {
            std::string message;
            CHECK_MESSAGE(code_of([&] { (void)verify_jwt(bad, keys, expected); }, &message) == oidc_errc::invalid_token,
                          bad);
            CHECK(message.find(body) == std::string::npos);
        }
    }
}

TEST_CASE("JWKS parsing skips keys it cannot use") {
    const auto good = dpop_key::generate();
    const json document = {
        {"keys",
         {json{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}},
          json{{"kty", "EC"}, {"crv", "P-521"}, {"kid", "big"}, {"x", "AA"}, {"y", "AA"}},
          json{{"kty", "RSA"}, {"kid", "broken"}, {"n", "AQAB"}, {"e", "AQAB"}},
          json{{"kty", "EC"}, {"use", "enc"}, {"kid", "enc"}, {"crv", "P-256"}, {"x", stored_x}, {"y", stored_y}},
          json("not a key"), ec_jwk(good.native_handle(), "good")}}};
    const auto keys = jwks::parse(document);
    CHECK(keys.keys().size() == 1);
    CHECK(keys.skipped() == 5);
    CHECK(keys.find("good").size() == 1);
    CHECK(keys.find("hmac").empty());

    jwt_expectations expected{"https://idp.example/", "client-1", fixed_now};
    const json claims = {{"iss", "https://idp.example/"}, {"aud", "client-1"}, {"exp", 1'700'000'100}};
    const auto token = sign_compact_jws(json{{"kid", "good"}}, claims, good.native_handle(), jws_algorithm::es256);
    CHECK(verify_jwt(token, keys, expected) == claims);

    CHECK(jwks::parse(std::string_view(R"({"keys":[]})")).keys().empty());
    for (const char* bad : {"[]", "{}", R"({"keys":{}})", "{\"keys\":", "null"})
        CHECK_MESSAGE(code_of([&] { (void)jwks::parse(std::string_view(bad)); }) == oidc_errc::malformed_response, bad);
}

TEST_CASE("WebID from claims") {
    CHECK(webid_from_claims(json{{"webid", "https://pod.example/profile#me"}, {"sub", "abc"}}) ==
          "https://pod.example/profile#me");
    CHECK(webid_from_claims(json{{"sub", "https://pod.example/profile#me"}}) == "https://pod.example/profile#me");
    // The scheme is case-insensitive: one identity, one spelling (its normal form, lower case).
    // The rest is kept as the provider wrote it.
    CHECK(webid_from_claims(json{{"sub", "HTTP://pod.example/me"}}) == "http://pod.example/me");
    CHECK(webid_from_claims(json{{"webid", "httPs://Pod.example/Me#I"}}) == "https://Pod.example/Me#I");
    CHECK(webid_from_claims(json{{"webid", "not a url"}, {"sub", "http://pod.example/me"}}) == "http://pod.example/me");
    CHECK(webid_from_claims(json{{"webid", 7}, {"sub", "https://pod.example/me"}}) == "https://pod.example/me");
    for (const json& claims : {json{{"sub", "user-123"}}, json{{"sub", "urn:uuid:1"}}, json{{"sub", "https://"}},
                               json{{"webid", "ftp://pod.example/me"}}, json{{"sub", "https:///path"}},
                               json{{"sub", "https://pod.example/a b"}}, json::object(), json::array()})
        CHECK_MESSAGE(code_of([&] { (void)webid_from_claims(claims); }) == oidc_errc::missing_webid, claims.dump());
}

TEST_CASE("hostile inputs only ever raise multisession::error") {
    const auto key = dpop_key::generate();
    const auto keys = jwks::parse(json{{"keys", {ec_jwk(key.native_handle(), "k")}}});
    const jwt_expectations expected{"https://idp.example/", "client-1", fixed_now};
    const std::string token = sign_compact_jws(
        json{{"kid", "k"}}, json{{"iss", "https://idp.example/"}, {"aud", "client-1"}, {"exp", 1'700'000'100}},
        key.native_handle(), jws_algorithm::es256);
    const std::string jwk_text = key.private_jwk_json();
    const std::string jwks_text = R"({"keys":[)" + key.public_jwk_json() + "]}";
    // A deterministic generator: failures reproduce.
    std::uint32_t state = 12345;
    auto next = [&] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    auto mutate = [&](std::string text) {
        const auto edits = 1 + next() % 4;
        for (std::uint32_t i = 0; i < edits && !text.empty(); ++i) {
            const auto at = next() % text.size();
            switch (next() % 3) {
            case 0:
                text[at] = static_cast<char>(next() & 0xff);
                break;
            case 1:
                text.erase(at, 1 + next() % 8);
                break;
            default:
                text.insert(at, 1, ".=\"{}[]0A-_"[next() % 11]);
                break;
            }
        }
        return text;
    };
    for (int round = 0; round < 3000; ++round) {
        const auto bad_token = mutate(token);
        (void)code_of([&] { (void)verify_jwt(bad_token, keys, expected); });
        const auto bad_jwk = mutate(jwk_text);
        (void)code_of([&] { (void)dpop_key::from_private_jwk(bad_jwk); });
        const auto bad_jwks = mutate(jwks_text);
        (void)code_of([&] { (void)jwks::parse(std::string_view(bad_jwks)); });
        if (const auto decoded = base64url_decode(bad_token.substr(0, bad_token.find('.'))))
            (void)code_of([&] { (void)webid_from_claims(json::parse(*decoded, nullptr, false)); });
    }
}
