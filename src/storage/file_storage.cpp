#include <multisession/storage/file.hpp>

#include "storage/file_name.hpp"
#include "storage/file_record.hpp"
#include "storage/key_text.hpp"

#include <openssl/crypto.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef F_OFD_SETLKW
#error "the file backend needs open-file-description locks (F_OFD_SETLKW)"
#endif

namespace multisession {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t stripe_count = 256;
constexpr const char* lock_file_name = ".lock";
constexpr std::string_view temp_prefix = ".tmp-";
// A writer keeps its temporary file for milliseconds; one this old belongs to a writer that died.
constexpr auto stale_temp_age = std::chrono::minutes(10);

std::string os_message(int err) { return std::generic_category().message(err); }

/// What an entry is called in messages: its key when known, else its file name. Never its content.
struct entry_ref {
    std::string_view name;
    std::optional<std::string_view> key;

    [[nodiscard]] std::string describe() const {
        if (key) return detail::printable_key(*key);
        return "file " + detail::printable_key(name);
    }
};

[[noreturn]] void throw_io(std::string_view what, const entry_ref& ref, int err) {
    throw error(storage_errc::io_error,
                "file storage: cannot " + std::string(what) + ' ' + ref.describe() + ": " + os_message(err));
}

error corrupt_error(const entry_ref& ref) {
    return {storage_errc::corrupt_record, "file storage: corrupt entry " + ref.describe()};
}

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    [[nodiscard]] int get() const { return fd_; }
    [[nodiscard]] explicit operator bool() const { return fd_ >= 0; }
    int release() { return std::exchange(fd_, -1); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

/// A byte buffer that may hold a stored value (a token), wiped before its memory is given back.
struct wiped_buffer {
    std::string bytes;

    wiped_buffer() = default;
    wiped_buffer(const wiped_buffer&) = delete;
    wiped_buffer& operator=(const wiped_buffer&) = delete;
    ~wiped_buffer() {
        if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
    }
};

/// The names in a directory, one at a time.
///
/// Streams readdir over a private open file description (so concurrent listings do not share a
/// read position) where the file system keeps an entry's place in the directory order when a
/// rename replaces it: ext2/3/4 and XFS order entries by a hash of the name. Elsewhere (tmpfs,
/// btrfs, ...) a rename over an existing name moves the entry to the end, so a listing that runs
/// while keys are rewritten could miss some and see others twice; there it reads every name first
/// (names only, never values) and then hands them out, which keeps "present throughout: visited
/// exactly once" at the cost of memory for the names.
class directory_listing {
public:
    directory_listing(int directory_fd, const fs::path& path) : path_(path) {
        unique_fd fd(::openat(directory_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) fail(path, errno);
        struct statfs info {};
        const bool stable_order = ::fstatfs(fd.get(), &info) == 0 && name_ordered(info.f_type);
        dir_ = ::fdopendir(fd.get());
        if (dir_ == nullptr) fail(path, errno);
        fd.release();
        if (!stable_order) {
            snapshot_.emplace();
            while (const char* name = read_next()) snapshot_->emplace_back(name);
            ::closedir(dir_);
            dir_ = nullptr;
        }
    }
    directory_listing(const directory_listing&) = delete;
    directory_listing& operator=(const directory_listing&) = delete;
    ~directory_listing() {
        if (dir_ != nullptr) ::closedir(dir_);
    }

    /// The next name, or nullptr at the end.
    const char* next() {
        if (!snapshot_) return read_next();
        return position_ < snapshot_->size() ? (*snapshot_)[position_++].c_str() : nullptr;
    }

private:
    static bool name_ordered(decltype(statfs::f_type) type) {
        constexpr decltype(type) ext_magic = 0xEF53;
        constexpr decltype(type) xfs_magic = 0x58465342;
        return type == ext_magic || type == xfs_magic;
    }

    const char* read_next() {
        errno = 0;
        // readdir is only unsafe on a stream shared between threads; each listing has its own.
        const dirent* entry = ::readdir(dir_); // NOLINT(concurrency-mt-unsafe)
        if (entry == nullptr) {
            if (errno != 0) fail(path_, errno);
            return nullptr;
        }
        return entry->d_name;
    }

    [[noreturn]] static void fail(const fs::path& path, int err) {
        throw error(storage_errc::io_error, "file storage: cannot list directory " +
                                                detail::printable_key(path.native()) + ": " + os_message(err));
    }

    DIR* dir_ = nullptr;
    fs::path path_;
    std::optional<std::vector<std::string>> snapshot_;
    std::size_t position_ = 0;
};

enum class load_status { absent, corrupt, loaded };

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

/// One file per key, written by rename so readers never lock. Writers serialise per stripe of
/// file names: an in-process mutex (threads share one open file description, which OFD locks do
/// not separate) plus a byte-range lock on ".lock" that excludes other processes and other stores
/// opened on the same directory.
class file_storage final : public storage {
public:
    file_storage(fs::path directory, file_storage_options options)
        : storage(std::move(options.clock)), path_(std::move(directory)), durable_(options.durable) {
        if (options.on_error) set_error_handler(std::move(options.on_error));
        open_directory();
        lock_fd_ =
            unique_fd(::openat(directory_fd_.get(), lock_file_name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!lock_fd_) throw_directory_error("open the lock file in", errno);
    }

private:
    /// Holds one stripe against other threads and other processes.
    class stripe_guard {
    public:
        stripe_guard(file_storage& owner, std::size_t stripe) : owner_(owner), stripe_(stripe) {
            owner_.stripe_mutexes_[stripe_].lock();
            if (!owner_.lock_range(stripe_, F_WRLCK)) {
                const int err = errno;
                owner_.stripe_mutexes_[stripe_].unlock();
                owner_.throw_directory_error("lock", err);
            }
        }
        stripe_guard(const stripe_guard&) = delete;
        stripe_guard& operator=(const stripe_guard&) = delete;
        ~stripe_guard() {
            if (!owner_.lock_range(stripe_, F_UNLCK)) {
                const int err = errno;
                owner_.report(error(storage_errc::io_error, "file storage: cannot release a lock in " +
                                                                detail::printable_key(owner_.path_.native()) + ": " +
                                                                os_message(err)));
            }
            owner_.stripe_mutexes_[stripe_].unlock();
        }

    private:
        file_storage& owner_;
        std::size_t stripe_;
    };

    // ---- storage ----

    std::optional<std::string> do_get(std::string_view key, time_point now) override {
        const std::string name = detail::file_name_for(key);
        const entry_ref ref{name, key};
        wiped_buffer buffer;
        detail::record_view record;
        switch (load(ref, buffer, record)) {
        case load_status::absent:
            return std::nullopt;
        case load_status::corrupt:
            throw corrupt_error(ref);
        case load_status::loaded:
            break;
        }
        if (!record.live(now)) return std::nullopt;
        return std::string(record.value);
    }

    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        const std::string name = detail::file_name_for(key);
        const entry_ref ref{name, key};
        stripe_guard guard(*this, stripe_of(name));
        write_entry(ref, value, expires_at);
    }

    bool do_remove(std::string_view key, time_point now) override {
        const std::string name = detail::file_name_for(key);
        const entry_ref ref{name, key};
        stripe_guard guard(*this, stripe_of(name));
        wiped_buffer buffer;
        detail::record_view record;
        const load_status status = load(ref, buffer, record);
        if (status == load_status::absent) return false;
        // A corrupt entry is removed too, and counts: removing it is how a caller gets past the
        // corrupt_record that get() keeps throwing for this key.
        if (!unlink_entry(ref)) return false;
        sync_directory_if_durable();
        return status == load_status::corrupt || record.live(now);
    }

    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point now) override {
        const std::string name = detail::file_name_for(key);
        const entry_ref ref{name, key};
        stripe_guard guard(*this, stripe_of(name));
        wiped_buffer buffer;
        detail::record_view record;
        const load_status status = load(ref, buffer, record);
        if (status == load_status::corrupt) throw corrupt_error(ref);
        const bool exists = status == load_status::loaded;
        const bool present = exists && record.live(now);
        if (expected ? !present || record.value != *expected : present) return false;
        if (desired) {
            write_entry(ref, *desired, expires_at);
        } else if (exists && unlink_entry(ref)) {
            sync_directory_if_durable();
        }
        return true;
    }

    /// Calls `fn(ref)` for each entry file that may hold a key under `prefix`: escaped names are
    /// filtered here, before any file is opened; a hashed name may hold any key. `fn` returns false
    /// to stop.
    template <class Fn>
    void for_each_entry_file(std::string_view prefix, Fn&& fn) {
        directory_listing listing(directory_fd_.get(), path_);
        while (const char* raw = listing.next()) {
            const std::string_view name(raw);
            std::optional<std::string> spelled;
            if (!entry_name(name, spelled)) continue;
            if (spelled && !starts_with(*spelled, prefix)) continue;
            const entry_ref ref{name, spelled ? std::optional<std::string_view>(*spelled) : std::nullopt};
            if (!fn(ref)) return;
        }
    }

    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point now) override {
        for_each_entry_file(prefix, [&](const entry_ref& ref) {
            wiped_buffer buffer;
            detail::record_view record;
            const load_status status = load(ref, buffer, record);
            if (status == load_status::absent) return true;
            if (status == load_status::corrupt) {
                report(corrupt_error(ref));
                return true;
            }
            if (!starts_with(record.key, prefix) || !record.live(now)) return true;
            return visit(record.key, with_values ? record.value : std::string_view());
        });
    }

    std::size_t do_remove_prefix(std::string_view prefix, time_point now) override {
        std::size_t removed = 0;
        bool changed = false;
        for_each_entry_file(prefix, [&](const entry_ref& ref) {
            stripe_guard guard(*this, stripe_of(ref.name));
            wiped_buffer buffer;
            detail::record_view record;
            const load_status status = load(ref, buffer, record);
            if (status == load_status::absent) return true;
            if (status == load_status::corrupt) {
                // In scope when the name tells the key, or when everything is: removed and counted
                // as remove() would. A hashed name hides its key, so it may not be ours to delete.
                if (!ref.key && !prefix.empty()) {
                    report(corrupt_error(ref));
                    return true;
                }
                if (unlink_entry(ref)) {
                    changed = true;
                    ++removed;
                }
                return true;
            }
            if (!starts_with(record.key, prefix)) return true;
            if (unlink_entry(ref)) {
                changed = true;
                if (record.live(now)) ++removed;
            }
            return true;
        });
        // One directory sync for the batch: the removals are durable when the call returns.
        if (changed) sync_directory_if_durable();
        return removed;
    }

    std::size_t do_purge_expired(time_point now) override {
        std::size_t purged = 0;
        directory_listing listing(directory_fd_.get(), path_);
        while (const char* raw = listing.next()) {
            const std::string_view name(raw);
            if (starts_with(name, temp_prefix)) {
                remove_if_stale_temp(name);
                continue;
            }
            std::optional<std::string> spelled;
            if (!entry_name(name, spelled)) continue;
            const entry_ref ref{name, spelled ? std::optional<std::string_view>(*spelled) : std::nullopt};

            // Look without the lock first: most entries are live, and locking every stripe in
            // turn would stall writers for nothing.
            {
                wiped_buffer buffer;
                detail::record_view record;
                const load_status status = load(ref, buffer, record);
                if (status == load_status::corrupt) report(corrupt_error(ref));
                if (status != load_status::loaded || record.live(now)) continue;
            }
            stripe_guard guard(*this, stripe_of(name));
            wiped_buffer buffer;
            detail::record_view record;
            if (load(ref, buffer, record) != load_status::loaded || record.live(now)) continue;
            if (unlink_entry(ref)) ++purged;
        }
        if (purged > 0) sync_directory_if_durable();
        return purged;
    }

    // ---- files ----

    void open_directory() {
        fs::path dir = path_.lexically_normal();
        if (!dir.has_filename() && dir.has_parent_path()) dir = dir.parent_path();
        // Only the store's own directory gets the restrictive mode; parents the caller did not have
        // yet are made as create_directories makes them.
        bool created = ::mkdir(dir.c_str(), 0700) == 0;
        if (!created && errno == ENOENT && dir.has_parent_path()) {
            std::error_code ec;
            fs::create_directories(dir.parent_path(), ec);
            if (ec) throw_directory_error("create the parent of", ec.value());
            created = ::mkdir(dir.c_str(), 0700) == 0;
        }
        if (!created && errno != EEXIST) throw_directory_error("create", errno);

        directory_fd_ = unique_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!directory_fd_) throw_directory_error("open", errno);
        if (created && durable_) {
            // The new directory's own name must survive a crash too, or every later synced write
            // in it could vanish with it.
            const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
            unique_fd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
            if (!parent_fd || ::fsync(parent_fd.get()) != 0) throw_directory_error("sync the parent of", errno);
        }
    }

