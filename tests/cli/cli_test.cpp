// The `multisession` command-line tool, run as a child process against real SQLite and file stores
// in temporary directories, with sessions minted by the embedded test issuer (plain HTTP on
// 127.0.0.1). Every run is checked for the seeded secrets: no refresh token, client secret or
// private key may appear on stdout or stderr, whatever the command and whether it fails.
#include "cli_runner.hpp"

#include "../support/session_seed.hpp"
#include "../support/temp_dir.hpp"
#include "../support/test_issuer.hpp"

#include "session/session_record.hpp"

#include <multisession/storage/encrypted.hpp>
#include <multisession/storage/open.hpp>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <cstdlib>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ms = multisession;
namespace sd = multisession::session_detail;
namespace test = multisession::test;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

/// Every entry of a store, keys to values.
std::map<std::string, std::string> entries_of(ms::storage& store, std::string_view prefix = {}) {
    std::map<std::string, std::string> out;
    store.for_each(prefix, [&](std::string_view key, std::string_view value) { out.emplace(key, value); });
    return out;
}

std::string file_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::filesystem::path& path, const std::string& text, mode_t mode = 0600) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

std::string base64(std::string_view bytes) {
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
        if (i + 1 < bytes.size()) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += i + 1 < bytes.size() ? alphabet[(n >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? alphabet[n & 63] : '=';
    }
    return out;
}

std::string unbase64(std::string_view text) {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::uint32_t buffer = 0;
    int bits = 0;
    for (char c : text) {
        if (c == '=') break;
        buffer = (buffer << 6) | static_cast<std::uint32_t>(alphabet.find(c));
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xffu);
        }
    }
    return out;
}

unsigned file_mode(const std::filesystem::path& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 0777;
}

/// A temporary directory, the embedded issuer, a SQLite store and the secrets seeded into it.
struct fixture {
    test::temp_dir dir;
    test::test_issuer issuer;
    test::cli_runner cli;
    std::string uri = "sqlite:" + (dir / "sessions.db").string();
    std::shared_ptr<ms::storage> store = ms::open_storage(uri);
    std::set<std::string> secrets;

    std::vector<std::string> seed(std::size_t n, const test::seed_options& options = {}) {
        return seed_into(*store, n, options);
    }

    std::vector<std::string> seed_into(ms::storage& target, std::size_t n, const test::seed_options& options = {}) {
        auto ids = test::seed_sessions(issuer, target, n, options);
        collect_secrets(target);
        return ids;
    }

    /// Remembers every secret of every record in `target`.
    void collect_secrets(ms::storage& target) {
        target.for_each(sd::record_prefix, [&](std::string_view key, std::string_view value) {
            const auto id = sd::session_id_of_key(key);
            sd::session_record r;
            try {
                r = sd::parse_session_record(*id, value);
            } catch (const ms::error&) {
                return;
            }
            for (const auto* secret : {&r.refresh_token, &r.client_secret, &r.code_verifier})
                if (*secret && (*secret)->size() >= 8) secrets.insert(**secret);
            if (r.private_key) {
                secrets.insert(*r.private_key);
                secrets.insert(json::parse(*r.private_key).at("d").get<std::string>());
            }
        });
    }

    /// Runs the tool and checks that no known secret reached its output.
    test::cli_result run(const std::vector<std::string>& args, const test::cli_run_options& options = {}) {
        auto result = cli.run(args, options);
        for (const auto& secret : secrets) {
            CHECK_MESSAGE(result.out.find(secret) == std::string::npos, "a secret on stdout of " << args.front());
            CHECK_MESSAGE(result.err.find(secret) == std::string::npos, "a secret on stderr of " << args.front());
        }
        return result;
    }

    sd::session_record record(const std::string& id) {
        auto text = store->get(sd::record_key(id));
        REQUIRE(text);
        return sd::parse_session_record(id, *text);
    }

    void put_record(const std::string& id, const sd::session_record& r) {
        store->set(sd::record_key(id), sd::serialize_session_record(r));
    }
};

/// Closes a descriptor at the end of its scope.
struct fd_closer {
    explicit fd_closer(int descriptor) : fd(descriptor) {}
    int fd;
    fd_closer(const fd_closer&) = delete;
    fd_closer& operator=(const fd_closer&) = delete;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
};

/// A usage error: exit 2 and exactly one line on stderr, nothing on stdout.
void check_usage_error(const test::cli_result& r) {
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.err.rfind("multisession: ", 0) == 0);
}

} // namespace

TEST_CASE("usage errors exit 2 with one line on stderr") {
    fixture f;
    check_usage_error(f.run({"--json"}));
    check_usage_error(f.run({"frobnicate"}));
    check_usage_error(f.run({"list"})); // no --store and no MULTISESSION_STORE
    check_usage_error(f.run({"list", "--store", f.uri, "--bogus"}));
    check_usage_error(f.run({"list", "--store", f.uri, "--store", f.uri}));
    check_usage_error(f.run({"list", "--store"}));
    check_usage_error(f.run({"list", "--store", f.uri, "extra"}));
    check_usage_error(f.run({"show", "--store", f.uri}));
    check_usage_error(f.run({"show", "--store", f.uri, "a", "b"}));
    check_usage_error(f.run({"refresh", "--store", f.uri}));
    check_usage_error(f.run({"refresh", "--store", f.uri, "--all", "session-0"}));
    check_usage_error(f.run({"refresh", "--store", f.uri, "--all", "--concurrency", "0"}));
    check_usage_error(f.run({"refresh", "--store", f.uri, "--all", "--timeout", "soon"}));
    check_usage_error(f.run({"clear", "--store", f.uri}));
    check_usage_error(f.run({"migrate", "--from", f.uri}));
    check_usage_error(f.run({"migrate", "--from", f.uri, "--to", f.uri}));
    check_usage_error(f.run({"migrate", "--store", f.uri, "--from", f.uri, "--to", "memory:"}));
    check_usage_error(f.run({"export", "--store", f.uri, "--json"}));
    check_usage_error(f.run({"export", "--store", f.uri, "--raw", "--keys", "/nonexistent"}));
    check_usage_error(f.run({"list", "--store", f.uri, "--json=yes"}));

    SUBCASE("clear --all never prompts when stdin is not a terminal") {
        auto ids = f.seed(2);
        check_usage_error(f.run({"clear", "--all", "--store", f.uri}));
        CHECK(f.store->keys(sd::record_prefix).size() == 2);
    }
    SUBCASE("the store comes from MULTISESSION_STORE when --store is absent") {
        auto ids = f.seed(1);
        auto r = f.run({"list"}, {.env = {{"MULTISESSION_STORE", f.uri}}});
        CHECK(r.exit_code == 0);
        CHECK(r.out == "session-0\n");
    }
}

