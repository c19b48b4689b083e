// SPDX-License-Identifier: MIT
#include "address.hpp"

#include <algorithm>
#include <cctype>

#include <qmp/error.hpp>

namespace qmp::detail {

namespace {

bool all_digits(const std::string& s)
{
    return !s.empty() &&
        std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool starts_with(const std::string& s, const char* prefix)
{
    return s.rfind(prefix, 0) == 0;
}

// Splits "HOST:PORT" or "[V6]:PORT"; returns false when it is not of that form.
bool split_host_port(const std::string& text, std::string& host, std::string& port)
{
    if (starts_with(text, "[")) {
        const auto close = text.find("]:");
        if (close == std::string::npos)
            return false;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos)
            return false;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string::npos)
            return false; // a bare IPv6 address needs brackets
    }
    return !host.empty() && all_digits(port);
}

} // namespace

std::string Address::to_string() const
{
    if (kind == Kind::unix_socket)
        return "unix:" + path;
    if (host.find(':') != std::string::npos)
        return "tcp:[" + host + "]:" + port;
    return "tcp:" + host + ":" + port;
}

Address parse_address(const std::string& text)
{
    Address address;
    if (text.empty())
        throw UsageError(
            "qmp: empty address; expected a unix socket path, unix:PATH or tcp:HOST:PORT");

    if (starts_with(text, "unix:")) {
        address.path = text.substr(5);
        if (address.path.empty())
            throw UsageError("qmp: address '" + text + "' has no socket path");
        return address;
    }
    if (starts_with(text, "tcp:")) {
        address.kind = Address::Kind::tcp;
        if (!split_host_port(text.substr(4), address.host, address.port))
            throw UsageError(
                "qmp: address '" + text + "' is not tcp:HOST:PORT (IPv6 as tcp:[::1]:PORT)");
        return address;
    }
    // Anything that looks like HOST:PORT is TCP; everything else is a socket path.
    if (text[0] != '/' && text[0] != '.' && split_host_port(text, address.host, address.port)) {
        address.kind = Address::Kind::tcp;
        return address;
    }
    address.path = text;
    return address;
}

} // namespace qmp::detail
