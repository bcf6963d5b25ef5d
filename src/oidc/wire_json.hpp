// Parsing untrusted JSON bodies for the wire-format code: bounded depth, no exceptions other than
// multisession::error, never the body in a message.
#pragma once

#include <nlohmann/json.hpp>

#include <multisession/error.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace multisession::oidc::detail {

/// Nesting limit for provider documents; real ones nest 2-3 levels.
inline constexpr int max_json_depth = 32;

/// `body` parsed as a JSON object, or nullopt when it is not valid UTF-8 JSON, is nested deeper
/// than max_json_depth, is not an object, or has an object (at any depth) that names a member
/// twice: readers disagree on which duplicate counts (I-JSON, RFC 7493, forbids them; RFC 7515
/// lets a JWS parser reject them), so a record, response or token that has one is refused rather
/// than read one way here and another elsewhere. Never throws except std::bad_alloc.
std::optional<nlohmann::json> try_parse_json_object(std::string_view body);

/// Like try_parse_json_object, but throws error(oidc_errc::malformed_response, "<what>: ...").
nlohmann::json parse_json_object(std::string_view body, std::string_view what);

} // namespace multisession::oidc::detail
