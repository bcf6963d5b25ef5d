#include "session/session_record.hpp"

#include "core/printable.hpp"
#include "core/utf8.hpp"
#include "oidc/jose_openssl.hpp"
#include "oidc/wire_json.hpp"

#include <multisession/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <system_error>

namespace multisession::session_detail {
namespace {

using json = nlohmann::json;

constexpr std::size_t max_session_id_bytes = 1024;
/// A record is about 1 KB; with 64 KiB of application data (JSON-escaped) it stays well under
/// this. A larger stored value is refused before it is parsed.
constexpr std::size_t max_record_bytes = 1024 * 1024;
/// How much of an id goes into a message: enough to recognise it, short enough for one log line.
constexpr std::size_t id_in_message = 64;

/// The last second of the year 9999. Real times are far below; anything beyond is garbage that
/// would overflow later arithmetic (seconds to milliseconds, adding a TTL).
constexpr std::int64_t max_seconds = 253'402'300'799;
constexpr std::int64_t max_milliseconds = max_seconds * 1000 + 999;

/// Every member name this file reads, in both spellings: other_fields never holds them, so a
/// serialized record never carries a second copy that a reader could prefer.
constexpr auto known_names = std::to_array<std::string_view>({
    "issuer",
    "clientId",
    "clientAppId",
    "clientSecret",
    "clientAppSecret",
    "clientType",
    "clientName",
    "idTokenSignedResponseAlg",
    "expiresAt",
    "expirationDate",
    "refreshToken",
    "dpop",
    "keepAlive",
    "redirectUrl",
    "codeVerifier",
    "webId",
    "isLoggedIn",
    "publicKey",
    "privateKey",
    "multisessionCreatedAt",
    "multisessionUpdatedAt",
    "multisessionExpiresAt",
    "multisessionGrant",
    "multisessionData",
    "multisessionScope",
});

bool is_known_name(std::string_view name) noexcept {
    return std::find(known_names.begin(), known_names.end(), name) != known_names.end();
}

using detail::check_text;
using detail::is_utf8;
using detail::text_problem;


std::string quoted_id(std::string_view session_id) {
    return "session '" + detail::printable(session_id, id_in_message) + "'";
}

/// Reads the members of one parsed record; every failure names the session and the member.
class record_reader {
public:
    record_reader(std::string_view session_id, const json& object) : session_id_(session_id), object_(object) {}

    [[noreturn]] void corrupt(std::string_view name, std::string_view why) const {
        throw error(storage_errc::corrupt_record,
                    quoted_id(session_id_) + ": field '" + std::string(name) + "' " + std::string(why));
    }

    /// The member `name`, or nullptr when it is absent or null.
    const json* find(std::string_view name) const {
        const auto it = object_.find(name);
        if (it == object_.end() || it->is_null()) return nullptr;
        return &*it;
    }

    std::optional<std::string> text(std::string_view name) const {
        const json* value = find(name);
        if (value == nullptr) return std::nullopt;
        if (!value->is_string()) corrupt(name, "is not a string");
        return value->get<std::string>();
    }

    /// `name`, else `alternate`: the alternate spelling is only looked at when the canonical one
    /// is absent, so a stale or odd copy under the other name cannot make a good record corrupt.
    std::optional<std::string> text(std::string_view name, std::string_view alternate) const {
        if (find(name) != nullptr) return text(name);
        return text(alternate);
    }

    /// "true" / "false" strings or JSON booleans; absent is false. Inrupt compares with "true",
    /// so any other string is false there too.
    bool flag(std::string_view name) const {
        const json* value = find(name);
        if (value == nullptr) return false;
        if (value->is_boolean()) return value->get<bool>();
        if (value->is_string()) return value->get_ref<const std::string&>() == "true";
        corrupt(name, "is not a boolean");
    }

    /// A string kept as written; a JSON boolean becomes "true" / "false".
    std::optional<std::string> text_or_flag(std::string_view name) const {
        const json* value = find(name);
        if (value != nullptr && value->is_boolean()) return value->get<bool>() ? "true" : "false";
        return text(name);
    }

    /// A non-negative integer up to `max`, from a JSON integer or a string of decimal digits.
    std::optional<std::int64_t> integer(std::string_view name, std::int64_t max, std::string_view unit) const {
        const json* value = find(name);
        if (value == nullptr) return std::nullopt;
        const std::string why = "is not a time in " + std::string(unit) + " since the epoch";
        std::int64_t number = -1;
        if (value->is_number_unsigned()) {
            const auto raw = value->get<std::uint64_t>();
            if (raw > static_cast<std::uint64_t>(max)) corrupt(name, why);
            number = static_cast<std::int64_t>(raw);
        } else if (value->is_number_integer()) {
            number = value->get<std::int64_t>();
        } else if (value->is_string()) {
            const auto& digits = value->get_ref<const std::string&>();
            // from_chars alone would accept a minus sign ("-0" would pass); Inrupt writes digits only.
            if (digits.empty() || digits.front() < '0' || digits.front() > '9') corrupt(name, why);
            const auto end = digits.data() + digits.size();
            const auto [stop, ec] = std::from_chars(digits.data(), end, number);
            if (ec != std::errc{} || stop != end) corrupt(name, why);
        } else {
            corrupt(name, why);
        }
        if (number < 0 || number > max) corrupt(name, why);
        return number;
    }

