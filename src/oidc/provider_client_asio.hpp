// Asio completion-token forms of the provider client: the same operations with any completion
// token (a callback, boost::asio::use_future, boost::asio::use_awaitable, deferred, ...). Kept apart
// from provider_client.hpp so that protocol code and its tests do not pay for Asio.
//
// Completion signatures are void(boost::system::error_code, T), as Asio expects of an error
// argument (use_future and use_awaitable then throw on failure). The boost::system::error_code
// wraps the library's std::error_code unchanged: `std::error_code(ec) == oidc_errc::invalid_grant`
// holds, and use_future / use_awaitable throw a boost::system::system_error carrying it.
#pragma once

#include "oidc/provider_client.hpp"

#include <multisession/detail/asio_adapt.hpp>

#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace multisession::oidc {

/// async_discover with a completion token; signature void(boost::system::error_code, metadata_ptr).
template <class Token>
auto async_discover(provider_client& client, boost::asio::any_io_executor ex, std::string issuer, Token&& token) {
    return asio_detail::adapt<provider_client::metadata_ptr>(
        std::move(ex), std::forward<Token>(token),
        [&client, issuer = std::move(issuer)](auto cb) mutable { client.async_discover(std::move(issuer), std::move(cb)); });
}

/// async_refresh with a completion token; signature void(boost::system::error_code, token_set).
template <class Token>
auto async_refresh(provider_client& client, boost::asio::any_io_executor ex, std::string issuer, client_info info,
                   std::string refresh_token, std::optional<dpop_key> key, Token&& token) {
    return asio_detail::adapt<token_set>(
        std::move(ex), std::forward<Token>(token),
        [&client, issuer = std::move(issuer), info = std::move(info), rt = std::move(refresh_token),
         key = std::move(key)](auto cb) mutable {
            client.async_refresh(std::move(issuer), std::move(info), std::move(rt), std::move(key), std::move(cb));
        });
}

/// async_client_credentials with a completion token; signature void(boost::system::error_code, token_set).
template <class Token>
auto async_client_credentials(provider_client& client, boost::asio::any_io_executor ex, std::string issuer,
                              client_info info, std::optional<dpop_key> key, std::string scope, Token&& token) {
    return asio_detail::adapt<token_set>(
        std::move(ex), std::forward<Token>(token),
        [&client, issuer = std::move(issuer), info = std::move(info), key = std::move(key),
         scope = std::move(scope)](auto cb) mutable {
            client.async_client_credentials(std::move(issuer), std::move(info), std::move(key), std::move(scope),
                                            std::move(cb));
        });
}

/// async_verify_jwt with a completion token; signature void(boost::system::error_code, nlohmann::json).
template <class Token>
auto async_verify_jwt(provider_client& client, boost::asio::any_io_executor ex, std::string issuer,
                      std::string audience, std::string jwt, Token&& token) {
    return asio_detail::adapt<nlohmann::json>(
        std::move(ex), std::forward<Token>(token),
        [&client, issuer = std::move(issuer), audience = std::move(audience), jwt = std::move(jwt)](auto cb) mutable {
            client.async_verify_jwt(std::move(issuer), std::move(audience), std::move(jwt), std::move(cb));
        });
}

/// async_fetch with a completion token; signature void(boost::system::error_code, http::response).
template <class Token>
auto async_fetch(provider_client& client, boost::asio::any_io_executor ex, http::request req,
                 std::optional<resource_credentials> credentials, Token&& token) {
    return asio_detail::adapt<http::response>(
        std::move(ex), std::forward<Token>(token),
        [&client, req = std::move(req), credentials = std::move(credentials)](auto cb) mutable {
            client.async_fetch(std::move(req), std::move(credentials), std::move(cb));
        });
}

} // namespace multisession::oidc
