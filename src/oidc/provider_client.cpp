#include "oidc/provider_client.hpp"

#include "oidc/jwt.hpp"
#include "oidc/wire_challenge.hpp"
#include "oidc/wire_json.hpp"
#include "oidc/wire_text.hpp"
#include "oidc/wire_url.hpp"

#include "core/current_error.hpp"

#include <multisession/error.hpp>

#include <algorithm>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <utility>

namespace multisession::oidc {
namespace {

using clock_type = std::chrono::system_clock;

std::error_code current_error_code() noexcept {
    return multisession::detail::current_error_code(oidc_errc::malformed_response);
}

/// One cache entry per issuer: "https://a" and "https://a/" fetch the same discovery document (see
/// discovery_request), so they share it.
std::string issuer_key(std::string_view issuer) {
    if (!issuer.empty() && issuer.back() == '/') issuer.remove_suffix(1);
    return std::string(issuer);
}

/// A cached document, the fetch in flight for it, and the callers waiting for that fetch.
template <class T>
struct cache_slot {
    std::shared_ptr<const T> value;
    clock_type::time_point fetched_at{};
    /// When a token with an unknown `kid` last caused (or asked for) a refetch.
    clock_type::time_point refetch_asked_at{};
    bool fetching = false;
    std::vector<std::function<void(std::error_code, std::shared_ptr<const T>)>> waiters;
};

} // namespace

/// Everything a provider_client holds; operations in flight keep it alive through shared_ptr.
struct provider_client::state : std::enable_shared_from_this<state> {
    state(std::shared_ptr<http::transport> t, provider_client_options o)
        : transport(std::move(t)), options(std::move(o)) {}

    const std::shared_ptr<http::transport> transport;
    const provider_client_options options;

    mutable std::mutex mutex;
    std::map<std::string, cache_slot<provider_metadata>, std::less<>> discovery;
    std::map<std::string, cache_slot<jwks>, std::less<>> key_sets;
    // DPoP nonces per origin; nonce_order lists origins least recently stored first.
    struct nonce_entry {
        std::string nonce;
        std::list<std::string>::iterator position;
    };
    std::unordered_map<std::string, nonce_entry> nonces;
    std::list<std::string> nonce_order;
    provider_client_stats counters;

    clock_type::time_point now() const { return options.clock ? options.clock() : clock_type::now(); }

    std::optional<std::string> nonce_for(const std::string& origin) const {
        std::lock_guard lock(mutex);
        const auto it = nonces.find(origin);
        if (it == nonces.end()) return std::nullopt;
        return it->second.nonce;
    }

    /// Remembers the DPoP-Nonce of `response` for `origin`: a server may hand out a fresh nonce
    /// with any response, and the next proof to that origin should carry it (RFC 9449 section 8).
    void remember_nonce(const std::string& origin, const http::response& response) {
        auto nonce = dpop_nonce_of(response);
        if (!nonce || options.max_nonce_origins == 0) return;
        std::lock_guard lock(mutex);
        if (auto it = nonces.find(origin); it != nonces.end()) {
            it->second.nonce = std::move(*nonce);
            nonce_order.splice(nonce_order.end(), nonce_order, it->second.position);
            return;
        }
        while (nonces.size() >= options.max_nonce_origins) {
            nonces.erase(nonce_order.front());
            nonce_order.pop_front();
        }
        nonce_order.push_back(origin);
        nonces.emplace(origin, nonce_entry{std::move(*nonce), std::prev(nonce_order.end())});
    }

    // --- discovery and JWKS ---------------------------------------------------------------------

    /// Serves `slot` from the cache when younger than `ttl`, else joins or starts a fetch with
    /// `start_fetch` (called without the lock). Returns after queueing; `done` runs once.
    template <class T, class Start>
    void cached(std::map<std::string, cache_slot<T>, std::less<>>& cache, const std::string& key,
                std::chrono::seconds ttl, std::uint64_t provider_client_stats::*counter,
                std::function<void(std::error_code, std::shared_ptr<const T>)> done, Start start_fetch) {
        {
            std::unique_lock lock(mutex);
            auto& slot = cache[key];
            if (slot.value && now() - slot.fetched_at < ttl) {
                auto value = slot.value;
                lock.unlock();
                done({}, std::move(value));
                return;
            }
            slot.waiters.push_back(std::move(done));
            if (slot.fetching) return;
            slot.fetching = true;
            ++(counters.*counter);
        }
        start_fetch();
    }

