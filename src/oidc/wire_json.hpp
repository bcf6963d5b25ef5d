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
/// than max_json_depth, or is not an object. Duplicate member names: the last one wins (nlohmann's
/// behaviour; harmless here, as no decision depends on which duplicate is seen). Never throws
/// except std::bad_alloc.
std::optional<nlohmann::json> try_parse_json_object(std::string_view body);

/// Like try_parse_json_object, but throws error(oidc_errc::malformed_response, "<what>: ...").
nlohmann::json parse_json_object(std::string_view body, std::string_view what);

} // namespace multisession::oidc::detail
