// HTTP/1.1 request formatting, Beast-free: a request is a short text, and Beast's serializer costs
// far more compile time (over TLS) than it saves.
#pragma once

#include "http/message.hpp"

#include <string>

namespace multisession::http {

/// The request line, headers and body of `req` as sent on the wire. Host and Content-Length are
/// always ours (the caller's are dropped, so they cannot disagree with the URL or the body), as is
/// Transfer-Encoding (we never chunk); User-Agent is `user_agent` unless the request has its own.
/// Content-Length is sent when there is a body, and for POST, PUT and PATCH.
/// The caller has checked that method, names and values contain no CR, LF or NUL.
std::string request_text(const request& req, const std::string& target, const std::string& host_header,
                         const std::string& user_agent);

} // namespace multisession::http