TEST_CASE("--help, --version and a store that cannot be opened") {
    fixture f;
    auto help = f.run({"--help"});
    CHECK(help.exit_code == 0);
    for (const char* command : {"list", "show", "refresh", "clear", "prune", "migrate", "export", "import", "stats"})
        CHECK(help.out.find(std::string("  ") + command) != std::string::npos);
    auto command_help = f.run({"migrate", "--help"});
    CHECK(command_help.exit_code == 0);
    CHECK(command_help.out.find("--overwrite") != std::string::npos);
    auto version = f.run({"--version"});
    CHECK(version.exit_code == 0);
    CHECK(version.out.rfind("multisession ", 0) == 0);

    // A store that does not exist is not created by a reading command.
    const auto missing = f.dir / "missing.db";
    auto r = f.run({"list", "--store", "sqlite:" + missing.string()});
    CHECK(r.exit_code == 3);
    CHECK(lines_of(r.err).size() == 1);
    CHECK_FALSE(std::filesystem::exists(missing));
    // An unknown scheme, with a password in the URI: exit 3 and the password is not shown.
    auto bad = f.run({"list", "--store", "nosuch://user:hunter2-password@host/0"});
    CHECK(bad.exit_code == 3);
    CHECK(lines_of(bad.err).size() == 1);
    CHECK(bad.err.find("hunter2-password") == std::string::npos);
    CHECK(bad.err.find("nosuch") != std::string::npos);
}

TEST_CASE("list prints the seeded ids; --json summarises each session") {
    fixture f;
    const auto ids = f.seed(5);
    test::seed_options bearer;
    bearer.dpop = false;
    bearer.first_index = 5;
    bearer.client_secret.reset();
    const auto bearer_ids = f.seed(2, bearer);
    f.store->set(sd::record_key("login-state"), R"({"sessionId":"session-0"})");

    auto r = f.run({"list", "--store", f.uri});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    std::vector<std::string> expected = ids;
    expected.insert(expected.end(), bearer_ids.begin(), bearer_ids.end());
    std::sort(expected.begin(), expected.end());
    CHECK(lines_of(r.out) == expected);

    auto j = f.run({"list", "--store", f.uri, "--json"});
    CHECK(j.exit_code == 0);
    const auto doc = json::parse(j.out);
    REQUIRE(doc.is_array());
    REQUIRE(doc.size() == expected.size());
    for (std::size_t i = 0; i < doc.size(); ++i) {
        const auto& s = doc[i];
        CHECK(s.at("id") == expected[i]);
        CHECK(s.at("issuer") == f.issuer.issuer());
        CHECK(s.at("webid") == "https://pod.example/user-" + expected[i].substr(8) + "#me");
        CHECK(s.at("logged-in") == true);
        CHECK(s.at("has-refresh-token") == true);
        CHECK(s.at("dpop") == (i < 5));
        CHECK(s.at("expiry").is_null());
        CHECK(s.at("readable") == true);
    }

    SUBCASE("a corrupt record is listed and marked") {
        f.store->set(sd::record_key("broken"), "not json at all");
        auto c = f.run({"list", "--store", f.uri, "--json"});
        CHECK(c.exit_code == 0);
        const auto listed = json::parse(c.out);
        REQUIRE(listed.size() == expected.size() + 1);
        CHECK(listed[0].at("id") == "broken");
        CHECK(listed[0].at("readable") == false);
        CHECK(listed[0].at("problem") == "corrupt");
    }
    SUBCASE("an empty store lists nothing") {
        fixture empty;
        empty.store->set("unrelated", "x");
        auto e = empty.run({"list", "--store", empty.uri, "--json"});
        CHECK(e.exit_code == 0);
        CHECK(json::parse(e.out) == json::array());
    }
}

