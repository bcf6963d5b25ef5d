// The Lua scripts of the Redis backend. Each runs atomically in the server: the read of an entry
// and its expiry, and for compare_and_set the write, are one step that no other client can split.
//
// Every script takes the store's "now" (ARGV[1], milliseconds on Redis's clock) and treats an
// entry whose expiry (PEXPIRETIME, Redis 7) is at or before it as absent, so an entry vanishes
// when the store's clock says so, even if Redis's own expiry has not fired yet. Lua numbers are
// doubles: millisecond timestamps (below 2^53) are exact.
#pragma once

#include <multisession/error.hpp>

#include <openssl/evp.h>

#include <array>
#include <string>
#include <string_view>

namespace multisession::detail {

/// A script's text and its SHA-1 (lower-case hex), the name EVALSHA runs it by.
struct redis_script {
    std::string_view body;
    std::string sha1;

    explicit redis_script(std::string_view text) : body(text) {
        std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
        unsigned int size = 0;
        if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha1(), nullptr) != 1)
            throw error(storage_errc::backend_error, "redis: SHA-1 of a script failed");
        static constexpr char hex[] = "0123456789abcdef";
        for (unsigned int i = 0; i < size; ++i) {
            sha1 += hex[digest[i] >> 4];
            sha1 += hex[digest[i] & 15];
        }
    }
};

/// KEYS[1]; ARGV[1] now. The value, or nil if absent or expired.
/// GET on a key of another type raises WRONGTYPE, reported as a corrupt entry.
inline constexpr std::string_view redis_get_script = R"lua(
local value = redis.call('GET', KEYS[1])
if not value then return false end
local expiry = redis.call('PEXPIRETIME', KEYS[1])
if expiry >= 0 and expiry <= tonumber(ARGV[1]) then return false end
return value
)lua";

/// KEYS[1]; ARGV[1] now. Deletes the key; 1 if it held a live entry, 0 if it was absent or expired.
inline constexpr std::string_view redis_remove_script = R"lua(
local expiry = redis.call('PEXPIRETIME', KEYS[1])
if expiry == -2 then return 0 end
redis.call('UNLINK', KEYS[1])
if expiry >= 0 and expiry <= tonumber(ARGV[1]) then return 0 end
return 1
)lua";

/// KEYS[1]; ARGV: now, expected given ('1'/'0'), expected, desired given ('1'/'0'), desired,
/// expiry (ms, or '' for none). 1 if the swap happened, 0 if the current value did not match.
/// A desired value whose expiry is already past is written as a removal: it would be invisible.
inline constexpr std::string_view redis_compare_and_set_script = R"lua(
local now = tonumber(ARGV[1])
local current = redis.call('GET', KEYS[1])
if current then
  local expiry = redis.call('PEXPIRETIME', KEYS[1])
  if expiry >= 0 and expiry <= now then current = false end
end
if ARGV[2] == '1' then
  if current ~= ARGV[3] then return 0 end
elseif current then
  return 0
end
if ARGV[4] ~= '1' then
  redis.call('UNLINK', KEYS[1])
elseif ARGV[6] == '' then
  redis.call('SET', KEYS[1], ARGV[5])
elseif tonumber(ARGV[6]) <= now then
  redis.call('UNLINK', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[5], 'PXAT', ARGV[6])
end
return 1
)lua";

/// KEYS: candidate keys from SCAN; ARGV[1] now, ARGV[2] '1' to return values. An array aligned
/// with KEYS: nil where the key is absent, expired or (with values) not a string; otherwise the
/// value, or 1 when values were not asked for.
inline constexpr std::string_view redis_entries_script = R"lua(
local now = tonumber(ARGV[1])
local with_values = ARGV[2] == '1'
local out = {}
for i = 1, #KEYS do
  local expiry = redis.call('PEXPIRETIME', KEYS[i])
  if expiry == -2 or (expiry >= 0 and expiry <= now) then
    out[i] = false
  elseif with_values then
    local value = redis.pcall('GET', KEYS[i])
    if type(value) == 'string' then out[i] = value else out[i] = false end
  else
    out[i] = 1
  end
end
return out
)lua";

/// KEYS: keys from SCAN; ARGV[1] now. Unlinks every key still there; returns how many held a live
/// entry (expired ones are removed too, uncounted).
inline constexpr std::string_view redis_remove_batch_script = R"lua(
local now = tonumber(ARGV[1])
local live = 0
for i = 1, #KEYS do
  local expiry = redis.call('PEXPIRETIME', KEYS[i])
  if expiry ~= -2 then
    redis.call('UNLINK', KEYS[i])
    if expiry == -1 or expiry > now then live = live + 1 end
  end
end
return live
)lua";

/// KEYS: keys from SCAN; ARGV[1] now. Unlinks the keys whose expiry is at or before now; returns
/// how many.
inline constexpr std::string_view redis_purge_batch_script = R"lua(
local now = tonumber(ARGV[1])
local purged = 0
for i = 1, #KEYS do
  local expiry = redis.call('PEXPIRETIME', KEYS[i])
  if expiry >= 0 and expiry <= now then
    redis.call('UNLINK', KEYS[i])
    purged = purged + 1
  end
end
return purged
)lua";

} // namespace multisession::detail
