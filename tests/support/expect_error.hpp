// Checking the error a call throws, inside a doctest test case.
#pragma once

#include <multisession/error.hpp>

#include <doctest/doctest.h>

#include <exception>
#include <functional>
#include <string>
#include <system_error>

namespace multisession::test {

/// Runs `f`, requires a multisession::error with `code`, returns its what() (so tests can look
/// for what a message must not contain).
inline std::string error_of(const std::function<void()>& f, std::error_code code) {
    try {
        f();
    } catch (const multisession::error& e) {
        CHECK_MESSAGE(e.code() == code, "got " << e.code().message() << " (" << e.what() << ")");
        return e.what();
    } catch (const std::exception& e) {
        FAIL("unexpected exception type: " << e.what());
        return {};
    }
    FAIL("no exception, expected " << code.message());
    return {};
}

} // namespace multisession::test