TEST_CASE("show prints one record with every secret redacted") {
    fixture f;
    f.seed(2);
    auto r = f.record("session-1");
    r.code_verifier = "code-verifier-that-is-secret";
    r.other_fields["accessToken"] = "access-token-that-is-secret";
    r.other_fields["favouriteColour"] = "green";
    f.put_record("session-1", r);
    f.collect_secrets(*f.store);
    f.secrets.insert("access-token-that-is-secret");

    auto shown = f.run({"show", "session-1", "--store", f.uri});
    CHECK(shown.exit_code == 0);
    CHECK(shown.err.empty());
    CHECK(shown.out.find("(redacted, " + std::to_string(r.refresh_token->size()) + " bytes)") != std::string::npos);
    CHECK(shown.out.find("(redacted, " + std::to_string(r.private_key->size()) + " bytes)") != std::string::npos);
    CHECK(shown.out.find("(redacted, 18 bytes)") != std::string::npos); // "seed-client-secret"
    CHECK(shown.out.find("(redacted, 27 bytes)") != std::string::npos); // the access token
    CHECK(shown.out.find("green") != std::string::npos);
    CHECK(shown.out.find("https://pod.example/user-1#me") != std::string::npos);
    CHECK(shown.out.find("not held") != std::string::npos);

    f.store->set(sd::lease_key("session-1"), "4242-owner", f.store->now() + 60s);
    auto j = f.run({"show", "session-1", "--store", f.uri, "--json"});
    CHECK(j.exit_code == 0);
    const auto doc = json::parse(j.out);
    CHECK(doc.at("id") == "session-1");
    CHECK(doc.at("refresh-token") == json{{"redacted", true}, {"bytes", r.refresh_token->size()}});
    CHECK(doc.at("client-secret").at("bytes") == 18);
    CHECK(doc.at("private-key").at("redacted") == true);
    CHECK(doc.at("code-verifier").at("redacted") == true);
    CHECK(doc.at("other-fields").at("accessToken").at("redacted") == true);
    CHECK(doc.at("other-fields").at("favouriteColour") == "green");
    CHECK(doc.at("public-key").is_string());
    CHECK(doc.at("refresh-lease") == json{{"held", true}, {"owner", "4242-owner"}});

    SUBCASE("an unknown id: exit 4 and one line") {
        auto missing = f.run({"show", "nobody", "--store", f.uri});
        CHECK(missing.exit_code == 4);
        CHECK(missing.out.empty());
        CHECK(lines_of(missing.err) == std::vector<std::string>{"multisession: show: no session 'nobody'"});
    }
    SUBCASE("a login state is not a session") {
        f.store->set(sd::record_key("state-1"), R"({"sessionId":"session-1"})");
        CHECK(f.run({"show", "state-1", "--store", f.uri}).exit_code == 4);
    }
    SUBCASE("a corrupt record: exit 1, named, nothing of its content") {
        f.store->set(sd::record_key("broken"), R"({"issuer": 12, "refreshToken": "corrupt-record-secret"})");
        auto c = f.run({"show", "broken", "--store", f.uri});
        CHECK(c.exit_code == 1);
        CHECK(c.err.find("broken") != std::string::npos);
        CHECK(c.err.find("corrupt-record-secret") == std::string::npos);
    }
}