    std::optional<std::int64_t> milliseconds(std::string_view name) const {
        return integer(name, max_milliseconds, "milliseconds");
    }

    /// "expiresAt" in seconds. ("expirationDate" is not the client's expiry: Inrupt's
    /// SessionInfoManager writes the access token's expiry there, in milliseconds.)
    std::optional<std::int64_t> client_expiry() const {
        const json* value = find("expiresAt");
        if (!value) return std::nullopt;
        // Inrupt stores String(client_secret_expires_at) unchecked: a provider that omits the
        // member leaves "undefined", which Inrupt parses to NaN and treats as never expiring.
        if (value->is_string()) {
            const auto& raw = value->get_ref<const std::string&>();
            if (raw == "undefined" || raw == "NaN") return 0;
        }
        return integer("expiresAt", max_seconds, "seconds");
    }

private:
    std::string_view session_id_;
    const json& object_;
};

/// Throws unless `text` is valid UTF-8: a JSON string cannot carry anything else, and the JSON
/// writer would refuse it with its own exception type. The message names the field (`part` says
/// which part of it), never the text.
void require_utf8(std::string_view field, std::string_view text, std::string_view part = "field") {
    if (is_utf8(text)) return;
    throw error(storage_errc::corrupt_record, "session record: " + std::string(part) + " '" +
                                                  detail::printable(field, id_in_message) + "' is not valid UTF-8");
}

/// Parses `text` as any JSON value with the same depth bound as records: values nested deeper are
/// discarded while parsing (the parser itself is iterative), and their presence fails the parse.
std::optional<json> try_parse_bounded(std::string_view text) {
    bool too_deep = false;
    const json::parser_callback_t limit = [&too_deep](int depth, json::parse_event_t, json&) {
        if (depth > oidc::detail::max_json_depth) {
            too_deep = true;
            return false;
        }
        return true;
    };
    try {
        json value = json::parse(text.begin(), text.end(), limit, /*allow_exceptions=*/false);
        if (too_deep || value.is_discarded()) return std::nullopt;
        return value;
    } catch (const json::exception&) {
        return std::nullopt;
    }
}

std::string dump_index(const std::vector<std::string>& ids) {
    json array = json::array();
    for (const auto& id : ids)
        array.push_back(id);
    return array.dump();
}

} // namespace

std::string record_key(std::string_view session_id) {
    std::string key(record_prefix);
    key += session_id;
    return key;
}

std::string webid_entry_prefix(std::string_view webid) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string key(webid_prefix);
    for (const unsigned char c : oidc::detail::sha256(webid)) {
        key += hex[c >> 4];
        key += hex[c & 0xf];
    }
    key += ':';
    return key;
}

std::string webid_entry_key(std::string_view webid, std::string_view session_id) {
    auto key = webid_entry_prefix(webid);
    key += session_id;
    return key;
}

std::string lease_key(std::string_view session_id) {
    std::string key(lease_prefix);
    key += session_id;
    return key;
}

std::optional<std::string_view> session_id_of_key(std::string_view key) noexcept {
    if (!key.starts_with(record_prefix)) return std::nullopt;
    key.remove_prefix(record_prefix.size());
    return key;
}

void check_session_id(std::string_view session_id) {
    if (session_id.empty()) throw error(storage_errc::invalid_key, "session id is empty");
    if (session_id.size() > max_session_id_bytes)
        throw error(storage_errc::invalid_key, "session id '" + detail::printable(session_id, id_in_message) + "' is " +
                                                   std::to_string(session_id.size()) + " bytes long, more than " +
                                                   std::to_string(max_session_id_bytes));
    switch (check_text(session_id)) {
    case text_problem::none:
        return;
    case text_problem::invalid_utf8:
        throw error(storage_errc::invalid_key, "session id is not valid UTF-8");
    case text_problem::control_character:
        throw error(storage_errc::invalid_key, "session id contains a control character");
    }
}

