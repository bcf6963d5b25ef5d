// A child process for the multi-process and crash tests. It opens a store by URI and runs one
// workload, printing progress lines on stdout:
//
//   storage_worker URI [--encrypted] cas-increment KEY ROUNDS
//       adds 1 to the decimal counter under KEY, ROUNDS times, each by a compare_and_set retry
//       loop; prints "done <retries>".
//   storage_worker URI [--encrypted] write-loop KEYS
//       forever: in round r, writes crash_value(r, i) to "crash:<i>" for every i < KEYS (even i by
//       set, odd i by compare_and_set over the previous round's value); prints "ready" once the
//       first round is complete, then runs until killed.
#include "support/crash_values.hpp"
#include "support/storage_fixtures.hpp"

#include <cstdio>
#include <iostream>
#include <string>

using namespace multisession;

namespace {

int usage() {
    std::fprintf(stderr, "usage: storage_worker URI [--encrypted] (cas-increment KEY ROUNDS | write-loop KEYS)\n");
    return 2;
}

void cas_increment(storage& store, const std::string& key, long rounds) {
    long retries = 0;
    for (long done = 0; done < rounds;) {
        const auto current = store.get(key);
        const long value = current ? std::stol(*current) : 0;
        if (store.compare_and_set(key, current, std::to_string(value + 1))) {
            ++done;
        } else {
            ++retries;
        }
    }
    std::cout << "done " << retries << std::endl;
}

[[noreturn]] void write_loop(storage& store, std::uint64_t keys) {
    for (std::uint64_t round = 0;; ++round) {
        for (std::uint64_t i = 0; i < keys; ++i) {
            const std::string key = "crash:" + std::to_string(i);
            if (i % 2 == 0 || round == 0) {
                store.set(key, test::crash_value(round, i));
            } else if (!store.compare_and_set(key, test::crash_value(round - 1, i), test::crash_value(round, i))) {
                std::cerr << "compare_and_set lost its own previous value" << std::endl;
                std::exit(3);
            }
        }
        if (round == 0) std::cout << "ready" << std::endl;
    }
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 2) return usage();
    const std::string uri = args[0];
    args.erase(args.begin());
    open_storage_options options;
    if (!args.empty() && args[0] == "--encrypted") {
        options.encryption = test::test_encryption();
        args.erase(args.begin());
    }
    try {
        auto store = open_storage(uri, options);
        if (args.size() == 3 && args[0] == "cas-increment") {
            cas_increment(*store, args[1], std::stol(args[2]));
            return 0;
        }
        if (args.size() == 2 && args[0] == "write-loop") write_loop(*store, std::stoull(args[1]));
        return usage();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "storage_worker: %s\n", e.what());
        return 1;
    }
}
