#include <multisession/error.hpp>

namespace multisession {
namespace {

class storage_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "multisession.storage"; }

    std::string message(int value) const override {
        switch (static_cast<storage_errc>(value)) {
        case storage_errc::io_error: return "storage I/O error";
        case storage_errc::corrupt_record: return "stored entry is corrupt";
        case storage_errc::busy: return "store is locked by another writer";
        case storage_errc::invalid_key: return "invalid key";
        case storage_errc::invalid_uri: return "invalid storage URI";
        case storage_errc::decryption_failed: return "stored value failed authentication";
        case storage_errc::unknown_key_id: return "stored value is sealed with an unknown key";
        case storage_errc::invalid_configuration: return "invalid storage configuration";
        case storage_errc::backend_error: return "storage backend error";
        }
        return "unknown storage error";
    }
};

} // namespace

const std::error_category& storage_category() noexcept {
    static const storage_category_impl category;
    return category;
}

std::error_code make_error_code(storage_errc e) noexcept { return {static_cast<int>(e), storage_category()}; }

} // namespace multisession
