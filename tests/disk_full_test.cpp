// Durability under a full disk: the file and SQLite backends must fail a write that does not fit
// with a clear error, keep the previous value readable (also after reopening), and work again once
// there is room. Two ways to run out of room:
//   - a real file system that is full: a 1 MiB tmpfs mounted for the test and filled up (needs
//     the right to mount, i.e. root; the case says so and is skipped without it);
//   - a file size limit (RLIMIT_FSIZE), which makes any write that would grow a file past it
//     fail with EFBIG, as a full disk fails it with ENOSPC; available to every user.
#include "support/temp_dir.hpp"

#include <multisession/storage/file.hpp>
#include <multisession/storage/sqlite.hpp>

#include <doctest/doctest.h>

#include <sys/mount.h>
#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace multisession;
namespace fs = std::filesystem;

namespace {

using opener = std::function<std::shared_ptr<storage>(const fs::path&)>;

std::shared_ptr<storage> open_file_store(const fs::path& dir) { return make_file_storage(dir / "store"); }

std::shared_ptr<storage> open_sqlite_store(const fs::path& dir) {
    sqlite_storage_options options;
    options.synchronous = sqlite_synchronous::full;
    return make_sqlite_storage(dir / "store.db", options);
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted at the end. `mounted()` is false when
/// this process may not mount.
class small_filesystem {
public:
    explicit small_filesystem(const char* size) {
        const std::string options = std::string("size=") + size + ",mode=0700";
        if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) == 0) {
            mounted_ = true;
        } else {
            why_ = std::strerror(errno);
        }
    }
    ~small_filesystem() {
        if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
    }
    small_filesystem(const small_filesystem&) = delete;
    small_filesystem& operator=(const small_filesystem&) = delete;

    [[nodiscard]] bool mounted() const { return mounted_; }
    [[nodiscard]] const std::string& why() const { return why_; }
    [[nodiscard]] const fs::path& path() const { return dir_.path(); }

    /// Writes a filler file until the file system refuses more; returns the bytes written.
    std::size_t fill() {
        std::FILE* f = std::fopen((path() / "filler").c_str(), "wb");
        REQUIRE(f != nullptr);
        std::setvbuf(f, nullptr, _IONBF, 0);
        const std::string block(4096, 'f');
        std::size_t written = 0;
        while (std::fwrite(block.data(), 1, block.size(), f) == block.size()) written += block.size();
        // A last partial page, so that not even one more byte fits.
        while (std::fwrite("f", 1, 1, f) == 1) ++written;
        std::fclose(f);
        return written;
    }
    void unfill() { fs::remove(path() / "filler"); }

private:
    test::temp_dir dir_;
    bool mounted_ = false;
    std::string why_;
};

/// Lowers the file size limit of this process for its lifetime (SIGXFSZ ignored, so a write past
/// the limit fails with EFBIG instead of killing the process).
class file_size_limit {
public:
    explicit file_size_limit(rlim_t bytes) {
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_) == 0);
        old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
        rlimit lowered = saved_;
        lowered.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
    }
    ~file_size_limit() {
        ::setrlimit(RLIMIT_FSIZE, &saved_);
        std::signal(SIGXFSZ, old_handler_);
    }
    file_size_limit(const file_size_limit&) = delete;
    file_size_limit& operator=(const file_size_limit&) = delete;

private:
    rlimit saved_{};
    void (*old_handler_)(int) = nullptr;
};

/// A write that cannot fit must throw a multisession::error that names the key and not the value,
/// and must leave the previous value in place.
void check_refused(const std::function<void()>& write, storage& store, const std::string& value_marker) {
    std::optional<std::string> message;
    try {
        write();
    } catch (const error& e) {
        message = e.what();
        CHECK(e.code() == make_error_code(storage_errc::io_error));
    }
    REQUIRE_MESSAGE(message.has_value(), "a write that cannot fit was accepted");
    MESSAGE("refused with: " << *message);
    CHECK(message->find("keep") != std::string::npos);
    CHECK(message->find(value_marker) == std::string::npos);
    CHECK(store.get("keep") == "before");
}

