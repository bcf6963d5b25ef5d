// One line of an export file, as `multisession import` reads it.
#include "cli_import_line.hpp"

#include "cli_args.hpp"
#include "cli_context.hpp"
#include "cli_output.hpp"

#include "oidc/wire_json.hpp"

#include <multisession/storage.hpp>

#include <nlohmann/json.hpp>

namespace multisession::cli {

std::optional<import_entry> parse_import_line(const std::string& line, std::size_t number, bool sealing) {
    const auto where = "line " + std::to_string(number) + ": ";
    if (line.find_first_not_of(" \t") == std::string::npos) return std::nullopt;
    // The library's reader, which refuses a member named twice (which one would win is a guess).
    // Only a line it refuses is read again, to say why.
    const auto parsed = oidc::detail::try_parse_json_object(line);
    if (!parsed) {
        const auto doc = nlohmann::json::parse(line, nullptr, false);
        if (doc.is_discarded()) throw command_error(exit_bad_input, where + "not valid JSON");
        if (!doc.is_object()) throw command_error(exit_bad_input, where + "not a JSON object");
        throw command_error(exit_bad_input, where + "a member is named twice, or the object is nested too deeply");
    }
    const auto& doc = *parsed;
    auto field = [&](const char* plain, const char* encoded) {
        const bool has_plain = doc.contains(plain), has_encoded = doc.contains(encoded);
        if (has_plain == has_encoded)
            throw command_error(exit_bad_input,
                                where + "needs exactly one of \"" + plain + "\" and \"" + encoded + "\"");
        const auto& v = doc.at(has_plain ? plain : encoded);
        if (!v.is_string())
            throw command_error(exit_bad_input, where + "\"" + (has_plain ? plain : encoded) + "\" is not a string");
        if (has_plain) return v.get<std::string>();
        auto bytes = base64_decode(v.get_ref<const std::string&>());
        if (!bytes) throw command_error(exit_bad_input, where + "\"" + encoded + "\" is not base64");
        return std::move(*bytes);
    };
    for (const auto& [name, value] : doc.items()) {
        if (name != "key" && name != "key_base64" && name != "value" && name != "value_base64")
            throw command_error(exit_bad_input, where + "unknown member \"" + printable(name, 40) + "\"");
    }
    import_entry entry{field("key", "key_base64"), field("value", "value_base64")};
    if (entry.key.empty() || entry.key.size() > storage::max_key_size)
        throw command_error(exit_bad_input, where + "the key is empty or longer than 65536 bytes");
    if (sealing && looks_sealed(entry.value))
        throw command_error(exit_bad_input,
                            where + "the value is already sealed (a --raw export): import it without --keys");
    return entry;
}


} // namespace multisession::cli
