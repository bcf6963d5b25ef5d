#include <multisession/storage/encrypted.hpp>

#include "storage/crypto_aes_gcm.hpp"
#include "storage/key_text.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace multisession {
namespace {

// The envelope, stored as the inner value:
//
//   "MSE1" | id length (1 byte) | key id | nonce (12 bytes) | ciphertext | tag (16 bytes)
//
// and the sealed plaintext is  value | [expiry: 8 bytes, big-endian] | flags (1 byte).
//
// The header (magic, id length, id) is in clear so the right key can be found before decrypting,
// and is authenticated as associated data together with a fixed label and the entry's key name:
// a value copied under another key name, or relabelled with another key id, fails to open.
// The expiry rides inside the ciphertext because the storage interface cannot read an entry's
// expiry back, and reencrypt() must rewrite an entry without dropping it; it sits after the value
// so that opening can trim it off in place instead of copying the plaintext.
constexpr std::string_view envelope_magic = "MSE1";
// Domain separation: these keys seal nothing else, but the label costs nothing and rules out
// confusion with any future format that might reuse them.
constexpr std::string_view associated_label = "multisession.encrypted-storage.v1";
constexpr std::size_t max_key_id_size = 255;
constexpr unsigned char flag_has_expiry = 0x01;
constexpr std::size_t expiry_size = 8;

using detail::aes_256_key_size;
using detail::gcm_nonce_size;
using detail::gcm_tag_size;

/// The parts of an envelope, as views into the stored bytes.
struct envelope {
    std::string_view header; // magic, id length and id: authenticated
    std::string_view key_id;
    std::string_view nonce;
    std::string_view ciphertext;
    std::string_view tag;
};

/// Splits `sealed` into its parts, or nullopt if it cannot be an envelope. Every length is checked
/// against what is left before it is used.
std::optional<envelope> parse_envelope(std::string_view sealed) {
    if (sealed.size() < envelope_magic.size() + 1 || sealed.substr(0, envelope_magic.size()) != envelope_magic)
        return std::nullopt;
    const std::size_t id_size = static_cast<unsigned char>(sealed[envelope_magic.size()]);
    const std::size_t header_size = envelope_magic.size() + 1 + id_size;
    // At least one ciphertext byte: the flags byte is always sealed.
    if (id_size == 0 || sealed.size() < header_size + gcm_nonce_size + 1 + gcm_tag_size) return std::nullopt;
    envelope out;
    out.header = sealed.substr(0, header_size);
    out.key_id = sealed.substr(envelope_magic.size() + 1, id_size);
    out.nonce = sealed.substr(header_size, gcm_nonce_size);
    out.ciphertext = sealed.substr(header_size + gcm_nonce_size, sealed.size() - header_size - gcm_nonce_size - gcm_tag_size);
    out.tag = sealed.substr(sealed.size() - gcm_tag_size);
    return out;
}

// Expiries travel as signed nanoseconds since the Unix epoch, independent of the platform's
// system_clock resolution, so stores shared between machines agree. Saturating, so that
// time_point::max() on a coarser clock does not overflow.
std::int64_t expiry_to_wire(time_point t) {
    using std::chrono::nanoseconds;
    const auto since = t.time_since_epoch();
    if (since >= std::chrono::duration_cast<time_point::duration>(nanoseconds::max()))
        return std::numeric_limits<std::int64_t>::max();
    if (since <= std::chrono::duration_cast<time_point::duration>(nanoseconds::min()))
        return std::numeric_limits<std::int64_t>::min();
    return std::chrono::duration_cast<nanoseconds>(since).count();
}

time_point expiry_from_wire(std::int64_t ns) {
    return time_point(std::chrono::duration_cast<time_point::duration>(std::chrono::nanoseconds(ns)));
}

/// One key of the ring. The material lives in a fixed array wiped when the key dies (or is moved
/// from), never in a string buffer that a reallocation could leave behind.
struct ring_key {
    std::string id;
    std::array<unsigned char, aes_256_key_size> bytes{};