/// The checks shared by both ways of running out of room, from the moment there is none.
/// `big` does not fit at all; then several threads at once try writes that do not fit.
void check_out_of_room(storage& store, const std::string& big) {
    check_refused([&] { store.set("keep", big); }, store, "SECRETVALUE");
    check_refused([&] { store.compare_and_set("keep", "before", big); }, store, "SECRETVALUE");
    CHECK_THROWS_AS(store.set("new", big), error);
    CHECK_FALSE(store.get("new").has_value());

    // Concurrent writers (SQLite batches them into one transaction, then retries them one by one
    // when the batch fails): every one of them gets its own error, none hangs, nothing changes.
    std::vector<std::thread> writers;
    std::vector<int> refused(6, 0);
    for (std::size_t i = 0; i < refused.size(); ++i) {
        writers.emplace_back([&, i] {
            try {
                store.set(i % 2 == 0 ? "keep" : "new" + std::to_string(i), big + std::to_string(i));
            } catch (const error&) {
                refused[i] = 1;
            }
        });
    }
    for (auto& t : writers) t.join();
    for (std::size_t i = 0; i < refused.size(); ++i) CHECK_MESSAGE(refused[i] == 1, "writer " << i << " was not refused");
    CHECK(store.get("keep") == "before");
    CHECK(store.get("other") == "untouched");
}

void check_room_again(storage& store) {
    store.set("keep", "after");
    CHECK(store.get("keep") == "after");
}

void run_full_filesystem(const opener& open) {
    small_filesystem disk("1m");
    if (!disk.mounted()) {
        MESSAGE("skipped: cannot mount a tmpfs here (" << disk.why() << "); the file size limit case covers it");
        return;
    }
    const std::string big = "SECRETVALUE" + std::string(2 * 1024 * 1024, 'x'); // larger than the disk
    {
        auto store = open(disk.path());
        store->set("keep", "before");
        store->set("other", "untouched");
        const std::size_t filled = disk.fill();
        MESSAGE("filled the last " << filled << " bytes of the 1 MiB tmpfs");
        check_out_of_room(*store, big);
        // A small write either fits somewhere already allocated (SQLite's WAL) or is refused;
        // either way the store stays consistent.
        try {
            store->set("small", "s");
            CHECK(store->get("small") == "s");
        } catch (const error&) {
            CHECK_FALSE(store->get("small").has_value());
        }
    }
    {
        // A fresh open on the full disk sees the previous values.
        auto store = open(disk.path());
        CHECK(store->get("keep") == "before");
        CHECK(store->get("other") == "untouched");
        disk.unfill();
        check_room_again(*store);
    }
    auto store = open(disk.path());
    CHECK(store->get("keep") == "after");
    CHECK(store->get("other") == "untouched");
}

void run_file_size_limit(const opener& open) {
    test::temp_dir dir;
    const std::string big = "SECRETVALUE" + std::string(4 * 1024 * 1024, 'x');
    {
        auto store = open(dir.path());
        store->set("keep", "before");
        store->set("other", "untouched");
        {
            file_size_limit limit(1024 * 1024);
            check_out_of_room(*store, big);
        }
        check_room_again(*store);
    }
    auto store = open(dir.path());
    CHECK(store->get("keep") == "after");
    CHECK(store->get("other") == "untouched");
}

} // namespace

TEST_CASE("file store on a full file system") { run_full_filesystem(open_file_store); }
TEST_CASE("SQLite store on a full file system") { run_full_filesystem(open_sqlite_store); }
TEST_CASE("file store past the file size limit") { run_file_size_limit(open_file_store); }
TEST_CASE("SQLite store past the file size limit") { run_file_size_limit(open_sqlite_store); }
