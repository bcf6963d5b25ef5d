// URLs as providers name their endpoints (the transport's parser and the protocol's stricter one),
// base64url as every JOSE part carries it, and form encoding as token endpoints use it.
#include "fuzz_target.hpp"

#include "http/url.hpp"
#include "oidc/base64url.hpp"
#include "oidc/wire_form.hpp"
#include "oidc/wire_url.hpp"

#include <multisession/error.hpp>

using namespace multisession;
using multisession::fuzz::fuzz_check;

FUZZ_TARGET(url) {
    std::error_code ec;
    const auto transport = http::parse_url(input, ec);
    if (!ec) {
        fuzz_check(!transport.host.empty() && transport.port != 0, "a parsed URL has a host and port");
        fuzz_check(!transport.target.empty() && transport.target.find('#') == std::string::npos, "a target has no fragment");
    }

    try {
        const auto parts = oidc::parse_url(input);
        fuzz_check(parts.scheme == "http" || parts.scheme == "https", "an endpoint is http(s)");
        fuzz_check(!parts.path.empty() && parts.path[0] == '/', "a path starts with /");
        const auto origin = oidc::origin_of(input);
        fuzz_check(oidc::parse_url(origin).host == parts.host, "the origin names the same host");
        fuzz_check(input.starts_with(oidc::htu_of(input)), "htu is a prefix of the URL");
        (void)oidc::check_endpoint_url(input, true);
    } catch (const multisession::error& e) {
        fuzz_check(e.code().category() == http_category(), "a bad URL is an http error");
    }

    if (const auto bytes = oidc::base64url_decode(input)) {
        std::string_view unpadded = input;
        while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
        fuzz_check(oidc::base64url_encode(*bytes) == unpadded, "base64url has one spelling per value");
    }
    fuzz_check(oidc::base64url_decode(oidc::base64url_encode(input)) == std::string(input), "base64url round trip");

    fuzz_check(oidc::form_urldecode(oidc::form_urlencode(input)) == input, "form encoding round trip");
    try {
        (void)oidc::form_urldecode(input);
    } catch (const multisession::error& e) {
        fuzz_check(e.code() == http_errc::invalid_url, "a bad form escape is invalid_url");
    }
}