    /// Stores the outcome of a fetch (a value, or nothing on failure) and wakes every waiter.
    template <class T>
    void settle(std::map<std::string, cache_slot<T>, std::less<>>& cache, const std::string& key, std::error_code ec,
                std::shared_ptr<const T> value) {
        std::vector<std::function<void(std::error_code, std::shared_ptr<const T>)>> waiters;
        {
            std::lock_guard lock(mutex);
            auto& slot = cache[key];
            if (value) {
                slot.value = value;
                slot.fetched_at = now();
            }
            slot.fetching = false;
            waiters.swap(slot.waiters);
        }
        for (auto& waiter : waiters) waiter(ec, value);
    }

    void discover(std::string issuer, callback<metadata_ptr> done) {
        http::request request;
        try {
            request = discovery_request(issuer, {options.allow_insecure_loopback});
        } catch (...) {
            done(current_error_code(), nullptr);
            return;
        }
        auto key = issuer_key(issuer);
        cached(discovery, key, options.discovery_ttl, &provider_client_stats::discovery_fetches, std::move(done),
               [&] {
                   transport->async_send(std::move(request), [self = shared_from_this(), key, issuer](
                                                                 std::error_code ec, http::response response) {
                       metadata_ptr value;
                       if (!ec) {
                           try {
                               value = std::make_shared<const provider_metadata>(
                                   parse_discovery(issuer, response, {self->options.allow_insecure_loopback}));
                           } catch (...) {
                               ec = current_error_code();
                           }
                       }
                       self->settle(self->discovery, key, ec, std::move(value));
                   });
               });
    }

    void fetch_jwks(const std::string& issuer, callback<jwks_ptr> done) {
        discover(issuer, [self = shared_from_this(), issuer, done = std::move(done)](std::error_code ec,
                                                                                     metadata_ptr metadata) mutable {
            if (ec) {
                done(ec, nullptr);
                return;
            }
            if (!metadata->jwks_uri) {
                done(oidc_errc::malformed_response, nullptr);
                return;
            }
            auto key = issuer_key(issuer);
            self->cached(self->key_sets, key, self->options.jwks_ttl, &provider_client_stats::jwks_fetches,
                         std::move(done), [&] {
                             http::request request{"GET", *metadata->jwks_uri, {{"Accept", "application/json"}}, {}};
                             self->transport->async_send(std::move(request), [self, key](std::error_code ec,
                                                                                         http::response response) {
                                 jwks_ptr value;
                                 if (!ec) {
                                     try {
                                         value = std::make_shared<const jwks>(parse_jwks_response(response));
                                     } catch (...) {
                                         ec = current_error_code();
                                     }
                                 }
                                 self->settle(self->key_sets, key, ec, std::move(value));
                             });
                         });
        });
    }

    static jwks parse_jwks_response(const http::response& response) {
        if (response.status < 200 || response.status > 299)
            throw error(response.status >= 500 && response.status <= 599 ? oidc_errc::server_error
                                                                          : oidc_errc::unexpected_status,
                        "jwks: HTTP status " + std::to_string(response.status));
        return jwks::parse(detail::parse_json_object(response.body, "jwks"));
    }

    /// After a token named a key `stale` lacks: the set to try next (a newer one someone else
    /// fetched), nullptr after clearing the cache so that the next fetch_jwks refetches, or
    /// nullopt when the refetch rate limit says no.
    std::optional<jwks_ptr> after_unknown_key(const std::string& issuer, const jwks_ptr& stale) {
        std::lock_guard lock(mutex);
        auto& slot = key_sets[issuer_key(issuer)];
        if (slot.value && slot.value != stale) return slot.value;
        if (slot.fetching) return jwks_ptr{}; // join the refetch in flight
        const auto t = now();
        const auto last = std::max(slot.fetched_at, slot.refetch_asked_at);
        if (t - last < options.jwks_refetch_interval) return std::nullopt;
        slot.refetch_asked_at = t;
        slot.value.reset();
        return jwks_ptr{};
    }

