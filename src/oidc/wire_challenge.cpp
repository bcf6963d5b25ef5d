#include "oidc/wire_challenge.hpp"

#include "oidc/wire_text.hpp"
#include "oidc/wire_token.hpp"

#include <multisession/error.hpp>

namespace multisession::oidc {
namespace {

/// tchar of RFC 9110 section 5.6.2.
bool is_tchar(char c) noexcept {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

bool is_token68_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/';
}

class challenge_parser {
public:
    explicit challenge_parser(std::string_view text) : text_(text) {}

    std::vector<auth_challenge> parse() {
        std::vector<auth_challenge> out;
        skip_list_separators();
        while (!at_end()) {
            auth_challenge challenge;
            challenge.scheme = token();
            if (challenge.scheme.empty()) fail();
            const bool had_space = skip_ws();
            if (!at_end() && peek() != ',') {
                if (!had_space) fail();
                if (!try_token68(challenge)) params(challenge);
            }
            out.push_back(std::move(challenge));
            skip_list_separators();
        }
        return out;
    }

private:
    [[noreturn]] static void fail() {
        throw error(oidc_errc::malformed_response, "WWW-Authenticate header does not parse");
    }
    bool at_end() const noexcept { return pos_ >= text_.size(); }
    char peek() const noexcept { return text_[pos_]; }

    bool skip_ws() noexcept {
        const auto start = pos_;
        while (!at_end() && (peek() == ' ' || peek() == '\t')) ++pos_;
        return pos_ != start;
    }
    void skip_list_separators() noexcept {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == ',')) ++pos_;
    }
    std::string token() {
        const auto start = pos_;
        while (!at_end() && is_tchar(peek())) ++pos_;
        return std::string(text_.substr(start, pos_ - start));
    }

    /// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=", then end or ','.
    bool try_token68(auth_challenge& challenge) {
        auto p = pos_;
        while (p < text_.size() && is_token68_char(text_[p])) ++p;
        if (p == pos_) return false;
        while (p < text_.size() && text_[p] == '=') ++p;
        auto q = p;
        while (q < text_.size() && (text_[q] == ' ' || text_[q] == '\t')) ++q;
        if (q < text_.size() && text_[q] != ',') return false;
        challenge.token68 = std::string(text_.substr(pos_, p - pos_));
        pos_ = q;
        return true;
    }

    /// #auth-param: stops before a ',' that is followed by a new scheme (a token not followed by '=').
    void params(auth_challenge& challenge) {
        for (;;) {
            auto name = token();
            if (name.empty()) fail();
            skip_ws();
            if (at_end() || peek() != '=') fail();
            ++pos_;
            skip_ws();
            if (at_end()) fail();
            std::string value;
            if (peek() == '"') {
                value = quoted_string();
            } else {
                value = token();
                if (value.empty()) fail();
            }
            challenge.params.emplace_back(detail::ascii_lower(name), std::move(value));
            skip_ws();
            if (at_end()) return;
            if (peek() != ',') fail();
            // Look past the commas: another auth-param continues this challenge, a bare token
            // starts the next one.
            auto p = pos_;
            while (p < text_.size() && (text_[p] == ',' || text_[p] == ' ' || text_[p] == '\t')) ++p;
            if (p == text_.size()) {
                pos_ = p;
                return;
            }
            auto q = p;
            while (q < text_.size() && is_tchar(text_[q])) ++q;
            while (q < text_.size() && (text_[q] == ' ' || text_[q] == '\t')) ++q;
            if (q >= text_.size() || text_[q] != '=') return; // next challenge
            pos_ = p;
        }
    }

    std::string quoted_string() {
        ++pos_; // opening quote
        std::string out;
        while (!at_end()) {
            const char c = peek();
            ++pos_;
            if (c == '"') return out;
            if (c == '\\') {
                if (at_end()) fail();
                out += peek();
                ++pos_;
            } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
                fail();
            } else if (c == 0x7f) {
                fail();
            } else {
                out += c;
            }
        }
        fail(); // unterminated
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

} // namespace

std::vector<auth_challenge> parse_www_authenticate(std::string_view value) { return challenge_parser(value).parse(); }

std::vector<auth_challenge> challenges_of(const http::response& response) {
    std::vector<auth_challenge> out;
    for (const auto& h : response.headers) {
        if (!http::header_name_equals(h.name, "WWW-Authenticate")) continue;
        try {
            for (auto& challenge : parse_www_authenticate(h.value)) out.push_back(std::move(challenge));
        } catch (const error&) {
            // A malformed field cannot ask for anything; the others still count.
        }
    }
    return out;
}

bool needs_dpop_nonce(const http::response& response) {
    if (!dpop_nonce_of(response)) return false;
    if (response.status == 401) {
        for (const auto& challenge : challenges_of(response))
            if (detail::iequals(challenge.scheme, "DPoP") && challenge.param("error") == "use_dpop_nonce") return true;
        return false;
    }
    if (response.status == 400) {
        const auto details = parse_oauth_error(response);
        return details && details->error == "use_dpop_nonce";
    }
    return false;
}

} // namespace multisession::oidc
