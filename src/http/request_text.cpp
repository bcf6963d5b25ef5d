#include "http/request_text.hpp"

namespace multisession::http {

std::string request_text(const request& req, const std::string& target, const std::string& host_header,
                         const std::string& user_agent) {
    std::string out;
    out.reserve(256 + target.size() + req.body.size());
    out += req.method;
    out += ' ';
    out += target;
    out += " HTTP/1.1\r\nHost: ";
    out += host_header;
    out += "\r\n";
    bool has_user_agent = false;
    for (const auto& h : req.headers) {
        if (header_name_equals(h.name, "host") || header_name_equals(h.name, "content-length") ||
            header_name_equals(h.name, "transfer-encoding"))
            continue;
        if (header_name_equals(h.name, "user-agent")) has_user_agent = true;
        out += h.name;
        out += ": ";
        out += h.value;
        out += "\r\n";
    }
    if (!has_user_agent && !user_agent.empty()) {
        out += "User-Agent: ";
        out += user_agent;
        out += "\r\n";
    }
    if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
        out += "Content-Length: ";
        out += std::to_string(req.body.size());
        out += "\r\n";
    }
    out += "\r\n";
    out += req.body;
    return out;
}

} // namespace multisession::http
