#include <multisession/storage/file.hpp>
namespace multisession {
std::shared_ptr<storage> make_file_storage(const std::filesystem::path&, file_storage_options) {
    throw error(storage_errc::invalid_configuration, "file storage: not built yet");
}
} // namespace multisession
