// base64url (RFC 4648 section 5), the encoding of every JOSE part: no padding on output, strict
// on input, because a decoder that forgives garbage makes two different strings mean one token.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace multisession::oidc {

/// `bytes` in base64url without '=' padding. Never throws except std::bad_alloc.
std::string base64url_encode(std::string_view bytes);

/// The bytes `text` encodes, or nullopt when it is not canonical base64url: a character outside
/// [A-Za-z0-9_-], a length of 4n+1, '=' anywhere but as the correct trailing padding, or non-zero
/// unused bits in the last character. Padding may be omitted. Never throws except std::bad_alloc.
/// A caller decoding secret material owns (and should cleanse) the result.
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace multisession::oidc