TEST_CASE("refresh --all rehydrates every session and stores the rotated tokens") {
    fixture f;
    const auto ids = f.seed(20);
    std::map<std::string, std::string> before;
    for (const auto& id : ids)
        before[id] = *f.record(id).refresh_token;
    f.issuer.reset_counters();

    auto r = f.run({"refresh", "--all", "--store", f.uri, "--allow-insecure-loopback", "--json", "--concurrency", "8"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    const auto doc = json::parse(r.out);
    CHECK(doc.at("totals") == json{{"sessions", 20}, {"ok", 20}, {"logged-out", 0}, {"not-found", 0}, {"failed", 0}});
    REQUIRE(doc.at("results").size() == 20);
    for (const auto& result : doc.at("results"))
        CHECK(result.at("outcome") == "ok");
    CHECK(f.issuer.stats().token_requests == 20);
    CHECK(f.issuer.stats().refresh_reuses == 0);
    for (const auto& id : ids) {
        const auto now = *f.record(id).refresh_token;
        CHECK(now != before[id]);
        CHECK(f.issuer.refresh_token_valid(now));
        CHECK_FALSE(f.issuer.refresh_token_valid(before[id]));
    }
    f.collect_secrets(*f.store);

    SUBCASE("named ids, human output, a logged-out session and an unknown id") {
        auto record = f.record("session-3");
        record.refresh_token.reset();
        record.is_logged_in = false;
        f.put_record("session-3", record);
        auto named =
            f.run({"refresh", "session-1", "session-3", "nobody", "--store", f.uri, "--allow-insecure-loopback"});
        CHECK(named.exit_code == 1); // an id named on the command line that does not exist
        const auto lines = lines_of(named.out);
        REQUIRE(lines.size() == 4);
        CHECK(lines[0] == "ok          session-1");
        CHECK(lines[1] == "logged-out  session-3");
        CHECK(lines[2] == "not-found   nobody");
        CHECK(lines[3] == "3 sessions: 1 ok, 1 logged out, 1 not found, 0 failed");
        auto one_missing = f.run({"refresh", "nobody", "--store", f.uri, "--allow-insecure-loopback"});
        CHECK(one_missing.exit_code == 4);
    }
    SUBCASE("without --allow-insecure-loopback the plain-http issuer is refused") {
        auto refused = f.run({"refresh", "session-0", "--store", f.uri});
        CHECK(refused.exit_code == 1);
        CHECK(refused.out.find("insecure_url_refused") != std::string::npos);
    }
}

TEST_CASE("refresh reports a refused refresh token with the session id") {
    fixture f;
    const auto ids = f.seed(3);
    const auto token = *f.record("session-2").refresh_token;
    f.issuer.set_faults({.oauth_error = "invalid_grant"});
    auto r = f.run({"refresh", "session-2", "--store", f.uri, "--allow-insecure-loopback"});
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("error       session-2: ") != std::string::npos);
    CHECK(r.out.find("(invalid_grant)") != std::string::npos);
    CHECK(r.out.find("1 failed") != std::string::npos);
    CHECK(*f.record("session-2").refresh_token == token); // the record is left as it was

    auto j = f.run({"refresh", "--all", "--store", f.uri, "--allow-insecure-loopback", "--json"});
    CHECK(j.exit_code == 1);
    const auto doc = json::parse(j.out);
    CHECK(doc.at("totals").at("failed") == 3);
    CHECK(doc.at("results")[0].at("error") == "invalid_grant");
    CHECK(doc.at("results")[0].at("id") == "session-0");

    f.issuer.set_faults({});
    CHECK(f.run({"refresh", "--all", "--store", f.uri, "--allow-insecure-loopback", "--timeout", "20"}).exit_code == 0);
}

TEST_CASE("clear logs named sessions out (index included); --all removes everything") {
    fixture f;
    const auto ids = f.seed(5);
    f.store->set(std::string(sd::registered_sessions_key), json(ids).dump());

    auto r = f.run({"clear", "session-0", "session-1", "--store", f.uri});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(lines_of(r.out) == std::vector<std::string>{"removed     session-0", "removed     session-1",
                                                      "2 sessions: 2 removed, 0 not found, 0 failed"});
    CHECK_FALSE(f.store->get(sd::record_key("session-0")));
    CHECK_FALSE(f.store->get(sd::record_key("session-1")));
    CHECK(f.store->get(sd::record_key("session-2")));
    CHECK(json::parse(*f.store->get(sd::registered_sessions_key)) == json{"session-2", "session-3", "session-4"});

    auto missing = f.run({"clear", "session-0", "--store", f.uri});
    CHECK(missing.exit_code == 4);
    auto partly = f.run({"clear", "session-2", "nobody", "--store", f.uri, "--json"});
    CHECK(partly.exit_code == 1);
    CHECK(json::parse(partly.out).at("totals") ==
          json{{"sessions", 2}, {"removed", 1}, {"not-found", 1}, {"failed", 0}});

    f.store->set(sd::record_key("state-x"), R"({"sessionId":"session-3"})");
    f.store->set(sd::lease_key("session-3"), "owner", f.store->now() + 60s);
    f.store->set("unrelated", "kept");
    auto all = f.run({"clear", "--all", "--yes", "--store", f.uri, "--json"});
    CHECK(all.exit_code == 0);
    CHECK(json::parse(all.out) == json{{"sessions", 2}, {"entries-removed", 4}});
    CHECK(f.store->keys(sd::record_prefix).empty());
    CHECK(f.store->keys(sd::lease_prefix).empty());
    CHECK(f.store->get("unrelated") == "kept");
    CHECK(f.store->get(sd::registered_sessions_key) == "[]");
}

TEST_CASE("prune removes what can never come back, and only that") {
    fixture f;
    f.seed(2);
    f.store->set(std::string(sd::registered_sessions_key), R"(["session-0","session-1","gone","dead"])");
    sd::session_record dead;
    dead.issuer = f.issuer.issuer();
    dead.client_id = "seed-client";
    f.put_record("dead", dead);
    auto pending = dead;
    pending.code_verifier = "pending-login-verifier";
    f.put_record("pending", pending);
    auto expired = dead;
    expired.refresh_token = "refresh-token-of-an-expired-client";
    expired.is_logged_in = true;
    expired.client_expires_at = 1000;
    f.put_record("expired-client", expired);
    auto current = expired;
    current.client_expires_at = 32503680000; // year 3000
    f.put_record("current-client", current);
    f.store->set(sd::record_key("state-orphan"), R"({"sessionId":"gone"})");
    f.store->set(sd::record_key("state-dead"), R"({"sessionId":"dead"})");
    f.store->set(sd::record_key("state-live"), R"({"sessionId":"session-0"})");
    f.store->set(sd::record_key("broken"), "{not json");
    f.store->set("app:expired", "x", f.store->now() - 1s);
    f.collect_secrets(*f.store);
    const auto before = entries_of(*f.store);

    auto dry = f.run({"prune", "--dry-run", "--json", "--store", f.uri});
    CHECK(dry.exit_code == 1); // a corrupt record is kept: attention needed
    CHECK(dry.err.empty());
    const auto counted = json::parse(dry.out);
    CHECK(counted.at("dry-run") == true);
    CHECK(counted.at("logged-out") == 1);
    CHECK(counted.at("expired-client") == 1);
    CHECK(counted.at("orphan-login-states") == 2);
    CHECK(counted.at("index-orphans") == 2);
    CHECK(counted.at("expired-entries").is_null());
    CHECK(counted.at("corrupt") == 1);
    CHECK(counted.at("corrupt-ids") == json{"broken"});
    CHECK(counted.at("pending-logins-kept") == 1);
    CHECK(entries_of(*f.store) == before);

    auto real = f.run({"prune", "--json", "--store", f.uri});
    CHECK(real.exit_code == 1);
    auto removed = json::parse(real.out);
    CHECK(removed.at("logged-out") == 1);
    CHECK(removed.at("expired-client") == 1);
    CHECK(removed.at("orphan-login-states") == 2);
    CHECK(removed.at("index-orphans") == 2);
    CHECK(removed.at("expired-entries") == 1);
    CHECK(removed.at("corrupt-removed") == 0);
    std::set<std::string> left;
    for (const auto& [key, value] : entries_of(*f.store, sd::record_prefix))
        left.insert(std::string(*sd::session_id_of_key(key)));
    CHECK(left == std::set<std::string>{"broken", "current-client", "pending", "session-0", "session-1", "state-live"});
    CHECK(json::parse(*f.store->get(sd::registered_sessions_key)) == json{"session-0", "session-1"});

    auto human = f.run({"prune", "--store", f.uri, "--corrupt", "--pending-logins"});
    CHECK(human.exit_code == 0);
    CHECK(human.out.find("corrupt record (removed): broken") != std::string::npos);
    CHECK_FALSE(f.store->get(sd::record_key("broken")));
    CHECK_FALSE(f.store->get(sd::record_key("pending")));
    CHECK(f.store->get(sd::record_key("session-0")));

    auto again = f.run({"prune", "--store", f.uri, "--json"});
    CHECK(again.exit_code == 0);
    const auto nothing = json::parse(again.out);
    for (const char* kind : {"logged-out", "expired-client", "orphan-login-states", "index-orphans", "corrupt"})
        CHECK(nothing.at(kind) == 0);
}

TEST_CASE("migrate between SQLite and file stores, verified by count") {
    fixture f;
    f.seed(5);
    const std::string binary("\x00\xff\x01 binary", 10);
    f.store->set("app:binary", binary);
    f.store->set(std::string(sd::registered_sessions_key), R"(["session-0"])");
    f.store->set(sd::lease_key("session-0"), "owner", f.store->now() + 60s);
    const auto source = entries_of(*f.store);
    auto in_scope = source;
    in_scope.erase(sd::lease_key("session-0"));

    const std::string files = "file:" + (f.dir / "files").string();
    auto r = f.run({"migrate", "--from", f.uri, "--to", files, "--json"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    auto doc = json::parse(r.out);
    CHECK(doc.at("verified") == true);
    CHECK(doc.at("copied") == 7);
    CHECK(doc.at("source-keys") == 7);
    CHECK(doc.at("destination-keys") == 7);
    auto file_store = ms::open_storage(files);
    CHECK(entries_of(*file_store) == in_scope); // the lease stays behind

    const std::string back = "sqlite:" + (f.dir / "back.db").string();
    auto b = f.run({"migrate", "--from", files, "--to", back});
    CHECK(b.exit_code == 0);
    CHECK(b.out.find("source: 7 keys in scope; destination: 7 keys in scope") != std::string::npos);
    CHECK(entries_of(*ms::open_storage(back)) == in_scope);

    SUBCASE("--prefix restricts the scope") {
        const std::string only = "sqlite:" + (f.dir / "only.db").string();
        auto p = f.run({"migrate", "--from", f.uri, "--to", only, "--prefix", "app:", "--json"});
        CHECK(p.exit_code == 0);
        CHECK(json::parse(p.out).at("copied") == 1);
        CHECK(entries_of(*ms::open_storage(only)) == std::map<std::string, std::string>{{"app:binary", binary}});
    }
    SUBCASE("a destination with more keys fails the count check") {
        file_store->set("extra:key", "x");
        auto m = f.run({"migrate", "--from", f.uri, "--to", files});
        CHECK(m.exit_code == 1);
        CHECK(m.err.find("count mismatch") != std::string::npos);
    }
}

TEST_CASE("migrate is resumable and never silently overwrites a different value") {
    fixture f;
    f.seed(4);
    f.store->set("app:a", "1");
    f.store->set("app:b", "2");
    const auto source = entries_of(*f.store);
    const std::string to = "sqlite:" + (f.dir / "to.db").string();
    auto destination = ms::open_storage(to);

    // An interrupted run: part of the entries are there already.
    destination->set("app:a", "1");
    destination->set(sd::record_key("session-1"), *f.store->get(sd::record_key("session-1")));
    auto r = f.run({"migrate", "--from", f.uri, "--to", to, "--json"});
    CHECK(r.exit_code == 0);
    auto doc = json::parse(r.out);
    CHECK(doc.at("copied") == 4);
    CHECK(doc.at("unchanged") == 2);
    CHECK(doc.at("verified") == true);
    CHECK(entries_of(*destination) == source);

    auto again = json::parse(f.run({"migrate", "--from", f.uri, "--to", to, "--json"}).out);
    CHECK(again.at("copied") == 0);
    CHECK(again.at("unchanged") == 6);

    // A destination that holds another value for a key: reported, kept, exit 1.
    destination->set("app:b", "changed at the destination");
    auto conflict = f.run({"migrate", "--from", f.uri, "--to", to});
    CHECK(conflict.exit_code == 1);
    CHECK(conflict.err.find("'app:b'") != std::string::npos);
    CHECK(conflict.out.find("1 conflicts") != std::string::npos);
    CHECK(destination->get("app:b") == "changed at the destination");
    // With --move the conflicting source entry stays where it is.
    auto kept = f.run({"migrate", "--from", f.uri, "--to", to, "--move", "--json"});
    CHECK(kept.exit_code == 1);
    CHECK(json::parse(kept.out).at("source-keys") == 1);
    CHECK(json::parse(kept.out).at("verified") == true);
    CHECK(f.store->get("app:b") == "2");
    CHECK(entries_of(*destination).size() == 6);
    for (const auto& [key, value] : source)
        f.store->set(key, value);
    auto replaced = f.run({"migrate", "--from", f.uri, "--to", to, "--overwrite", "--json"});
    CHECK(replaced.exit_code == 0);
    CHECK(json::parse(replaced.out).at("overwritten") == 1);
    CHECK(destination->get("app:b") == "2");
}

TEST_CASE("migrate --move removes each source entry once the destination holds it") {
    fixture f;
    f.seed(3);
    f.store->set("app:a", "1");
    f.store->set(sd::lease_key("session-0"), "owner", f.store->now() + 60s);
    auto in_scope = entries_of(*f.store);
    in_scope.erase(sd::lease_key("session-0"));
    const std::string to = "file:" + (f.dir / "moved").string();
    auto destination = ms::open_storage(to);
    // An interrupted move: copied, not yet removed at the source.
    destination->set("app:a", "1");

    auto r = f.run({"migrate", "--move", "--from", f.uri, "--to", to, "--json"});
    CHECK(r.exit_code == 0);
    auto doc = json::parse(r.out);
    CHECK(doc.at("mode") == "move");
    CHECK(doc.at("copied") == 3);
    CHECK(doc.at("unchanged") == 1);
    CHECK(doc.at("removed-from-source") == 4);
    CHECK(doc.at("source-keys") == 0);
    CHECK(doc.at("destination-keys") == 4);
    CHECK(doc.at("verified") == true);
    CHECK(entries_of(*destination) == in_scope);
    CHECK(f.store->keys() == std::vector<std::string>{sd::lease_key("session-0")});

    auto again = f.run({"migrate", "--move", "--from", f.uri, "--to", to, "--json"});
    CHECK(again.exit_code == 0);
    CHECK(json::parse(again.out).at("entries") == 0);
}

TEST_CASE("export and import round trip, binary keys and values included") {
    fixture f;
    f.seed(3);
    const std::string binary_key("bin:\xff\xfe", 6);
    const std::string binary_value("\x00\x01\xfe\xff", 4);
    f.store->set(binary_key, binary_value);
    f.store->set("app:empty", "");
    f.store->set("app:unicode", "gr\xc3\xbc\xc3\x9f");
    f.store->set(sd::lease_key("session-0"), "owner", f.store->now() + 60s);
    auto expected = entries_of(*f.store);
    expected.erase(sd::lease_key("session-0"));

    const auto file = f.dir / "export.jsonl";
    auto e = f.run({"export", "--store", f.uri, "-o", file.string()});
    CHECK(e.exit_code == 0);
    CHECK(e.err.empty()); // an unencrypted store: no notice
    CHECK(e.out == "exported 6 entries to " + file.string() + "\n");
    CHECK(file_mode(file) == 0600);
    const auto lines = lines_of(file_text(file));
    REQUIRE(lines.size() == 6);
    bool saw_binary = false;
    for (const auto& line : lines) {
        const auto entry = json::parse(line);
        if (entry.contains("key_base64")) {
            saw_binary = true;
            CHECK(entry.contains("value_base64"));
        } else {
            CHECK(entry.contains("key"));
        }
    }
    CHECK(saw_binary);

    // An export is the store's content, secrets included: not checked for them.
    auto to_stdout = f.cli.run({"export", "--store", f.uri});
    CHECK(to_stdout.exit_code == 0);
    CHECK(to_stdout.out == file_text(file));

    const std::string copy = "sqlite:" + (f.dir / "copy.db").string();
    auto i = f.run({"import", "-i", file.string(), "--store", copy, "--json"});
    CHECK(i.exit_code == 0);
    CHECK(i.err.empty());
    CHECK(json::parse(i.out) == json{{"lines", 6}, {"imported", 6}, {"overwritten", 0}, {"skipped", 0}});
    auto copy_store = ms::open_storage(copy);
    CHECK(entries_of(*copy_store) == expected);

    // Again: nothing is overwritten by default; with --overwrite only what differs.
    copy_store->set("app:empty", "changed");
    auto twice = f.run({"import", "--store", copy, "--json"}, {.input = file_text(file)});
    CHECK(json::parse(twice.out) == json{{"lines", 6}, {"imported", 0}, {"overwritten", 0}, {"skipped", 6}});
    CHECK(copy_store->get("app:empty") == "changed");
    auto over = f.run({"import", "-i", file.string(), "--store", copy, "--overwrite", "--json"});
    CHECK(json::parse(over.out) == json{{"lines", 6}, {"imported", 0}, {"overwritten", 1}, {"skipped", 5}});
    CHECK(entries_of(*copy_store) == expected);
}

TEST_CASE("import refuses a malformed line with its number and writes nothing") {
    fixture f;
    const std::string good = R"({"key":"a","value":"1"})"
                             "\n"
                             R"({"key":"b","value_base64":"AP8="})"
                             "\n";
    const std::string target = "sqlite:" + (f.dir / "target.db").string();

    struct bad_case {
        std::string line;
        std::string problem;
    };
    for (const auto& bad : std::vector<bad_case>{
             {R"({"key":"c","value":"TOPSECRET-VALUE","extra":true})", "unknown member"},
             {R"({"key":"c","value":"TOPSECRET-VALUE","value_base64":"AA=="})", "exactly one"},
             {R"({"key":"c","value_base64":"TOPSECRET*VALUE"})", "not base64"},
             {R"(["TOPSECRET-VALUE"])", "not a JSON object"},
             {R"({"key":"c","value":"TOPSECRET-VALUE")", "not valid JSON"},
             {R"({"key":"","value":"TOPSECRET-VALUE"})", "key is empty"},
             {R"({"key":"c","value":42})", "not a string"},
             {R"({"key":"c","value":"TOPSECRET-VALUE","value":"other"})", "named twice"},
         }) {
        CAPTURE(bad.line);
        const auto file = f.dir / "bad.jsonl";
        write_file(file, good + bad.line + "\n" + R"({"key":"d","value":"4"})" + "\n");
        auto r = f.run({"import", "-i", file.string(), "--store", target});
        CHECK(r.exit_code == 5);
        CHECK(r.out.empty());
        CHECK(lines_of(r.err).size() == 1);
        CHECK(r.err.find("line 3: ") != std::string::npos);
        CHECK(r.err.find(bad.problem) != std::string::npos);
        CHECK(r.err.find("TOPSECRET") == std::string::npos);
        CHECK(ms::open_storage(target)->keys().empty());
    }
    // The same from stdin (a file there too, so it is checked whole first).
    auto r = f.run({"import", "--store", target}, {.input = good + "garbage\n"});
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("line 3: ") != std::string::npos);
    CHECK(ms::open_storage(target)->keys().empty());
    // From a pipe, which cannot be read twice: imported up to the bad line, and the message says so.
    auto piped = f.run({"import", "--store", target}, {.input = good + "garbage\n", .input_as_pipe = true});
    CHECK(piped.exit_code == 5);
    CHECK(piped.err.find("line 3: not valid JSON (2 entries before it were imported)") != std::string::npos);
    CHECK(ms::open_storage(target)->keys() == std::vector<std::string>{"a", "b"});
    ms::open_storage(target)->remove_prefix("");
    // Blank lines and CRLF line ends are fine.
    auto ok = f.run({"import", "--store", target}, {.input = "\r\n" + good + "\n"});
    CHECK(ok.exit_code == 0);
    CHECK(ms::open_storage(target)->get("b") == std::string("\x00\xff", 2));
}

TEST_CASE("encrypted stores: the key ring, decrypted and raw exports") {
    fixture f;
    const std::string k1 = ms::generate_encryption_key(), k2 = ms::generate_encryption_key();
    const auto ring = f.dir / "ring";
    // The first key is the current one; base64url without padding is accepted too.
    std::string k2_url = base64(k2);
    std::replace(k2_url.begin(), k2_url.end(), '+', '-');
    std::replace(k2_url.begin(), k2_url.end(), '/', '_');
    k2_url.erase(k2_url.find('='));
    write_file(ring, "# keys of the test store\n\nk2 " + k2_url + "\n  k1\t" + base64(k1) + "  \n");
    ms::open_storage_options with_keys;
    with_keys.encryption = ms::encryption_options{{{"k1", k1}, {"k2", k2}}, "k2"};
    const std::string uri = "sqlite:" + (f.dir / "sealed.db").string();
    auto sealed = ms::open_storage(uri, with_keys);
    const auto ids = f.seed_into(*sealed, 3);
    for (const std::string& key : {k1, k2})
        f.secrets.insert(base64(key));
    f.secrets.insert(k2_url);
    const auto plaintext = entries_of(*sealed);

    auto listed = f.run({"list", "--store", uri, "--keys", ring.string()});
    CHECK(listed.exit_code == 0);
    CHECK(lines_of(listed.out) == ids);
    auto shown = f.run({"show", "session-0", "--store", uri}, {.env = {{"MULTISESSION_KEYS_FILE", ring.string()}}});
    CHECK(shown.exit_code == 0);
    CHECK(shown.out.find("(redacted, ") != std::string::npos);

    SUBCASE("without the key ring: ids are listed, records cannot be read") {
        auto ids_only = f.run({"list", "--store", uri});
        CHECK(lines_of(ids_only.out) == ids);
        auto no_keys = f.run({"show", "session-0", "--store", uri});
        CHECK(no_keys.exit_code == 3);
        CHECK(no_keys.err.find("--keys") != std::string::npos);
        auto stats = json::parse(f.run({"stats", "--store", uri, "--json"}).out);
        CHECK(stats.at("sealed") == 3);
        CHECK(stats.at("sessions") == 0);
    }
    SUBCASE("a wrong key: values that cannot be decrypted are reported, never removed") {
        const auto wrong = f.dir / "wrong";
        write_file(wrong, "k2 " + base64(ms::generate_encryption_key()) + "\n");
        auto l = f.run({"list", "--store", uri, "--keys", wrong.string()});
        CHECK(l.exit_code == 1);
        CHECK(lines_of(l.err).size() == 3);
        auto p = f.run({"prune", "--corrupt", "--store", uri, "--keys", wrong.string(), "--json"});
        CHECK(p.exit_code == 1);
        CHECK(json::parse(p.out).at("unreadable") == 3);
        CHECK(entries_of(*sealed) == plaintext);
    }
    SUBCASE("key ring files that are refused") {
        const auto open_ring = f.dir / "open-ring";
        write_file(open_ring, file_text(ring), 0644);
        auto r = f.run({"list", "--store", uri, "--keys", open_ring.string()});
        CHECK(r.exit_code == 3);
        CHECK(r.err.find("accessible by other users") != std::string::npos);
        const auto bad = f.dir / "bad-ring";
        write_file(bad, "k1 " + base64(k1) + "\nk2 c2VjcmV0LWtleS1tYXRlcmlhbA\n");
        auto b = f.run({"list", "--store", uri, "--keys", bad.string()});
        CHECK(b.exit_code == 3);
        CHECK(b.err.find("line 2: the key is 19 bytes, expected 32") != std::string::npos);
        CHECK(b.err.find("c2VjcmV0") == std::string::npos);
        write_file(bad, "k1 " + base64(k1) + " trailing\n");
        CHECK(f.run({"list", "--store", uri, "--keys", bad.string()}).err.find("line 1: expected") !=
              std::string::npos);
        CHECK(f.run({"list", "--store", uri, "--keys", (f.dir / "none").string()}).exit_code == 3);
    }

    const auto decrypted = f.dir / "decrypted.jsonl";
    auto e = f.run({"export", "--store", uri, "--keys", ring.string(), "-o", decrypted.string()});
    CHECK(e.exit_code == 0);
    CHECK(e.err.find("decrypted") != std::string::npos);
    CHECK(e.err.find("0600") != std::string::npos);
    CHECK(file_mode(decrypted) == 0600);
    CHECK(file_text(decrypted).find(R"(\"issuer\")") != std::string::npos);

    const auto raw = f.dir / "raw.jsonl";
    auto r = f.run({"export", "--raw", "--store", uri, "-o", raw.string(), "--json"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(json::parse(r.out) == json{{"exported", 3}, {"file", raw.string()}, {"decrypted", false}});
    for (const auto& line : lines_of(file_text(raw))) {
        const auto entry = json::parse(line);
        const auto value = entry.contains("value") ? entry.at("value").get<std::string>()
                                                   : unbase64(entry.at("value_base64").get<std::string>());
        CHECK(value.rfind("MSE1", 0) == 0);
        CHECK(value.find("issuer") == std::string::npos);
    }

    // Raw envelopes into a store opened without keys stay sealed, and open with the same ring.
    const std::string raw_copy = "sqlite:" + (f.dir / "raw-copy.db").string();
    CHECK(f.run({"import", "-i", raw.string(), "--store", raw_copy}).exit_code == 0);
    CHECK(entries_of(*ms::open_storage(raw_copy, with_keys)) == plaintext);
    // ... but not into an encrypted store: they would be sealed twice.
    auto twice = f.run({"import", "-i", raw.string(), "--store", "memory:", "--keys", ring.string()});
    CHECK(twice.exit_code == 5);
    CHECK(twice.err.find("already sealed") != std::string::npos);

    // Decrypted values into another encrypted store are sealed again there.
    const std::string resealed = "sqlite:" + (f.dir / "resealed.db").string();
    CHECK(f.run({"import", "-i", decrypted.string(), "--store", resealed, "--keys", ring.string()}).exit_code == 0);
    CHECK(entries_of(*ms::open_storage(resealed, with_keys)) == plaintext);
    for (const auto& [key, value] : entries_of(*ms::open_storage(resealed)))
        CHECK(value.rfind("MSE1", 0) == 0);

    // migrate re-keys: from the encrypted store to a plain one and back into an encrypted one.
    const std::string plain = "sqlite:" + (f.dir / "plain.db").string();
    CHECK(f.run({"migrate", "--from", uri, "--from-keys", ring.string(), "--to", plain}).exit_code == 0);
    CHECK(entries_of(*ms::open_storage(plain)) == plaintext);

    // An entry sealed with a key outside the ring cannot be moved: it is reported, stays at the
    // source, and the count check says so.
    ms::open_storage_options foreign;
    foreign.encryption = ms::encryption_options{{{"k9", ms::generate_encryption_key()}}, "k9"};
    ms::open_storage(uri, foreign)->set("app:foreign", "sealed elsewhere");
    const std::string moved = "sqlite:" + (f.dir / "moved.db").string();
    auto m = f.run({"migrate", "--move", "--from", uri, "--from-keys", ring.string(), "--to", moved, "--json"});
    CHECK(m.exit_code == 1);
    CHECK(m.err.find("'app:foreign'") != std::string::npos);
    CHECK(m.err.find("count mismatch") != std::string::npos);
    const auto report = json::parse(m.out);
    CHECK(report.at("verified") == false);
    CHECK(report.at("removed-from-source") == 3);
    CHECK(report.at("source-keys") == 1);
    CHECK(entries_of(*ms::open_storage(moved)) == plaintext);
}

TEST_CASE("stats counts what the store holds") {
    fixture f;
    f.seed(3);
    test::seed_options bearer;
    bearer.dpop = false;
    bearer.first_index = 3;
    f.seed(2, bearer);
    auto out = f.record("session-4");
    out.is_logged_in = false;
    out.refresh_token.reset();
    f.put_record("session-4", out);
    f.store->set(sd::record_key("state-1"), R"({"sessionId":"session-0"})");
    f.store->set(sd::record_key("broken"), "[1,2");
    f.store->set(sd::lease_key("session-0"), "owner", f.store->now() + 60s);
    f.store->set(std::string(sd::registered_sessions_key), R"(["session-0","session-1","session-9"])");
    f.store->set("app:other", "12345");
    std::size_t bytes = 0, entries = 0;
    f.store->for_each("", [&](std::string_view, std::string_view value) {
        bytes += value.size();
        ++entries;
    });

    auto r = f.run({"stats", "--store", f.uri, "--json"});
    CHECK(r.exit_code == 0);
    const auto doc = json::parse(r.out);
    CHECK(doc.at("entries") == entries);
    CHECK(doc.at("bytes") == bytes);
    CHECK(doc.at("sessions") == 5);
    CHECK(doc.at("logged-in") == 4);
    CHECK(doc.at("with-refresh-token") == 4);
    CHECK(doc.at("dpop") == 3);
    CHECK(doc.at("corrupt") == 1);
    CHECK(doc.at("login-states") == 1);
    CHECK(doc.at("leases") == 1);
    CHECK(doc.at("index") == 3);
    CHECK(doc.at("other-entries") == 1);
    CHECK(doc.at("issuers") == json{{f.issuer.issuer(), 5}});

    auto human = f.run({"stats", "--store", f.uri});
    CHECK(human.exit_code == 0);
    const auto lines = lines_of(human.out);
    CHECK(std::find(lines.begin(), lines.end(), "session records               5") != lines.end());
    CHECK(std::find(lines.begin(), lines.end(), "  DPoP-bound                  3") != lines.end());
}

TEST_CASE("a progress bar only when stderr is a terminal, and never with --quiet or --json") {
    fixture f;
    f.seed(3);
    const std::string to = "sqlite:" + (f.dir / "to.db").string();

    // stderr to a file (as in a pipe): nothing there.
    auto piped = f.run({"migrate", "--from", f.uri, "--to", to});
    CHECK(piped.exit_code == 0);
    CHECK(piped.err.empty());

    // stderr on a pseudo-terminal: the bar is drawn, then cleared.
    auto on_terminal = [&](const std::vector<std::string>& args) {
        const fd_closer master{::posix_openpt(O_RDWR | O_NOCTTY)};
        REQUIRE(master.fd >= 0);
        REQUIRE(::grantpt(master.fd) == 0);
        REQUIRE(::unlockpt(master.fd) == 0);
        std::array<char, 128> name{};
        REQUIRE(::ptsname_r(master.fd, name.data(), name.size()) == 0);
        test::cli_result result;
        {
            const fd_closer slave{::open(name.data(), O_RDWR | O_NOCTTY)};
            REQUIRE(slave.fd >= 0);
            result = f.run(args, {.stderr_fd = slave.fd});
        }
        std::string seen;
        for (;;) {
            pollfd pfd{master.fd, POLLIN, 0};
            if (::poll(&pfd, 1, 200) <= 0) break;
            std::array<char, 4096> chunk{};
            const ssize_t n = ::read(master.fd, chunk.data(), chunk.size());
            if (n <= 0) break;
            seen.append(chunk.data(), static_cast<std::size_t>(n));
        }
        CHECK(result.exit_code == 0);
        return seen;
    };
    const auto drawn = on_terminal({"migrate", "--from", f.uri, "--to", to});
    CHECK(drawn.find("migrate [") != std::string::npos);
    CHECK(drawn.find("3/3") != std::string::npos);
    CHECK(on_terminal({"migrate", "--from", f.uri, "--to", to, "--quiet"}).empty());
    CHECK(on_terminal({"migrate", "--from", f.uri, "--to", to, "--json"}).empty());
}
