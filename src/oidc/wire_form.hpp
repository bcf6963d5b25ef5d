// application/x-www-form-urlencoded bodies and the client_secret_basic credential (RFC 6749
// appendix B and section 2.3.1).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace multisession::oidc {

/// Form-encodes `text`: RFC 3986 unreserved bytes (ALPHA DIGIT - . _ ~) are kept, space becomes
/// '+', every other byte (UTF-8 bytes included) becomes %XX with upper-case hex. Pure.
std::string form_urlencode(std::string_view text);

/// The inverse of form_urlencode for one name or value: '+' becomes space, %XX (either hex case)
/// the byte it names, every other byte is kept. Throws multisession::error(http_errc::invalid_url)
/// on a truncated or non-hex %-escape; the message never quotes `text` (it may be a code or a
/// token). Pure.
std::string form_urldecode(std::string_view text);

/// "name=value&name=value" with both sides form-encoded, in the given order. Pure.
std::string form_body(const std::vector<std::pair<std::string_view, std::string_view>>& fields);

/// Standard base64 (RFC 4648 section 4) with '=' padding. Pure.
std::string base64_encode(std::string_view bytes);

/// The Authorization header value for client_secret_basic:
/// "Basic " base64(form_urlencode(client_id) ":" form_urlencode(client_secret)). A secret: never
/// log or put the result in a message. Pure.
std::string client_secret_basic_credential(std::string_view client_id, std::string_view client_secret);

} // namespace multisession::oidc
