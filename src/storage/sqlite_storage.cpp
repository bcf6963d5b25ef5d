#include <multisession/storage/sqlite.hpp>
namespace multisession {
std::shared_ptr<storage> make_sqlite_storage(const std::filesystem::path&, sqlite_storage_options) {
    throw error(storage_errc::invalid_configuration, "sqlite storage: not built yet");
}
} // namespace multisession
