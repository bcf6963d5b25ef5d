// The storage demo: with nothing configured, it creates session records in Inrupt's layout in an
// encrypted SQLite store, "restarts" (drops every handle and opens the store again from its URI),
// lists them, shows one with its secrets redacted, and clears them all in one batch.
//
//   storage_demo [--store URI] [--sessions N] [--keep]
//
// Without --store it uses a fresh SQLite file in a temporary directory, removed at the end unless
// --keep is given.
#include "progress.hpp"

#include <multisession/multisession.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include <unistd.h>

namespace {

using namespace multisession;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view record_prefix = "solidClientAuthenticationUser:";

std::string seconds_since(clock_type::time_point start) {
    char text[32];
    std::snprintf(text, sizeof text, "%.3f", std::chrono::duration<double>(clock_type::now() - start).count());
    return text;
}

std::string random_hex(std::size_t bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    const std::string raw = generate_encryption_key().substr(0, bytes);
    std::string out;
    for (unsigned char c : raw) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

/// A session record as Inrupt's Node library writes it: a JSON object of string fields.
std::string make_record(std::size_t i) {
    nlohmann::json record = {
        {"issuer", "https://127.0.0.1:8443"},
        {"clientId", "demo-client"},
        {"clientType", "static"},
        {"clientSecret", "client-secret-" + random_hex(8)},
        {"refreshToken", "refresh-" + random_hex(16)},
        {"dpop", "true"},
        {"webId", "https://127.0.0.1:8443/users/user" + std::to_string(i) + "/profile#me"},
        {"isLoggedIn", "true"},
    };
    return record.dump();
}

std::string redacted(const std::string& record_json) {
    auto record = nlohmann::json::parse(record_json);
    for (const char* secret : {"refreshToken", "clientSecret", "privateKey", "accessToken", "idToken"}) {
        if (record.contains(secret)) record[secret] = "***";
    }
    return record.dump(2);
}

} // namespace

int main(int argc, char** argv) {
    std::string uri;
    std::size_t sessions = 500;
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--store" && i + 1 < argc) {
            uri = argv[++i];
        } else if (arg == "--sessions" && i + 1 < argc) {
            sessions = std::stoul(argv[++i]);
        } else if (arg == "--keep") {
            keep = true;
        } else {
            std::cerr << "usage: storage_demo [--store URI] [--sessions N] [--keep]\n";
            return 2;
        }
    }

    std::filesystem::path temp_dir;
    if (uri.empty()) {
        std::string pattern = (std::filesystem::temp_directory_path() / "multisession-demo-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::perror("mkdtemp");
            return 1;
        }
        temp_dir = pattern;
        uri = "sqlite:" + (temp_dir / "sessions.db").string();
    }

    try {
        // A fresh key for the demo; a deployment loads its key ring from its secret store.
        encryption_options keys;
        keys.keys.push_back({"demo-1", generate_encryption_key()});
        keys.current_key_id = "demo-1";
        open_storage_options options;
        options.encryption = keys;

        std::cout << "multisession storage demo\n"
                  << "  store: " << redact_uri(uri) << " (values sealed with AES-256-GCM, key id demo-1)\n\n";

        std::cout << "1. creating " << sessions << " session records\n";
        auto start = clock_type::now();
        {
            auto store = open_storage(uri, options);
            demo::progress bar("created", sessions);
            for (std::size_t i = 0; i < sessions; ++i) {
                store->set(std::string(record_prefix) + "session-" + std::to_string(i), make_record(i));
                bar.update(i + 1);
            }
            // A login-in-progress record (state -> session id) is not a session: listing skips it.
            store->set(std::string(record_prefix) + "state-" + random_hex(8), R"({"sessionId":"session-0"})");
        }
        std::cout << "   done in " << seconds_since(start) << " s\n\n";

        std::cout << "2. restarting: every handle closed, the store opened again from its URI\n";
        auto store = open_storage(uri, options);

        std::cout << "3. listing sessions (records with an issuer)\n";
        start = clock_type::now();
        std::size_t listed = 0;
        std::size_t skipped = 0;
        std::string first_id;
        store->for_each(record_prefix, [&](std::string_view key, std::string_view value) {
            const auto record = nlohmann::json::parse(value, nullptr, false);
            if (record.is_object() && record.contains("issuer")) {
                if (first_id.empty()) first_id = std::string(key.substr(record_prefix.size()));
                ++listed;
            } else {
                ++skipped;
            }
        });
        std::cout << "   " << listed << " sessions, " << skipped << " other record(s), in " << seconds_since(start)
                  << " s\n\n";

        if (!first_id.empty()) {
            std::cout << "4. one record, secrets redacted (" << first_id << "):\n";
            std::cout << redacted(store->get(std::string(record_prefix) + first_id).value_or("{}")) << "\n\n";
        }

        std::cout << "5. clearing every record in one batch\n";
        start = clock_type::now();
        const std::size_t removed = store->remove_prefix(record_prefix);
        const std::size_t left = store->keys(record_prefix).size();
        std::cout << "   removed " << removed << " records in " << seconds_since(start) << " s; " << left << " left\n";
        // The demo doubles as a smoke test: it fails loudly if the store lost or kept anything.
        if (listed != sessions || skipped != 1 || removed != sessions + 1 || left != 0) {
            std::cerr << "storage_demo: the store did not give back what was written\n";
            return 1;
        }
    } catch (const multisession::error& e) {
        std::cerr << "storage_demo: " << e.what() << "\n";
        return 1;
    }

    if (!temp_dir.empty()) {
        if (keep) {
            std::cout << "\nstore kept in " << temp_dir.string() << "\n";
        } else {
            std::filesystem::remove_all(temp_dir);
        }
    }
    return 0;
}
