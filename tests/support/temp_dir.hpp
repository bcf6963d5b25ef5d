// A directory under $TMPDIR (or /tmp) that is removed with everything in it when the object dies.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace multisession::test {

class temp_dir {
public:
    temp_dir() : temp_dir(default_base()) {}

    /// A directory named "<stem>-XXXXXX" under `base`. Throws std::runtime_error naming `base`.
    explicit temp_dir(const std::filesystem::path& base, const std::string& stem = "multisession-test") {
        std::string pattern = (base / (stem + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("cannot create a directory in " + base.string());
        path_ = pattern;
    }

    static std::filesystem::path default_base() {
        const char* base = std::getenv("TMPDIR");
        return base && *base ? base : "/tmp";
    }
    ~temp_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }
    [[nodiscard]] std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

} // namespace multisession::test