    [[noreturn]] void throw_directory_error(std::string_view what, int err) const {
        throw error(storage_errc::io_error, "file storage: cannot " + std::string(what) + " directory " +
                                                detail::printable_key(path_.native()) + ": " + os_message(err));
    }

    /// Whether `name` is an entry file; for a spelled-out name, `spelled` receives its key. Our own
    /// dot files and names we never create are skipped silently; a name in our scheme that is not
    /// canonical is reported as corrupt.
    bool entry_name(std::string_view name, std::optional<std::string>& spelled) const {
        if (name.empty() || name[0] == '.') return false;
        if (name[0] == detail::encoded_name_tag) {
            spelled = detail::key_from_encoded_name(name);
            if (!spelled) report(corrupt_error(entry_ref{name, std::nullopt}));
            return spelled.has_value();
        }
        if (name[0] == detail::hashed_name_tag) {
            if (detail::is_hashed_name(name)) return true;
            report(corrupt_error(entry_ref{name, std::nullopt}));
        }
        return false;
    }

    /// Reads and checks the file `ref.name`: the record must be well formed and belong to the key
    /// that file name stands for (ref.key when the caller knows it).
    load_status load(const entry_ref& ref, wiped_buffer& buffer, detail::record_view& record) const {
        const std::string name(ref.name);
        unique_fd fd(::openat(directory_fd_.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (!fd) {
            if (errno == ENOENT) return load_status::absent;
            if (errno == ELOOP) return load_status::corrupt; // a symlink: never one of ours
            throw_io("open", ref, errno);
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) throw_io("stat", ref, errno);
        if (!S_ISREG(st.st_mode)) return load_status::corrupt;

        buffer.bytes.resize(static_cast<std::size_t>(st.st_size));
        std::size_t done = 0;
        while (done < buffer.bytes.size()) {
            const ssize_t n = ::read(fd.get(), buffer.bytes.data() + done, buffer.bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw_io("read", ref, errno);
            }
            if (n == 0) break;
            done += static_cast<std::size_t>(n);
        }
        const auto decoded = detail::decode_record(std::string_view(buffer.bytes).substr(0, done));
        if (!decoded) return load_status::corrupt;
        const bool belongs = ref.key ? decoded->key == *ref.key : detail::file_name_for(decoded->key) == ref.name;
        if (!belongs) return load_status::corrupt;
        record = *decoded;
        return load_status::loaded;
    }

    /// Replaces the entry with a complete new file: a reader, or a crash, sees the old file or the
    /// new one, never a mix. The caller holds the stripe.
    void write_entry(const entry_ref& ref, std::string_view value, std::optional<time_point> expires_at) {
        wiped_buffer record;
        detail::encode_record(record.bytes, *ref.key, value, expires_at);

        std::string temp_name;
        unique_fd fd = create_temp(ref, temp_name);
        struct temp_remover {
            int directory_fd;
            const std::string* name;
            ~temp_remover() {
                if (name != nullptr) ::unlinkat(directory_fd, name->c_str(), 0);
            }
        } remover{directory_fd_.get(), &temp_name};

        std::size_t done = 0;
        while (done < record.bytes.size()) {
            const ssize_t n = ::write(fd.get(), record.bytes.data() + done, record.bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw_io("write", ref, errno);
            }
            if (n == 0) throw_io("write", ref, EIO);
            done += static_cast<std::size_t>(n);
        }
        if (durable_ && ::fsync(fd.get()) != 0) throw_io("sync", ref, errno);
        // close() is where some file systems (NFS) report a failed write.
        if (::close(fd.release()) != 0) throw_io("write", ref, errno);

        const std::string name(ref.name);
        if (::renameat(directory_fd_.get(), temp_name.c_str(), directory_fd_.get(), name.c_str()) != 0)
            throw_io("rename into place", ref, errno);
        remover.name = nullptr;
        sync_directory_if_durable(ref);
    }

    unique_fd create_temp(const entry_ref& ref, std::string& temp_name) const {
        static constexpr std::string_view hex = "0123456789abcdef";
        thread_local std::mt19937_64 random{std::random_device{}()};
        for (int attempt = 0;; ++attempt) {
            std::uint64_t bits = random();
            temp_name.assign(temp_prefix);
            for (int i = 0; i < 16; ++i, bits >>= 4)
                temp_name += hex[bits & 15];
            unique_fd fd(::openat(directory_fd_.get(), temp_name.c_str(),
                                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
            if (fd) return fd;
            // Another writer (perhaps a forked child with a copy of our generator) took the name.
            if (errno != EEXIST || attempt == 16) throw_io("create a temporary file for", ref, errno);
        }
    }

    /// Unlinks the entry file; false if it was already gone. The caller holds the stripe.
    bool unlink_entry(const entry_ref& ref) {
        const std::string name(ref.name);
        if (::unlinkat(directory_fd_.get(), name.c_str(), 0) == 0) return true;
        if (errno == ENOENT) return false;
        throw_io("remove", ref, errno);
    }

    void sync_directory_if_durable(const entry_ref& ref) const {
        if (durable_ && ::fsync(directory_fd_.get()) != 0) throw_io("sync the directory after writing", ref, errno);
    }

    void sync_directory_if_durable() const {
        if (durable_ && ::fsync(directory_fd_.get()) != 0) throw_directory_error("sync", errno);
    }

    void remove_if_stale_temp(std::string_view name) {
        const std::string temp(name);
        struct stat st {};
        if (::fstatat(directory_fd_.get(), temp.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
        // File times are wall-clock facts, so they are compared with the real clock, not the
        // store's (possibly injected) one.
        const auto modified =
            std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
                std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
        if (std::chrono::system_clock::now() - modified < stale_temp_age) return;
        // Best effort: if it cannot go now, the next purge tries again.
        ::unlinkat(directory_fd_.get(), temp.c_str(), 0);
    }

    // ---- locks ----

    static std::size_t stripe_of(std::string_view name) {
        std::uint64_t h = 14695981039346656037ull; // FNV-1a
        for (const char c : name)
            h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
        return static_cast<std::size_t>(h % stripe_count);
    }

    bool lock_range(std::size_t stripe, short type) const {
        struct flock range {};
        range.l_type = type;
        range.l_whence = SEEK_SET;
        range.l_start = static_cast<off_t>(stripe);
        range.l_len = 1;
        range.l_pid = 0; // required for OFD locks
        for (;;) {
            if (::fcntl(lock_fd_.get(), type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW, &range) == 0) return true;
            if (errno != EINTR) return false;
        }
    }

    fs::path path_;
    bool durable_;
    unique_fd directory_fd_;
    unique_fd lock_fd_;
    std::array<std::mutex, stripe_count> stripe_mutexes_;
};

} // namespace

std::shared_ptr<storage> make_file_storage(const std::filesystem::path& directory, file_storage_options options) {
    return std::make_shared<file_storage>(directory, std::move(options));
}

} // namespace multisession
