// SPDX-License-Identifier: MIT
// What the Client and the GuestAgent share: their options' checks and per-command timeouts, and
// connecting (the socket, the Canceller through which disconnect() ends it, a failed attempt's
// end).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "session.hpp"

namespace qmp::detail {

/// \throws UsageError "qmp: invalid OPTIONS: WHAT".
[[noreturn]] void invalid_options(const char* options, const std::string& what);

/// The checks of the members both option types have; \p name is the type's ("ClientOptions").
template <typename Options> void check_shared_options(const char* name, const Options& options)
{
    if (options.command_timeout.count() <= 0)
        invalid_options(name, "command_timeout must be positive (qmp::wait_forever for no limit)");
    if (options.max_message_size == 0)
        invalid_options(name, "max_message_size is 0");
    if (options.max_nesting_depth == 0)
        invalid_options(
            name, "max_nesting_depth is 0 (every message is an object, at least 1 level deep)");
    for (const auto& [command, timeout] : options.command_timeouts)
        if (timeout.count() <= 0)
            invalid_options(name,
                "command_timeouts[\"" + command +
                    "\"] must be positive (qmp::wait_forever for no limit)");
}

/// command_timeouts' bound for \p command, else command_timeout.
template <typename Options>
std::chrono::milliseconds default_timeout(const Options& options, const std::string& command)
{
    const auto configured = options.command_timeouts.find(command);
    return configured != options.command_timeouts.end() ? configured->second
                                                        : options.command_timeout;
}

/// A Canceller for connecting to \p peer. \throws ConnectError
std::shared_ptr<Canceller> connect_canceller(const std::string& peer);

/// Connects to \p address before \p deadline. With a \p retry_interval (0: none), "not there
/// yet" failures are retried until then; \p timeout is what set the deadline, for messages.
/// \throws ConnectError
Fd connect_with_retries(const Address& address, const TcpSettings& tcp,
    std::chrono::milliseconds retry_interval, std::chrono::milliseconds timeout,
    Clock::time_point deadline, Canceller& cancel);

/// \throws ConnectError "connecting to PEER was cancelled by disconnect()" once \p cancel is.
void throw_if_cancelled(const Canceller& cancel, const std::string& peer);

/// In the handler of a failed attempt to connect to \p peer, once the caller took back what it
/// published: closes \p session (if any), then throws throw_if_cancelled()'s error, or else the
/// exception being handled.
[[noreturn]] void end_failed_connect(
    const std::shared_ptr<Session>& session, const Canceller& cancel, const std::string& peer);

} // namespace qmp::detail
