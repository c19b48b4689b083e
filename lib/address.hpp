// SPDX-License-Identifier: MIT
// Parsing of the address strings Client::connect() accepts.
#pragma once

#include <string>

namespace qmp::detail {

struct Address {
    enum class Kind { unix_socket, tcp };
    Kind kind = Kind::unix_socket;
    std::string path; // unix_socket
    std::string host; // tcp, without IPv6 brackets
    std::string port; // tcp

    /// Canonical form for messages: "unix:/path" or "tcp:host:port" ("tcp:[::1]:4444").
    std::string to_string() const;
};

/// "unix:PATH", "tcp:HOST:PORT", "[V6]:PORT", "HOST:PORT" (PORT all digits) or a plain path.
/// \throws UsageError for an empty address or a TCP address without host or port.
Address parse_address(const std::string& text);

} // namespace qmp::detail
