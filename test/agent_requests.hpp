// SPDX-License-Identifier: MIT
// The requests a qmp::GuestAgent sends, as a fake agent reading raw bytes sees them: compact
// JSON objects, a synchronisation preceded by byte 0xFF (which a JSON framer cannot see), and
// what qemu-ga answers to that byte. Shared by the scripted agent of test_guest_agent.cpp and
// the fuzz target fuzz/fuzz_agent_sync.cpp. Public API only.
#pragma once

#include <cctype>
#include <cstddef>
#include <stdexcept>
#include <string>

#include <qmp/json.hpp>

namespace qmp::test {

/// What qemu-ga 7.2 answers to the byte 0xFF (checked against the real one).
inline const std::string qga_parse_error =
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray "
    "'\\uFFFD'\"}}\n";

/// One request as the fake agent read it: whether 0xFF came just before it, and the message.
struct AgentRequest {
    bool delimited = false;
    qmp::json message;

    std::string command() const { return message.value("execute", ""); }
    bool is_sync() const { return command() == "guest-sync-delimited"; }
};

/// Takes one complete request from the front of \p buffer into \p request: 0xFF bytes (and, with
/// \p skip_whitespace, white space) then a JSON object. \returns false, leaving \p buffer as it
/// is, while no complete request is there. \throws std::runtime_error ("fake agent: ...") when
/// what comes is not a JSON object or is malformed.
inline bool take_agent_request(std::string& buffer, AgentRequest& request, bool skip_whitespace)
{
    std::size_t i = 0;
    bool delimited = false;
    while (i < buffer.size() &&
        (buffer[i] == '\xff' ||
            (skip_whitespace && std::isspace(static_cast<unsigned char>(buffer[i]))))) {
        delimited = delimited || buffer[i] == '\xff';
        ++i;
    }
    if (i == buffer.size())
        return false;
    if (buffer[i] != '{')
        throw std::runtime_error(
            "fake agent: the client sent something that is not a JSON object: " +
            buffer.substr(i, 80));
    int depth = 0;
    bool in_string = false, escaped = false;
    for (std::size_t j = i; j < buffer.size(); ++j) {
        const char c = buffer[j];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            request.delimited = delimited;
            try {
                request.message = qmp::json::parse(buffer.data() + i, buffer.data() + j + 1);
            } catch (const qmp::json::exception& e) {
                throw std::runtime_error(
                    std::string("fake agent: the client sent malformed JSON: ") + e.what());
            }
            buffer.erase(0, j + 1);
            return true;
        }
    }
    return false;
}

} // namespace qmp::test