    ring_key(std::string key_id, std::string_view material) : id(std::move(key_id)) {
        std::copy(material.begin(), material.end(), bytes.begin());
    }
    ring_key(ring_key&& other) noexcept : id(std::move(other.id)), bytes(other.bytes) {
        detail::cleanse(other.bytes.data(), other.bytes.size());
    }
    ring_key(const ring_key&) = delete;
    ring_key& operator=(const ring_key&) = delete;
    ring_key& operator=(ring_key&&) = delete;
    ~ring_key() { detail::cleanse(bytes.data(), bytes.size()); }
};

bool is_entry_problem(const std::error_code& code) {
    return code == storage_errc::corrupt_record || code == storage_errc::decryption_failed ||
           code == storage_errc::unknown_key_id;
}

/// Seals values on the way in and opens them on the way out, forwarding to the inner store's
/// public methods. The key ring is fixed at construction, so no lock is needed: every operation
/// uses its own cipher context. Expiry is the inner store's: its clock decides, and this view
/// reports the inner store's now().
class encrypted_storage final : public storage {
public:
    encrypted_storage(std::shared_ptr<storage> inner, std::vector<ring_key> keys, std::size_t current)
        : storage([inner] { return inner->now(); }), inner_(std::move(inner)), keys_(std::move(keys)),
          current_(current) {}

    /// reencrypt(): rewrites, under `prefix`, every entry sealed with a key other than the current one.
    std::size_t rewrite_stale(std::string_view prefix) {
        std::size_t rewritten = 0;
        const std::string_view current_id = keys_[current_].id;
        inner_->for_each(prefix, [&](std::string_view key, std::string_view sealed) {
            if (const auto parts = parse_envelope(sealed); parts && parts->key_id == current_id) return;
            std::string plaintext;
            const detail::cleanse_on_exit wipe(plaintext);
            std::optional<time_point> expires_at;
            // One unreadable entry must not stop a rotation of thousands; the operator hears about
            // it through the handler, and it stays as it was.
            if (!open_entry(key, sealed, plaintext, [&](const error& e) { report(e); }, &expires_at)) return;
            // Compare against the exact ciphertext read: if a writer replaced it meanwhile, its value
            // is already sealed with a current key (or is newer than ours), so it is left alone.
            if (inner_->compare_and_set(key, sealed, seal(key, plaintext, expires_at), expires_at)) ++rewritten;
        });
        return rewritten;
    }

private:
    [[nodiscard]] const ring_key* find_key(std::string_view id) const {
        for (const auto& key : keys_)
            if (key.id == id) return &key;
        return nullptr;
    }

    /// A fresh envelope for `value` under the current key. The nonce is new random bytes on every
    /// call: with random 96-bit nonces, 2^32 seals per key keep the collision risk below 2^-32.
    [[nodiscard]] std::string seal(std::string_view key, std::string_view value,
                                   std::optional<time_point> expires_at) const {
        const ring_key& sealing = keys_[current_];

        std::array<unsigned char, expiry_size + 1> trailer{};
        std::size_t trailer_size = 0;
        if (expires_at) {
            const auto wire = static_cast<std::uint64_t>(expiry_to_wire(*expires_at));
            for (std::size_t i = 0; i < expiry_size; ++i)
                trailer[i] = static_cast<unsigned char>(wire >> (8 * (expiry_size - 1 - i)));
            trailer_size = expiry_size;
        }
        trailer[trailer_size++] = expires_at ? flag_has_expiry : 0;

        const std::size_t header_size = envelope_magic.size() + 1 + sealing.id.size();
        const std::size_t ciphertext_size = value.size() + trailer_size;
        std::string out(header_size + gcm_nonce_size + ciphertext_size + gcm_tag_size, '\0');
        out.replace(0, envelope_magic.size(), envelope_magic);
        out[envelope_magic.size()] = static_cast<char>(sealing.id.size());
        out.replace(envelope_magic.size() + 1, sealing.id.size(), sealing.id);

        auto* base = reinterpret_cast<unsigned char*>(out.data());
        unsigned char* nonce = base + header_size;
        detail::random_bytes(nonce, gcm_nonce_size);
        const std::string_view header(out.data(), header_size);
        const std::string_view trailer_view(reinterpret_cast<const char*>(trailer.data()), trailer_size);
        detail::aes_256_gcm_seal(sealing.bytes.data(), nonce, {associated_label, header, key}, {value, trailer_view},
                                 nonce + gcm_nonce_size, nonce + gcm_nonce_size + ciphertext_size);
        return out;
    }

    /// open() for enumerations, where one damaged entry must not end the walk: an entry that does
    /// not open (corrupt_record, unknown_key_id, decryption_failed) goes to `damaged` and false is
    /// returned. Failures of the crypto library itself are not about the entry and propagate.
    /// `expires_at`, when given, receives the expiry the entry was sealed with.
    template <class OnDamage>
    bool open_entry(std::string_view key, std::string_view sealed, std::string& plaintext, OnDamage&& damaged,
                    std::optional<time_point>* expires_at = nullptr) const {
        try {
            const auto sealed_expiry = open(key, sealed, plaintext);
            if (expires_at) *expires_at = sealed_expiry;
            return true;
        } catch (const error& e) {
            if (!is_entry_problem(e.code())) throw;
            damaged(e);
            return false;
        }
    }

