// The error code of the exception in flight, for code that reports failures through callbacks.
#pragma once

#include <multisession/error.hpp>

#include <new>
#include <system_error>

namespace multisession::detail {

/// Call inside a catch block. multisession::error gives its code; std::bad_alloc gives
/// not_enough_memory; anything else (a bug) gives `otherwise`, so that a completion callback is
/// never skipped.
inline std::error_code current_error_code(std::error_code otherwise) noexcept {
    try {
        throw;
    } catch (const error& e) {
        return e.code();
    } catch (const std::bad_alloc&) {
        return std::make_error_code(std::errc::not_enough_memory);
    } catch (...) {
        return otherwise;
    }
}

} // namespace multisession::detail
