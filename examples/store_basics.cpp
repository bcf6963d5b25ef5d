// The README's "store in thirty lines", compiled and run as a test so it stays true.
#include <multisession/multisession.hpp>

#include <cstdio>
#include <filesystem>

#include <unistd.h>

using namespace multisession;
using namespace std::chrono_literals;

int main() {
    const auto dir = std::filesystem::temp_directory_path() / ("multisession-basics-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);

    // Chosen by configuration: memory:, file:/dir, sqlite:/path.db, each with ?prefix=tenant:
    open_storage_options options;
    options.encryption = encryption_options{{{"k1", generate_encryption_key()}}, "k1"};
    auto store = open_storage("sqlite:" + (dir / "sessions.db").string() + "?prefix=tenant-a:", options);

    store->set("solidClientAuthenticationUser:42", R"({"issuer":"https://idp.example"})");
    const auto record = store->get("solidClientAuthenticationUser:42"); // std::optional<std::string>

    // A lease: atomic across threads and processes, gone by itself after 30 s.
    const bool mine = store->compare_and_set("lease:42", std::nullopt, "node-1", store->now() + 30s);
    const bool again = store->compare_and_set("lease:42", std::nullopt, "node-2", store->now() + 30s);

    std::size_t listed = 0;
    store->for_each_key("solidClientAuthenticationUser:", [&](std::string_view) { ++listed; }); // streamed
    const std::size_t removed = store->remove_prefix("solidClientAuthenticationUser:");         // one batch

    std::filesystem::remove_all(dir);
    std::printf("record %s, lease %s then %s, listed %zu, removed %zu\n", record ? "found" : "missing",
                mine ? "taken" : "refused", again ? "taken" : "refused", listed, removed);
    return record && mine && !again && listed == 1 && removed == 1 ? 0 : 1;
}
