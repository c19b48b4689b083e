// SPDX-License-Identifier: MIT
// A request as the bytes that go on the wire, and as the trace log shows it.
#pragma once

#include <string>

#include <qmp/json.hpp>

#include "call.hpp"

namespace qmp::detail {

/// The command a raw message (execute_raw()) names: its "execute" or "exec-oob" member, or
/// "raw" when it has neither.
std::string raw_command_name(const json& message);

/// Checks \p request before anything is registered or sent.
/// \throws UsageError for arguments that are not an object or a raw message of the wrong shape.
void check_request(const Request& request);

/// The bytes to send for \p request: its prefix, then the message (\p command, for one without a
/// raw message) with \p id, compact, without a line end (QEMU needs none).
/// \throws UsageError when the arguments cannot be serialized (invalid UTF-8).
std::string serialize_request(
    const Request& request, const std::string& command, const std::string& id);

/// serialize_request() with secrets replaced (see ClientOptions::redact_secrets), for the log.
std::string request_for_log(
    const Request& request, const std::string& command, const std::string& id);

} // namespace qmp::detail
