#include "oidc/wire_json.hpp"

#include <cstddef>
#include <vector>

namespace multisession::oidc::detail {
namespace {

/// Depth of `{`/`[` nesting outside strings, stopping early past the limit. The parser itself is
/// iterative, but the values it builds are walked recursively by copies and comparisons; refusing
/// deep documents up front keeps every later step cheap and safe.
bool within_depth(std::string_view body) noexcept {
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : body) {
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_json_depth) return false;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return true;
}

} // namespace

std::optional<nlohmann::json> try_parse_json_object(std::string_view body) {
    if (!within_depth(body)) return std::nullopt;
    try {
        // Members named per object being read, innermost last. A duplicate overwrites its first
        // occurrence in the parsed object, so an object that ends with fewer members than names
        // read had one: no name is copied or compared here.
        std::vector<std::size_t> names_read;
        bool duplicate = false;
        const nlohmann::json::parser_callback_t note_names = [&](int, nlohmann::json::parse_event_t event,
                                                                  nlohmann::json& parsed) {
            using event_t = nlohmann::json::parse_event_t;
            if (event == event_t::object_start) {
                names_read.push_back(0);
            } else if (event == event_t::key && !names_read.empty()) {
                ++names_read.back();
            } else if (event == event_t::object_end && !names_read.empty()) {
                if (parsed.size() != names_read.back()) duplicate = true;
                names_read.pop_back();
            }
            return true;
        };
        auto value = nlohmann::json::parse(body.begin(), body.end(), note_names, /*allow_exceptions=*/false);
        if (duplicate || value.is_discarded() || !value.is_object()) return std::nullopt;
        return value;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

nlohmann::json parse_json_object(std::string_view body, std::string_view what) {
    auto value = try_parse_json_object(body);
    if (!value) throw error(oidc_errc::malformed_response, std::string(what) + ": body is not a JSON object");
    return std::move(*value);
}

} // namespace multisession::oidc::detail
