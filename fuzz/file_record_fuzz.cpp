// The file backend's on-disk record (src/storage/file_record.hpp): whatever a crash, a full disk,
// a copy or a hostile user left in a store's directory.
#include "fuzz_target.hpp"

#include "storage/file_record.hpp"

using namespace multisession;
using multisession::fuzz::fuzz_check;

namespace {

void check_record(std::string_view input) {
    const auto record = detail::decode_record(input);
    if (!record) return;
    fuzz_check(!record->key.empty() && record->key.size() <= storage::max_key_size, "a decoded key has a valid size");
    // One encoding per record: writing the decoded parts gives back exactly the bytes read, so no
    // two different files mean the same entry.
    std::string again;
    detail::encode_record(again, record->key, record->value, record->expires_at);
    fuzz_check(again == input, "a decoded record encodes to the same bytes");
}

} // namespace

FUZZ_TARGET(file_record) {
    check_record(input);
    // The same bytes with a correct CRC, so the checks behind it are reached too.
    if (input.size() < detail::record_header_size + detail::record_trailer_size) return;
    std::string fixed(input.substr(0, input.size() - detail::record_trailer_size));
    detail::record_bytes::put(fixed, detail::crc32(fixed), 4);
    check_record(fixed);
}