    void verify(std::string issuer, std::string audience, std::string token, callback<nlohmann::json> done) {
        struct job {
            std::shared_ptr<state> self;
            std::string issuer, audience, token;
            callback<nlohmann::json> done;
            metadata_ptr metadata;

            void finish(const jwks& keys) const {
                std::error_code ec;
                auto claims = attempt(keys, ec);
                if (claims)
                    done({}, std::move(*claims));
                else
                    done(ec, {});
            }
            std::optional<nlohmann::json> attempt(const jwks& keys, std::error_code& ec) const {
                jwt_expectations expected;
                expected.issuer = metadata->issuer;
                expected.audience = audience;
                expected.now = self->now();
                expected.clock_skew = self->options.clock_skew;
                expected.allowed_algorithms = self->options.allowed_algorithms;
                try {
                    return oidc::verify_jwt(token, keys, expected);
                } catch (...) {
                    ec = current_error_code();
                    return std::nullopt;
                }
            }
        };
        auto j = std::make_shared<job>(
            job{shared_from_this(), std::move(issuer), std::move(audience), std::move(token), std::move(done), {}});
        discover(j->issuer, [j](std::error_code ec, metadata_ptr metadata) {
            if (ec) {
                j->done(ec, {});
                return;
            }
            j->metadata = std::move(metadata);
            j->self->fetch_jwks(j->issuer, [j](std::error_code ec, jwks_ptr keys) {
                if (ec) {
                    j->done(ec, {});
                    return;
                }
                auto claims = j->attempt(*keys, ec);
                if (claims) {
                    j->done({}, std::move(*claims));
                    return;
                }
                if (ec != oidc_errc::unknown_key) {
                    j->done(ec, {});
                    return;
                }
                // The provider may have rotated its keys since we fetched them.
                auto next = j->self->after_unknown_key(j->issuer, keys);
                if (!next) {
                    j->done(oidc_errc::unknown_key, {});
                } else if (*next) {
                    j->finish(**next);
                } else {
                    j->self->fetch_jwks(j->issuer, [j](std::error_code ec, jwks_ptr fresh) {
                        if (ec)
                            j->done(ec, {});
                        else
                            j->finish(*fresh);
                    });
                }
            });
        });
    }

    // --- token endpoint -------------------------------------------------------------------------

    /// Builds one token request from the discovery document, the client authentication and the
    /// DPoP proof, if any. Called a second time for the nonce retry.
    using request_builder =
        std::function<http::request(const provider_metadata&, client_auth_method, std::optional<std::string_view>)>;

    struct exchange {
        std::shared_ptr<state> self;
        client_info client;
        std::optional<dpop_key> key;
        std::optional<std::string> previous_refresh_token;
        request_builder build;
        callback<token_set> done;
        metadata_ptr metadata;
        client_auth_method auth = client_auth_method::none;
        std::string origin;
        bool retried = false;
    };

    void token_grant(const std::string& issuer, std::shared_ptr<exchange> x) {
        discover(issuer, [x](std::error_code ec, metadata_ptr metadata) {
            if (ec) {
                x->done(ec, {});
                return;
            }
            try {
                x->auth = choose_client_auth(*metadata, x->client);
                x->origin = origin_of(metadata->token_endpoint);
            } catch (...) {
                x->done(current_error_code(), {});
                return;
            }
            x->metadata = std::move(metadata);
            x->self->send_token_request(x, x->self->nonce_for(x->origin));
        });
    }

    void send_token_request(const std::shared_ptr<exchange>& x, const std::optional<std::string>& nonce) {
        http::request request;
        try {
            std::optional<std::string> proof;
            if (x->key) proof = make_dpop_proof(*x->key, "POST", x->metadata->token_endpoint, now(), nonce);
            request = x->build(*x->metadata, x->auth, proof);
        } catch (...) {
            x->done(current_error_code(), {});
            return;
        }
        {
            std::lock_guard lock(mutex);
            ++counters.token_requests;
        }
        transport->async_send(std::move(request), [x](std::error_code ec, http::response response) {
            if (ec) {
                x->done(ec, {});
                return;
            }
            x->self->remember_nonce(x->origin, response);
            if (x->key && !x->retried && needs_dpop_nonce(response)) {
                x->retried = true;
                {
                    std::lock_guard lock(x->self->mutex);
                    ++x->self->counters.nonce_retries;
                }
                x->self->send_token_request(x, dpop_nonce_of(response));
                return;
            }
            try {
                auto parsed = parse_token_response(response, x->previous_refresh_token);
                x->done({}, std::move(parsed.tokens));
            } catch (...) {
                x->done(current_error_code(), {});
            }
        });
    }

