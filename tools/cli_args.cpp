#include "cli_args.hpp"

#include <algorithm>
#include <charconv>

namespace multisession::cli {
namespace {

const option_spec* find_long(const std::vector<option_spec>& table, std::string_view name) {
    auto it = std::find_if(table.begin(), table.end(), [&](const option_spec& o) { return o.name == name; });
    return it == table.end() ? nullptr : &*it;
}

const option_spec* find_short(const std::vector<option_spec>& table, char name) {
    auto it = std::find_if(table.begin(), table.end(), [&](const option_spec& o) { return o.short_name == name; });
    return it == table.end() ? nullptr : &*it;
}

/// Option names are shown in messages; values never are (one could be a secret pasted by mistake).
std::string shown(std::string_view word) {
    std::string out;
    for (char c : word.substr(0, 40))
        out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (word.size() > 40) out += "...";
    return out;
}

} // namespace

std::optional<std::string> arguments::value(std::string_view name) const {
    if (auto it = values.find(name); it != values.end()) return it->second;
    return std::nullopt;
}

const std::vector<option_spec>& global_options() {
    static const std::vector<option_spec> table{
        {"store", true},       {"keys", true},       {"json", false},
        {"quiet", false, 'q'}, {"ca-file", true},    {"allow-insecure-loopback", false},
        {"timeout", true},     {"help", false, 'h'}, {"version", false},
    };
    return table;
}

arguments parse_arguments(const std::vector<std::string>& argv,
                          const std::vector<option_spec>* (*command_options)(std::string_view command)) {
    arguments out;
    const std::vector<option_spec>* own = nullptr;
    bool options_ended = false;

    auto record = [&](const option_spec& spec, std::optional<std::string> value) {
        const std::string name(spec.name);
        if (out.has(name)) throw usage_error("option --" + name + " given twice");
        if (spec.takes_value)
            out.values.emplace(name, std::move(*value));
        else
            out.flags.insert(name);
    };

    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& word = argv[i];
        const bool is_option = !options_ended && word.size() > 1 && word[0] == '-';
        if (!is_option) {
            if (out.command.empty()) {
                own = command_options(word);
                if (own == nullptr) throw usage_error("unknown command '" + shown(word) + "'");
                out.command = word;
            } else {
                out.positionals.push_back(word);
            }
            continue;
        }
        if (word == "--") {
            options_ended = true;
            continue;
        }
        const option_spec* spec = nullptr;
        std::optional<std::string> inline_value;
        if (word.rfind("--", 0) == 0) {
            std::string_view name = std::string_view(word).substr(2);
            if (auto eq = name.find('='); eq != std::string_view::npos) {
                inline_value = std::string(name.substr(eq + 1));
                name = name.substr(0, eq);
            }
            spec = find_long(global_options(), name);
            if (spec == nullptr && own != nullptr) spec = find_long(*own, name);
            if (spec == nullptr) throw usage_error("unknown option --" + shown(name));
        } else {
            if (word.size() != 2) throw usage_error("unknown option " + shown(word));
            spec = find_short(global_options(), word[1]);
            if (spec == nullptr && own != nullptr) spec = find_short(*own, word[1]);
            if (spec == nullptr) throw usage_error("unknown option " + shown(word));
        }
        if (!spec->takes_value) {
            if (inline_value) throw usage_error("option --" + std::string(spec->name) + " takes no value");
            record(*spec, std::nullopt);
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= argv.size()) throw usage_error("option --" + std::string(spec->name) + " needs a value");
            inline_value = argv[++i];
        }
        record(*spec, std::move(inline_value));
    }
    return out;
}

std::size_t parse_count(std::string_view option, std::string_view text, std::size_t max) {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > max)
        throw usage_error("option --" + std::string(option) + " needs a whole number from 1 to " + std::to_string(max));
    return n;
}

} // namespace multisession::cli
