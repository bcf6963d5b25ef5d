// The three functions of the multi-session API, over a store chosen by URI:
//
//   get_session_id_from_storage_all  every stored session's id
//   get_session_from_storage         one session back: its refresh token is redeemed for new tokens
//   clear_session_from_storage_all   every session removed, in one batch
//
//   three_functions [STORE_URI] [--ca-file PEM] [--allow-insecure-loopback]
//
// STORE_URI defaults to sqlite:sessions.db (see open_storage for the others). --ca-file trusts a
// private issuer's CA; --allow-insecure-loopback accepts a plain-HTTP issuer on 127.0.0.1.
#include <multisession/multisession.hpp>

#include <cstdio>
#include <exception>
#include <string>
#include <string_view>

namespace ms = multisession;

int main(int argc, char** argv) {
    std::string uri = "sqlite:sessions.db";
    ms::session_manager_options options;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--allow-insecure-loopback") {
            options.allow_insecure_loopback = true;
        } else if (arg == "--ca-file" && i + 1 < argc) {
            options.ca_file = argv[++i];
        } else if (!arg.starts_with("-")) {
            uri = arg;
        } else {
            std::fprintf(stderr, "usage: three_functions [STORE_URI] [--ca-file PEM] [--allow-insecure-loopback]\n");
            return 2;
        }
    }

    try {
        // The three functions share one process-wide manager; it takes its options once.
        ms::configure_default_session_manager(options);
        const auto store = ms::open_storage(uri);

        for (const std::string& id : ms::get_session_id_from_storage_all(store)) {
            // One session failing (a revoked refresh token, an unreachable issuer) must not stop
            // the others: each gets its own try. Error messages never contain a token.
            try {
                const auto session = ms::get_session_from_storage(id, {}, store);
                if (!session) continue; // removed since it was listed
                std::printf("%s %s %s\n", id.c_str(), session->webid().value_or("(no WebID)").c_str(),
                            session->is_logged_in() ? "logged in" : "logged out");
            } catch (const ms::error& e) {
                std::printf("%s failed: %s\n", id.c_str(), e.what());
            }
        }

        const ms::clear_result cleared = ms::clear_session_from_storage_all(store);
        std::printf("cleared %zu sessions (%zu entries)\n", cleared.session_ids.size(), cleared.entries_removed);
    } catch (const std::exception& e) {
        // A bad URI, an unreadable store, a CA file that cannot be loaded.
        std::fprintf(stderr, "three_functions: %s\n", e.what());
        return 1;
    }
    return 0;
}