    // --- registration and revocation ------------------------------------------------------------

    /// Discovers `issuer`, builds one request from its metadata with `build`, counts it in
    /// `counter`, sends it and hands the response to `read`. No retry: a lost registration answer
    /// may still have registered a client, and repeating it would register a second one.
    template <class T>
    void endpoint_call(const std::string& issuer, std::function<http::request(const provider_metadata&)> build,
                       std::uint64_t provider_client_stats::*counter, std::function<T(const http::response&)> read,
                       callback<T> done) {
        discover(issuer, [self = shared_from_this(), build = std::move(build), counter, read = std::move(read),
                          done = std::move(done)](std::error_code ec, metadata_ptr metadata) mutable {
            if (ec) {
                done(ec, {});
                return;
            }
            http::request request;
            try {
                request = build(*metadata);
            } catch (...) {
                done(current_error_code(), {});
                return;
            }
            {
                std::lock_guard lock(self->mutex);
                ++(self->counters.*counter);
            }
            self->transport->async_send(std::move(request), [read = std::move(read), done = std::move(done)](
                                                                std::error_code ec, http::response response) {
                if (ec) {
                    done(ec, {});
                    return;
                }
                // The value first, then the callback outside the try: an exception from the
                // caller's callback must not turn into a second call.
                T value{};
                try {
                    value = read(response);
                } catch (...) {
                    done(current_error_code(), {});
                    return;
                }
                done({}, std::move(value));
            });
        });
    }

    // --- resource servers -----------------------------------------------------------------------

    struct resource_call {
        std::shared_ptr<state> self;
        http::request request; // without Authorization and DPoP
        std::optional<resource_credentials> credentials;
        bool dpop = false;
        std::string origin;
        callback<http::response> done;
        bool retried = false;
    };

    void fetch(http::request request, std::optional<resource_credentials> credentials,
               callback<http::response> done) {
        auto c = std::make_shared<resource_call>();
        c->self = shared_from_this();
        c->done = std::move(done);
        try {
            c->origin = origin_of(request.url);
            if (credentials) {
                c->dpop = detail::iequals(credentials->token_type, "DPoP");
                if (!c->dpop && !detail::iequals(credentials->token_type, "Bearer"))
                    throw error(oidc_errc::invalid_request, "fetch: token type is neither DPoP nor Bearer");
                if (c->dpop && !credentials->key)
                    throw error(oidc_errc::invalid_request, "fetch: a DPoP-bound token needs its key");
                if (credentials->access_token.empty())
                    throw error(oidc_errc::invalid_request, "fetch: empty access token");
            }
        } catch (...) {
            c->done(current_error_code(), {});
            return;
        }
        // The caller's own credentials headers would contradict ours.
        std::erase_if(request.headers, [](const http::header& h) {
            return http::header_name_equals(h.name, "Authorization") || http::header_name_equals(h.name, "DPoP");
        });
        c->request = std::move(request);
        c->credentials = std::move(credentials);
        send_resource_request(c, nonce_for(c->origin));
    }