    /// Opens the envelope `sealed`, stored under `key`, into `plaintext`; returns the expiry it was
    /// sealed with. Throws multisession::error naming `key`: corrupt_record, unknown_key_id or
    /// decryption_failed. `plaintext` holds nothing unauthenticated if this throws.
    std::optional<time_point> open(std::string_view key, std::string_view sealed, std::string& plaintext) const {
        const auto parts = parse_envelope(sealed);
        if (!parts)
            throw error(storage_errc::corrupt_record,
                        detail::key_context("encrypted storage: entry", key) + " is not an encryption envelope");
        const ring_key* opening = find_key(parts->key_id);
        if (!opening)
            throw error(storage_errc::unknown_key_id, detail::key_context("encrypted storage: entry", key) +
                                                          " (key id " + detail::printable_key(parts->key_id) + ")");
        const bool authentic = detail::aes_256_gcm_open(
            opening->bytes.data(), reinterpret_cast<const unsigned char*>(parts->nonce.data()),
            {associated_label, parts->header, key}, parts->ciphertext,
            reinterpret_cast<const unsigned char*>(parts->tag.data()), plaintext);
        if (!authentic)
            throw error(storage_errc::decryption_failed, detail::key_context("encrypted storage: entry", key) +
                                                              " (key id " + detail::printable_key(parts->key_id) + ")");

        // Authentic, so a bad trailer means a writer with the key produced it: not an attack, a bug
        // or a future format. Refuse rather than guess.
        const auto bad_trailer = [&] {
            detail::cleanse(plaintext);
            plaintext.clear();
            return error(storage_errc::corrupt_record,
                         detail::key_context("encrypted storage: entry", key) + " has an unknown sealed layout");
        };
        const auto flags = static_cast<unsigned char>(plaintext.back());
        if ((flags & ~flag_has_expiry) != 0) throw bad_trailer();
        std::size_t trailer_size = 1;
        std::optional<time_point> expires_at;
        if ((flags & flag_has_expiry) != 0) {
            if (plaintext.size() < 1 + expiry_size) throw bad_trailer();
            trailer_size += expiry_size;
            std::uint64_t wire = 0;
            for (std::size_t i = plaintext.size() - trailer_size; i < plaintext.size() - 1; ++i)
                wire = (wire << 8) | static_cast<unsigned char>(plaintext[i]);
            expires_at = expiry_from_wire(static_cast<std::int64_t>(wire));
        }
        detail::cleanse(plaintext.data() + plaintext.size() - trailer_size, trailer_size);
        plaintext.resize(plaintext.size() - trailer_size);
        return expires_at;
    }

    std::optional<std::string> do_get(std::string_view key, time_point) override {
        const auto sealed = inner_->get(key);
        if (!sealed) return std::nullopt;
        // Opened straight into the returned object, so no second copy of the plaintext is left behind.
        std::optional<std::string> plaintext(std::in_place);
        open(key, *sealed, *plaintext);
        return plaintext;
    }

    void do_set(std::string_view key, std::string_view value, std::optional<time_point> expires_at,
                time_point) override {
        inner_->set(key, seal(key, value, expires_at), expires_at);
    }

    bool do_remove(std::string_view key, time_point) override { return inner_->remove(key); }

    // Two seals of one plaintext never match, so the inner store cannot compare plaintexts for us.
    // Instead: read the ciphertext, compare its plaintext here, and let the inner store swap on the
    // exact ciphertext read. If that fails, someone wrote in between; read again. Each round either
    // succeeds, finds a mismatch (false) or observed a concurrent write, so the loop only spins while
    // other writers keep replacing the value with one equal to `expected`.
    bool do_compare_and_set(std::string_view key, std::optional<std::string_view> expected,
                            std::optional<std::string_view> desired, std::optional<time_point> expires_at,
                            time_point) override {
        std::optional<std::string> replacement; // sealed once, on first need: it does not depend on the round
        for (;;) {
            const auto current = inner_->get(key);
            if (current.has_value() != expected.has_value()) return false;
            if (current) {
                std::string plaintext;
                const detail::cleanse_on_exit wipe(plaintext);
                open(key, *current, plaintext);
                if (plaintext != *expected) return false;
            }
            if (desired && !replacement) replacement = seal(key, *desired, expires_at);
            const std::optional<std::string_view> expected_sealed =
                current ? std::optional<std::string_view>(*current) : std::nullopt;
            const std::optional<std::string_view> desired_sealed =
                replacement ? std::optional<std::string_view>(*replacement) : std::nullopt;
            if (inner_->compare_and_set(key, expected_sealed, desired_sealed, expires_at)) return true;
        }
    }

