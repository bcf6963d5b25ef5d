// Every storage backend and decorator stack the contract suite runs against, as doctest template
// parameters. Each fixture owns what its store needs (a temporary directory, a manual clock) and
// can open its store again, as a restarted process would.
#pragma once

#include "support/manual_clock.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <multisession/storage.hpp>
#include <multisession/storage/encrypted.hpp>
#include <multisession/storage/file.hpp>
#include <multisession/storage/memory.hpp>
#include <multisession/storage/open.hpp>
#include <multisession/storage/prefixed.hpp>
#include <multisession/storage/redis.hpp>
#include <multisession/storage/sqlite.hpp>

#include <string>

namespace multisession::test {

/// A fixed key ring for tests: two keys so rotation can be exercised, the first current.
inline encryption_options test_encryption(std::string current = "k1") {
    encryption_options options;
    options.keys.push_back({"k1", std::string(32, '\x11')});
    options.keys.push_back({"k2", std::string(32, '\x22')});
    options.current_key_id = std::move(current);
    return options;
}

struct memory_fixture {
    static constexpr const char* name = "memory";
    static constexpr bool persistent = false;
    static constexpr bool shared_between_processes = false;
    manual_clock clock;
    std::shared_ptr<storage> store;
    // A memory store lives as long as its object: "reopening" hands back the same one.
    std::shared_ptr<storage> open() {
        if (!store) store = make_memory_storage({clock.function()});
        return store;
    }
};

// The durable settings cost one or two fsyncs a write; the contract suite writes 100k keys per
// fixture, so it runs the file and SQLite backends in their fast modes. The durable modes are
// exercised by the crash tests and the backends' own suites.
struct file_fixture {
    static constexpr const char* name = "file";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    manual_clock clock;
    temp_dir dir;
    [[nodiscard]] std::string uri() const { return "file:" + (dir / "store").string() + "?durable=false"; }
    std::shared_ptr<storage> open() {
        file_storage_options options;
        options.clock = clock.function();
        options.durable = false;
        return make_file_storage(dir / "store", options);
    }
};

struct sqlite_fixture {
    static constexpr const char* name = "sqlite";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    manual_clock clock;
    temp_dir dir;
    [[nodiscard]] std::string uri() const { return "sqlite:" + (dir / "store.db").string() + "?synchronous=normal"; }
    std::shared_ptr<storage> open() {
        sqlite_storage_options options;
        options.clock = clock.function();
        options.synchronous = sqlite_synchronous::normal;
        return make_sqlite_storage(dir / "store.db", options);
    }
};

struct encrypted_memory_fixture {
    static constexpr const char* name = "encrypted(memory)";
    static constexpr bool persistent = false;
    static constexpr bool shared_between_processes = false;
    memory_fixture inner;
    std::shared_ptr<storage> open() { return make_encrypted_storage(inner.open(), test_encryption()); }
    manual_clock& clock = inner.clock;
};

struct prefixed_sqlite_fixture {
    static constexpr const char* name = "prefixed(sqlite)";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    sqlite_fixture inner;
    manual_clock& clock = inner.clock;
    std::shared_ptr<storage> open() {
        auto base = inner.open();
        // Neighbours whose keys share bytes with the tenant's prefix: none may ever be seen,
        // counted or removed through the tenant's view.
        base->set("tenant", "neighbour");
        base->set("tenant-a", "neighbour");
        base->set("tenant-b:key", "neighbour");
        return make_prefixed_storage(std::move(base), "tenant-a:");
    }
};

struct encrypted_file_fixture {
    static constexpr const char* name = "encrypted(file)";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    file_fixture inner;
    manual_clock& clock = inner.clock;
    std::shared_ptr<storage> open() { return make_encrypted_storage(inner.open(), test_encryption()); }
};

/// The stack a deployment gets from configuration: open_storage with a tenant prefix and
/// encryption over SQLite.
struct uri_sqlite_stack_fixture {
    static constexpr const char* name = "open_storage(sqlite?prefix, encrypted)";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    manual_clock clock;
    temp_dir dir;
    std::shared_ptr<storage> open() {
        open_storage_options options;
        options.clock = clock.function();
        options.encryption = test_encryption();
        return open_storage("sqlite:" + (dir / "stack.db").string() + "?synchronous=normal&prefix=t1:", options);
    }
};

/// Redis: the test binary's own server (support/redis_server.hpp), emptied for each fixture.
struct redis_fixture {
    static constexpr const char* name = "redis";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    manual_clock clock;
    redis_fixture() { shared_redis_server().flush_all(); }
    [[nodiscard]] std::string uri() const { return shared_redis_server().uri(); }
    std::shared_ptr<storage> open() {
        redis_storage_options options;
        options.port = shared_redis_server().port();
        options.clock = clock.function();
        return make_redis_storage(options);
    }
};

/// The configured stack over Redis: open_storage with encryption and a tenant prefix made of glob
/// metacharacters (t[1]*?\:), beside neighbours that the prefix would match as an unescaped SCAN
/// pattern: any of them seen, counted or removed through the view is a failure of the contract.
struct uri_redis_stack_fixture {
    static constexpr const char* name = "open_storage(redis?prefix, encrypted)";
    static constexpr bool persistent = true;
    static constexpr bool shared_between_processes = true;
    manual_clock clock;
    uri_redis_stack_fixture() { shared_redis_server().flush_all(); }
    std::shared_ptr<storage> open() {
        redis_client raw(shared_redis_server().port());
        for (const char* key : {"t1:x", "t1ab:x", "t[1]*?:x", "t[1]x?\\:x", "t\\[1]*?\\:x"})
            raw.command({"SET", key, "neighbour"});
        open_storage_options options;
        options.clock = clock.function();
        options.encryption = test_encryption();
        return open_storage(shared_redis_server().uri() + "?prefix=t%5B1%5D%2A%3F%5C:&pool=3", options);
    }
};

} // namespace multisession::test

#define MULTISESSION_ALL_STORAGE_FIXTURES                                                                    \
    multisession::test::memory_fixture, multisession::test::file_fixture, multisession::test::sqlite_fixture, \
        multisession::test::encrypted_memory_fixture, multisession::test::prefixed_sqlite_fixture,            \
        multisession::test::encrypted_file_fixture, multisession::test::uri_sqlite_stack_fixture,            \
        multisession::test::redis_fixture, multisession::test::uri_redis_stack_fixture