session_record parse_session_record(std::string_view session_id, std::string_view text) {
    if (text.size() > max_record_bytes)
        throw error(storage_errc::corrupt_record, quoted_id(session_id) + ": record of " + std::to_string(text.size()) +
                                                      " bytes, more than a record can be (" +
                                                      std::to_string(max_record_bytes) + ")");
    const auto parsed = oidc::detail::try_parse_json_object(text);
    if (!parsed) throw error(storage_errc::corrupt_record, quoted_id(session_id) + ": record is not a JSON object");
    const record_reader in(session_id, *parsed);

    session_record record;
    record.issuer = in.text("issuer");
    record.client_id = in.text("clientId", "clientAppId");
    record.client_secret = in.text("clientSecret", "clientAppSecret");
    record.client_type = in.text("clientType");
    record.client_name = in.text("clientName");
    record.id_token_signed_response_alg = in.text("idTokenSignedResponseAlg");
    record.client_expires_at = in.client_expiry();
    record.refresh_token = in.text("refreshToken");
    record.dpop = in.flag("dpop");
    record.keep_alive = in.text_or_flag("keepAlive");
    record.redirect_url = in.text("redirectUrl");
    record.code_verifier = in.text("codeVerifier");
    record.webid = in.text("webId");
    record.is_logged_in = in.flag("isLoggedIn");
    record.public_key = in.text("publicKey");
    record.private_key = in.text("privateKey");
    record.created_at = in.milliseconds("multisessionCreatedAt");
    record.updated_at = in.milliseconds("multisessionUpdatedAt");
    record.access_token_expires_at = in.milliseconds("expirationDate");
    record.expires_at = in.milliseconds("multisessionExpiresAt");
    record.grant = in.text("multisessionGrant");
    record.data = in.text("multisessionData");
    record.scope = in.text("multisessionScope");

    for (const auto& [name, value] : parsed->items()) {
        if (value.is_string() && !is_known_name(name)) record.other_fields.emplace(name, value.get<std::string>());
    }
    return record;
}

std::string serialize_session_record(const session_record& record) {
    // Insertion order is kept, so the text reads like the records Inrupt writes (client first,
    // then the login state, then the tokens and keys).
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    const auto put = [&out](std::string_view name, const auto& value) {
        if (!value) return;
        const std::string_view text(*value);
        require_utf8(name, text);
        out[std::string(name)] = std::string(text);
    };
    const auto put_number = [&out](std::string_view name, const std::optional<std::int64_t>& value) {
        if (value) out[std::string(name)] = std::to_string(*value);
    };

    put("issuer", record.issuer);
    put("clientId", record.client_id);
    put("clientSecret", record.client_secret);
    put("clientType", record.client_type);
    put("clientName", record.client_name);
    put("idTokenSignedResponseAlg", record.id_token_signed_response_alg);
    put_number("expiresAt", record.client_expires_at);
    put("redirectUrl", record.redirect_url);
    put("codeVerifier", record.code_verifier);
    out["dpop"] = record.dpop ? "true" : "false";
    put("keepAlive", record.keep_alive);
    put("refreshToken", record.refresh_token);
    put("webId", record.webid);
    out["isLoggedIn"] = record.is_logged_in ? "true" : "false";
    put("publicKey", record.public_key);
    put("privateKey", record.private_key);
    put_number("multisessionCreatedAt", record.created_at);
    put_number("multisessionUpdatedAt", record.updated_at);
    put_number("expirationDate", record.access_token_expires_at);
    put_number("multisessionExpiresAt", record.expires_at);
    put("multisessionGrant", record.grant);
    put("multisessionScope", record.scope);
    put("multisessionData", record.data);
    for (const auto& [name, value] : record.other_fields) {
        if (is_known_name(name)) continue;
        require_utf8(name, name, "the name of field");
        require_utf8(name, value);
        out[name] = value;
    }
    return out.dump();
}

std::optional<std::string> state_record_session_id(std::string_view text) {
    const auto parsed = oidc::detail::try_parse_json_object(text);
    if (!parsed) return std::nullopt;
    const auto it = parsed->find("sessionId");
    if (it == parsed->end() || !it->is_string()) return std::nullopt;
    auto id = it->get<std::string>();
    if (id.empty()) return std::nullopt;
    return id;
}

std::vector<std::string> parse_session_index(const std::optional<std::string>& text) {
    if (!text) return {};
    const auto parsed = try_parse_bounded(*text);
    if (!parsed || !parsed->is_array())
        throw error(storage_errc::corrupt_record,
                    "'" + std::string(registered_sessions_key) + "': index is not a JSON array");
    std::vector<std::string> ids;
    ids.reserve(parsed->size());
    for (const auto& element : *parsed) {
        if (element.is_string()) ids.push_back(element.get<std::string>());
    }
    return ids;
}

std::string index_with(const std::optional<std::string>& text, std::string_view id) {
    if (!is_utf8(id)) throw error(storage_errc::invalid_key, "session id is not valid UTF-8");
    auto ids = parse_session_index(text);
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.emplace_back(id);
    return dump_index(ids);
}

std::string index_without(const std::optional<std::string>& text, std::string_view id) {
    auto ids = parse_session_index(text);
    std::erase(ids, id);
    return dump_index(ids);
}

} // namespace multisession::session_detail