    // Keys are in clear, so a key listing needs no key at all and never fails on a bad entry.
    void do_scan(std::string_view prefix, bool with_values, const entry_visitor& visit, time_point) override {
        if (!with_values) {
            inner_->for_each_key(prefix, [&](std::string_view key) { return visit(key, {}); });
            return;
        }
        inner_->for_each(prefix, [&](std::string_view key, std::string_view sealed) {
            std::string plaintext;
            const detail::cleanse_on_exit wipe(plaintext);
            // Damage to one entry is the handler's to hear about; the rest of the listing is good.
            if (!open_entry(key, sealed, plaintext, [&](const error& e) { report(e); })) return true;
            return visit(key, plaintext);
        });
    }

    std::size_t do_remove_prefix(std::string_view prefix, time_point) override {
        return inner_->remove_prefix(prefix);
    }

    /// One batch in the inner store, which keeps its atomicity; `match` sees each value opened. An
    /// entry that cannot be opened is not matched, is removed with the rest, and is reported once
    /// the batch is over (the handler then runs outside the inner store's lock or transaction).
    prefix_removal do_remove_prefixes(std::span<const std::string_view> prefixes, const value_filter* match,
                                      time_point) override {
        if (!match) return inner_->remove_prefixes(prefixes);
        std::vector<error> problems;
        auto result = inner_->remove_prefixes(prefixes, [&](std::string_view key, std::string_view sealed) {
            std::string plaintext;
            const detail::cleanse_on_exit wipe(plaintext);
            if (!open_entry(key, sealed, plaintext, [&](const error& e) { problems.push_back(e); })) return false;
            return (*match)(key, plaintext);
        });
        for (const auto& e : problems) report(e);
        return result;
    }

    std::size_t do_purge_expired(time_point) override { return inner_->purge_expired(); }

    std::shared_ptr<storage> inner_;
    std::vector<ring_key> keys_;
    std::size_t current_;
};

[[noreturn]] void bad_configuration(const std::string& what) {
    throw error(storage_errc::invalid_configuration, "encrypted storage: " + what);
}

} // namespace

std::shared_ptr<storage> make_encrypted_storage(std::shared_ptr<storage> inner, encryption_options options) {
    // `options` is this function's own copy (or the caller's moved buffers): wipe its key material
    // however we leave, so the only copy left is the ring's.
    struct wipe_option_keys {
        encryption_options& options;
        ~wipe_option_keys() {
            for (auto& key : options.keys) detail::cleanse(key.bytes);
        }
    } wipe{options};

    if (!inner) bad_configuration("needs an inner store");
    if (options.keys.empty()) bad_configuration("the key ring is empty");
    for (std::size_t i = 0; i < options.keys.size(); ++i) {
        const auto& key = options.keys[i];
        // Messages name ids and sizes only; the key bytes never appear.
        if (key.id.empty()) bad_configuration("a key has an empty id");
        if (key.id.size() > max_key_id_size)
            bad_configuration("key id " + detail::printable_key(key.id) + " is longer than 255 bytes");
        if (key.bytes.size() != aes_256_key_size)
            bad_configuration("key " + detail::printable_key(key.id) + " is " + std::to_string(key.bytes.size()) +
                              " bytes; AES-256 needs exactly 32");
        for (std::size_t j = 0; j < i; ++j)
            if (options.keys[j].id == key.id)
                bad_configuration("key id " + detail::printable_key(key.id) + " appears twice in the ring");
    }

    std::vector<ring_key> ring;
    ring.reserve(options.keys.size());
    std::optional<std::size_t> current;
    for (const auto& key : options.keys) {
        if (key.id == options.current_key_id) current = ring.size();
        ring.emplace_back(key.id, key.bytes);
    }
    if (!current)
        bad_configuration("the current key id " + detail::printable_key(options.current_key_id) +
                          " is not in the key ring");
    return std::make_shared<encrypted_storage>(std::move(inner), std::move(ring), *current);
}

std::size_t reencrypt(storage& store, std::string_view prefix) {
    auto* encrypted = dynamic_cast<encrypted_storage*>(&store);
    if (!encrypted) bad_configuration("reencrypt() needs a store made by make_encrypted_storage()");
    return encrypted->rewrite_stale(prefix);
}

std::string generate_encryption_key() {
    std::string key(aes_256_key_size, '\0');
    detail::random_bytes(key.data(), key.size());
    return key;
}

} // namespace multisession
