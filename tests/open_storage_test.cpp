// open_storage(): every accepted URI form builds the backend it names, and every malformed or
// unknown one fails with invalid_uri and a message that names the problem (never a password).
#include "support/storage_fixtures.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

using namespace multisession;
using multisession::test::temp_dir;

namespace {

std::string uri_error(const std::string& uri) {
    try {
        (void)open_storage(uri);
    } catch (const error& e) {
        CHECK(e.code() == storage_errc::invalid_uri);
        return e.what();
    }
    FAIL("accepted: " << uri);
    return {};
}

} // namespace

TEST_CASE("memory: opens a fresh store each time") {
    auto a = open_storage("memory:");
    auto b = open_storage("memory:");
    a->set("k", "v");
    CHECK(a->get("k") == "v");
    CHECK_FALSE(b->get("k").has_value());
}

TEST_CASE("file: and sqlite: in all their spellings reach the same data") {
    temp_dir dir;
    const std::string files = (dir / "files").string();
    const std::string db = (dir / "s.db").string();

    open_storage("file:" + files)->set("k", "file-value");
    CHECK(open_storage("file://" + files)->get("k") == "file-value");
    CHECK(open_storage("file://localhost" + files + "?durable=false")->get("k") == "file-value");
    CHECK(std::filesystem::is_directory(files));

    open_storage("sqlite:" + db)->set("k", "sqlite-value");
    CHECK(open_storage("sqlite://" + db + "?synchronous=normal&busy_timeout_ms=100")->get("k") == "sqlite-value");
    CHECK(open_storage("sqlite:" + db + "?max_connections=1")->get("k") == "sqlite-value");
    const auto small = (std::filesystem::path(db).parent_path() / "small-pages.db").string();
    open_storage("sqlite:" + small + "?page_size=8192")->set("k", "v");
    // The page size is the big-endian 16-bit number at offset 16 of the file's header.
    std::ifstream header(small, std::ios::binary);
    char bytes[18] = {};
    REQUIRE(header.read(bytes, sizeof bytes));
    CHECK(((static_cast<unsigned char>(bytes[16]) << 8) | static_cast<unsigned char>(bytes[17])) == 8192);
    CHECK(std::filesystem::is_regular_file(db));
}

TEST_CASE("percent-escapes in paths are decoded") {
    temp_dir dir;
    open_storage("sqlite:" + (dir / "with%20space.db").string())->set("k", "v");
    CHECK(std::filesystem::is_regular_file(dir / "with space.db"));
}

TEST_CASE("prefix= wraps the store in a namespace") {
    temp_dir dir;
    const std::string db = (dir / "t.db").string();
    open_storage("sqlite:" + db + "?prefix=tenant-a:")->set("k", "a");
    open_storage("sqlite:" + db + "?prefix=tenant-b:")->set("k", "b");
    CHECK(open_storage("sqlite:" + db + "?prefix=tenant-a:")->get("k") == "a");
    CHECK(open_storage("sqlite:" + db)->keys() == std::vector<std::string>{"tenant-a:k", "tenant-b:k"});
    CHECK(open_storage("sqlite:" + db + "?prefix=tenant-b%3A")->remove_prefix("") == 1);
}

TEST_CASE("encryption from options seals the values the backend holds") {
    temp_dir dir;
    const std::string db = "sqlite:" + (dir / "e.db").string();
    open_storage_options options;
    options.encryption = multisession::test::test_encryption();
    open_storage(db + "?prefix=t:", options)->set("token", "refresh-token-SECRET");
    const auto raw = open_storage(db)->get("t:token");
    REQUIRE(raw.has_value());
    CHECK(raw->find("refresh-token-SECRET") == std::string::npos);
    options.encryption = multisession::test::test_encryption();
    CHECK(open_storage(db + "?prefix=t:", options)->get("token") == "refresh-token-SECRET");
}

TEST_CASE("malformed and unknown URIs are clear errors") {
    CHECK(uri_error("").find("expected <scheme>:<location>") != std::string::npos);
    CHECK(uri_error("/just/a/path").find("expected <scheme>:<location>") != std::string::npos);
    CHECK(uri_error("postgres://db/x").find("unknown scheme 'postgres'") != std::string::npos);
    CHECK(uri_error("file:").find("needs a directory") != std::string::npos);
    CHECK(uri_error("sqlite:").find("needs a file") != std::string::npos);
    CHECK(uri_error("sqlite://otherhost/x.db").find("a host is not allowed") != std::string::npos);
    CHECK(uri_error("memory:/x").find("takes no path") != std::string::npos);
    CHECK(uri_error("memory:?colour=blue").find("unknown query parameter 'colour'") != std::string::npos);
    CHECK(uri_error("sqlite:/tmp/x.db?synchronous=sometimes").find("synchronous must be") != std::string::npos);
    CHECK(uri_error("sqlite:/tmp/x.db?busy_timeout_ms=-5").find("busy_timeout_ms") != std::string::npos);
    CHECK(uri_error("sqlite:/tmp/x.db?max_connections=0").find("max_connections") != std::string::npos);
    CHECK(uri_error("sqlite:/tmp/x.db?page_size=256").find("page_size") != std::string::npos);
    CHECK(uri_error("sqlite:/tmp/x.db?page_size=100000").find("page_size") != std::string::npos);
    CHECK(uri_error("sqlite:/tmp/x.db?page_size=3000").find("page_size must be a power of two") != std::string::npos);
    CHECK(uri_error("file:/tmp/x?durable=maybe").find("durable must be") != std::string::npos);
    CHECK(uri_error("file:/tmp/x?durable").find("name=value") != std::string::npos);
    CHECK(uri_error("file:/tmp/x?prefix=a&prefix=b").find("given twice") != std::string::npos);
    CHECK(uri_error("file:/tmp/x?prefix=").find("prefix must not be empty") != std::string::npos);
    CHECK(uri_error("file:/tmp/%zz").find("percent-escape") != std::string::npos);
    CHECK(uri_error("file:/tmp/%4").find("percent-escape") != std::string::npos);
    CHECK(uri_error("file:/tmp/a%00b").find("NUL") != std::string::npos);
    CHECK(uri_error("file:/tmp/x#frag").find("fragments") != std::string::npos);
}

TEST_CASE("passwords never reach a message") {
    CHECK(redact_uri("redis://user:hunter2@127.0.0.1:6379/0") == "redis://user:***@127.0.0.1:6379/0");
    CHECK(redact_uri("redis://:hunter2@127.0.0.1:6379") == "redis://:***@127.0.0.1:6379");
    CHECK(redact_uri("redis://127.0.0.1:6379/0?prefix=a@b") == "redis://127.0.0.1:6379/0?prefix=a@b");
    CHECK(redact_uri("sqlite:/tmp/x.db") == "sqlite:/tmp/x.db");
    // An unknown parameter makes the URI invalid before any connection is tried.
    const std::string message = uri_error("redis://user:hunter2@127.0.0.1:6379/0?colour=blue");
    CHECK(message.find("hunter2") == std::string::npos);
    CHECK(message.find("user:***@") != std::string::npos);
}
