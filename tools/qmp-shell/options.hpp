// SPDX-License-Identifier: MIT
// qmp-shell's command line.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "session.hpp"

namespace qmp_shell {

// Documented exit statuses (also in --help).
enum ExitStatus {
    exit_ok = 0,
    exit_command_failed = 1, // a command failed, a line did not parse, --wait-event timed out
    exit_usage = 2, // bad command-line arguments
    exit_connection = 3, // could not connect or start QEMU, or the connection was lost
};

struct ShellOptions {
    qmp_tools::Target target; // unused in agent mode
    bool hmp = false;
    std::optional<bool> pretty; // unset: pretty on a terminal, compact otherwise
    bool verbose = false;
    std::string log_file;
    std::vector<std::string> commands; // -c, each in turn
    std::optional<std::string> wait_event; // --wait-event
    bool events = false;
    bool hide_events = false; // --no-events: an interactive shell does not print events
    std::optional<std::chrono::milliseconds> timeout;
    // --num-retries N, --retry-delay S (qmp-tui's): retry connecting, and reconnect when the
    // connection drops (ADDRESS or $QMP_SOCKET only).
    unsigned num_retries = 0;
    std::chrono::milliseconds retry_delay{std::chrono::seconds(2)};
    std::optional<std::string> agent; // --agent ADDRESS: guest agent mode (agent.hpp)
    bool help = false;
};

// \throws qmp_tools::UsageError
ShellOptions parse_options(int argc, char** argv);

extern const char* const usage_text;

} // namespace qmp_shell
