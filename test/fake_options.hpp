// SPDX-License-Identifier: MIT
// Options for clients of qmp::testing's fakes (FakeQemu, FakeGuestAgent): bounded waits, short
// enough that a lost reply fails the test quickly, long enough for sanitizer builds on a loaded
// machine. Public API only (the qmp::testing tests use it too).
#pragma once

#include <chrono>

#include <qmp/guest_agent.hpp>
#include <qmp/options.hpp>

namespace qmp::test {

/// A Client's options: connect within 5 s, \p command_timeout for each command.
inline qmp::ClientOptions quick_options(
    std::chrono::milliseconds command_timeout = std::chrono::seconds(5))
{
    qmp::ClientOptions options;
    options.connect_timeout = std::chrono::seconds(5);
    options.command_timeout = command_timeout;
    return options;
}

/// A GuestAgent's options: connect and each command within 5 s, \p no_reply_wait for the
/// commands that reply only on error.
inline qmp::GuestAgentOptions quick_agent_options(
    std::chrono::milliseconds no_reply_wait = std::chrono::seconds(5))
{
    qmp::GuestAgentOptions options;
    options.connect_timeout = std::chrono::seconds(5);
    options.command_timeout = std::chrono::seconds(5);
    options.no_reply_wait = no_reply_wait;
    return options;
}

} // namespace qmp::test
