// One fuzz target = one function of the input bytes. FUZZ_TARGET(name) { ... } defines it once
// and exposes it two ways:
//   - under libFuzzer (MULTISESSION_LIBFUZZER, clang's -fsanitize=fuzzer): as LLVMFuzzerTestOneInput;
//   - otherwise: registered by name for replay_main.cpp, which runs saved inputs (the seed corpus
//     and every input that once crashed) through it in the ordinary test suite, with any compiler.
// A target lets multisession::error through its own catch (the documented failure) and nothing
// else: any other exception, a sanitizer report or a failed fuzz_check() is a finding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace multisession::fuzz {

using target_function = void (*)(std::string_view input);

/// Registers `fn` under `name` for replay; returns true (for a static initialiser).
bool register_target(const char* name, target_function fn);

/// Stops the process with `what` on stderr when `condition` is false: an invariant the input broke.
inline void fuzz_check(bool condition, const char* what) {
    if (condition) return;
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

} // namespace multisession::fuzz

#if defined(MULTISESSION_LIBFUZZER)
#define MULTISESSION_FUZZ_ENTRY(name)                                                                    \
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {                  \
        fuzz_body_##name(std::string_view(reinterpret_cast<const char*>(data), size));                   \
        return 0;                                                                                        \
    }
#else
#define MULTISESSION_FUZZ_ENTRY(name)                                                                    \
    [[maybe_unused]] static const bool fuzz_registered_##name =                                          \
        ::multisession::fuzz::register_target(#name, &fuzz_body_##name);
#endif

#define FUZZ_TARGET(name)                                                                                \
    static void fuzz_body_##name(std::string_view input);                                                \
    MULTISESSION_FUZZ_ENTRY(name)                                                                        \
    static void fuzz_body_##name(std::string_view input)
