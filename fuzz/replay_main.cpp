// Replays saved fuzz inputs through the targets linked into this program, with any compiler:
//   fuzz_replay TARGET DIR_OR_FILE...
// Every regular file found (directories are read one level deep, in name order) is one input.
// Prints one line per target and exits non-zero when an input names no file or the target is
// unknown; a crashing input stops the process, as it would under libFuzzer.
#include "fuzz_target.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

namespace multisession::fuzz {
namespace {

std::map<std::string, target_function>& registry() {
    static std::map<std::string, target_function> targets;
    return targets;
}

} // namespace

bool register_target(const char* name, target_function fn) {
    registry().emplace(name, fn);
    return true;
}

} // namespace multisession::fuzz

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    using multisession::fuzz::registry;
    if (argc < 3) {
        std::cerr << "usage: fuzz_replay TARGET DIR_OR_FILE...\n";
        return 2;
    }
    const auto target = registry().find(argv[1]);
    if (target == registry().end()) {
        std::cerr << "fuzz_replay: no target named " << argv[1] << '\n';
        return 2;
    }
    std::vector<fs::path> inputs;
    for (int i = 2; i < argc; ++i) {
        const fs::path path = argv[i];
        if (fs::is_directory(path)) {
            for (const auto& entry : fs::directory_iterator(path))
                if (entry.is_regular_file()) inputs.push_back(entry.path());
        } else if (fs::is_regular_file(path)) {
            inputs.push_back(path);
        } else if (!fs::exists(path)) {
            std::cerr << "fuzz_replay: " << path << " does not exist\n";
            return 2;
        }
    }
    std::sort(inputs.begin(), inputs.end());
    for (const auto& path : inputs) {
        std::ifstream in(path, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        target->second(bytes);
    }
    std::cout << argv[1] << ": " << inputs.size() << " inputs replayed\n";
    return inputs.empty() ? 1 : 0;
}