    void send_resource_request(const std::shared_ptr<resource_call>& c, const std::optional<std::string>& nonce) {
        http::request request = c->request;
        if (c->credentials) {
            const auto& cred = *c->credentials;
            try {
                if (c->dpop) {
                    request.headers.push_back({"Authorization", "DPoP " + cred.access_token.str()});
                    request.headers.push_back(
                        {"DPoP", make_dpop_proof(*cred.key, request.method, request.url, now(), nonce, cred.access_token)});
                } else {
                    request.headers.push_back({"Authorization", "Bearer " + cred.access_token.str()});
                }
            } catch (...) {
                c->done(current_error_code(), {});
                return;
            }
        }
        {
            std::lock_guard lock(mutex);
            ++counters.resource_requests;
        }
        transport->async_send(std::move(request), [c](std::error_code ec, http::response response) {
            if (ec) {
                c->done(ec, {});
                return;
            }
            if (c->dpop) c->self->remember_nonce(c->origin, response);
            if (c->dpop && !c->retried && needs_dpop_nonce(response)) {
                c->retried = true;
                {
                    std::lock_guard lock(c->self->mutex);
                    ++c->self->counters.nonce_retries;
                }
                c->self->send_resource_request(c, dpop_nonce_of(response));
                return;
            }
            c->done({}, std::move(response));
        });
    }
};

// -------------------------------------------------------------------------------------------------

provider_client::provider_client(std::shared_ptr<state> st) : state_(std::move(st)) {}
provider_client::~provider_client() = default;

std::shared_ptr<provider_client> provider_client::create(std::shared_ptr<http::transport> transport,
                                                         provider_client_options options) {
    if (!transport) throw error(oidc_errc::invalid_request, "provider client: no transport");
    return std::shared_ptr<provider_client>(
        new provider_client(std::make_shared<state>(std::move(transport), std::move(options))));
}

clock_type::time_point provider_client::now() const { return state_->now(); }
const provider_client_options& provider_client::options() const noexcept { return state_->options; }

provider_client_stats provider_client::stats() const {
    std::lock_guard lock(state_->mutex);
    return state_->counters;
}

void provider_client::invalidate(const std::string& issuer) {
    const auto key = issuer_key(issuer);
    std::lock_guard lock(state_->mutex);
    // A fetch in flight keeps its waiters; only the cached values go.
    if (auto it = state_->discovery.find(key); it != state_->discovery.end()) it->second.value.reset();
    if (auto it = state_->key_sets.find(key); it != state_->key_sets.end()) it->second.value.reset();
}

std::optional<std::string> provider_client::cached_nonce(const std::string& origin) const {
    return state_->nonce_for(origin);
}

void provider_client::async_discover(std::string issuer, callback<metadata_ptr> done) {
    state_->discover(std::move(issuer), std::move(done));
}

void provider_client::async_jwks(std::string issuer, callback<jwks_ptr> done) {
    state_->fetch_jwks(issuer, std::move(done));
}

void provider_client::async_verify_jwt(std::string issuer, std::string audience, std::string token,
                                       callback<nlohmann::json> done) {
    state_->verify(std::move(issuer), std::move(audience), std::move(token), std::move(done));
}

void provider_client::async_refresh(std::string issuer, client_info client, std::string refresh_token,
                                    std::optional<dpop_key> key, callback<token_set> done) {
    auto x = std::make_shared<state::exchange>();
    x->self = state_;
    x->client = std::move(client);
    x->key = std::move(key);
    x->previous_refresh_token = refresh_token;
    x->build = [rt = std::move(refresh_token), x_client = x->client](const provider_metadata& md,
                                                                     client_auth_method auth,
                                                                     std::optional<std::string_view> proof) {
        return refresh_token_request(md, x_client, auth, rt, std::nullopt, proof);
    };
    x->done = std::move(done);
    state_->token_grant(issuer, std::move(x));
}

void provider_client::async_client_credentials(std::string issuer, client_info client, std::optional<dpop_key> key,
                                               std::string scope, callback<token_set> done) {
    auto x = std::make_shared<state::exchange>();
    x->self = state_;
    x->client = std::move(client);
    x->key = std::move(key);
    x->build = [scope = std::move(scope), x_client = x->client](const provider_metadata& md, client_auth_method auth,
                                                                std::optional<std::string_view> proof) {
        return client_credentials_request(md, x_client, auth, scope, proof);
    };
    x->done = std::move(done);
    state_->token_grant(issuer, std::move(x));
}

void provider_client::async_authorization_code(std::string issuer, client_info client, std::string code,
                                               std::string redirect_uri, std::string code_verifier,
                                               std::optional<dpop_key> key, callback<token_set> done) {
    auto x = std::make_shared<state::exchange>();
    x->self = state_;
    x->client = std::move(client);
    x->key = std::move(key);
    x->build = [code = std::move(code), redirect_uri = std::move(redirect_uri),
                verifier = std::move(code_verifier),
                x_client = x->client](const provider_metadata& md, client_auth_method auth,
                                      std::optional<std::string_view> proof) {
        return authorization_code_request(md, x_client, auth, code, redirect_uri, verifier, proof);
    };
    x->done = std::move(done);
    state_->token_grant(issuer, std::move(x));
}

void provider_client::async_register(std::string issuer, registration_request request,
                                     callback<registered_client> done) {
    auto shared_request = std::make_shared<const registration_request>(std::move(request));
    state_->endpoint_call<registered_client>(
        issuer,
        [shared_request](const provider_metadata& md) { return registration_http_request(md, *shared_request); },
        &provider_client_stats::registration_requests,
        [shared_request](const http::response& response) {
            return parse_registration_response(response, *shared_request);
        },
        std::move(done));
}

void provider_client::async_revoke(std::string issuer, client_info client, std::string token,
                                   std::string token_type_hint, callback<bool> done) {
    state_->endpoint_call<bool>(
        issuer,
        [client = std::move(client), token = std::move(token),
         hint = std::move(token_type_hint)](const provider_metadata& md) {
            return revocation_request(md, client, token, hint);
        },
        &provider_client_stats::revocation_requests,
        [](const http::response& response) {
            check_revocation_response(response);
            return true;
        },
        std::move(done));
}

void provider_client::async_fetch(http::request req, std::optional<resource_credentials> credentials,
                                  callback<http::response> done) {
    state_->fetch(std::move(req), std::move(credentials), std::move(done));
}

// -------------------------------------------------------------------------------------------------
// Blocking forms

namespace {

/// Runs an async_ operation and waits for its callback; throws multisession::error on failure.
template <class T, class Start>
T wait_for(const std::string& context, Start start) {
    std::promise<std::pair<std::error_code, T>> promise;
    auto future = promise.get_future();
    start([&promise](std::error_code ec, T value) { promise.set_value({ec, std::move(value)}); });
    auto [ec, value] = future.get();
    if (ec) throw error(ec, context);
    return std::move(value);
}

} // namespace

provider_client::metadata_ptr provider_client::discover(const std::string& issuer) {
    return wait_for<metadata_ptr>("discovery of " + detail::printable(issuer),
                                  [&](auto cb) { async_discover(issuer, std::move(cb)); });
}

provider_client::jwks_ptr provider_client::fetch_jwks(const std::string& issuer) {
    return wait_for<jwks_ptr>("JWKS of " + detail::printable(issuer),
                              [&](auto cb) { async_jwks(issuer, std::move(cb)); });
}

token_set provider_client::refresh(const std::string& issuer, const client_info& client,
                                   const std::string& refresh_token, const std::optional<dpop_key>& key) {
    return wait_for<token_set>("refresh at " + detail::printable(issuer),
                               [&](auto cb) { async_refresh(issuer, client, refresh_token, key, std::move(cb)); });
}

token_set provider_client::client_credentials(const std::string& issuer, const client_info& client,
                                              const std::optional<dpop_key>& key, const std::string& scope) {
    return wait_for<token_set>("client credentials grant at " + detail::printable(issuer),
                               [&](auto cb) { async_client_credentials(issuer, client, key, scope, std::move(cb)); });
}

token_set provider_client::authorization_code(const std::string& issuer, const client_info& client,
                                              const std::string& code, const std::string& redirect_uri,
                                              const std::string& code_verifier, const std::optional<dpop_key>& key) {
    return wait_for<token_set>("authorization code exchange at " + detail::printable(issuer), [&](auto cb) {
        async_authorization_code(issuer, client, code, redirect_uri, code_verifier, key, std::move(cb));
    });
}

registered_client provider_client::register_client(const std::string& issuer, const registration_request& request) {
    return wait_for<registered_client>("client registration at " + detail::printable(issuer),
                                       [&](auto cb) { async_register(issuer, request, std::move(cb)); });
}

void provider_client::revoke(const std::string& issuer, const client_info& client, const std::string& token,
                             const std::string& token_type_hint) {
    (void)wait_for<bool>("token revocation at " + detail::printable(issuer), [&](auto cb) {
        async_revoke(issuer, client, token, token_type_hint, std::move(cb));
    });
}

nlohmann::json provider_client::verify_jwt(const std::string& issuer, const std::string& audience,
                                           const std::string& token) {
    return wait_for<nlohmann::json>("token from " + detail::printable(issuer),
                                    [&](auto cb) { async_verify_jwt(issuer, audience, token, std::move(cb)); });
}

http::response provider_client::fetch(http::request req, const std::optional<resource_credentials>& credentials) {
    // The URL may carry a query with anything in it: name the origin only.
    std::string where;
    try {
        where = origin_of(req.url);
    } catch (...) {
        where = "an invalid URL";
    }
    return wait_for<http::response>("request to " + where,
                                    [&](auto cb) { async_fetch(std::move(req), credentials, std::move(cb)); });
}

} // namespace multisession::oidc
