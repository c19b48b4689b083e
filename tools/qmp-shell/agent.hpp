// SPDX-License-Identifier: MIT
// qmp-shell --agent ADDRESS: the QEMU guest agent (qmp::GuestAgent) instead of QMP. The same
// lines as QMP mode (command key=value, JSON objects), help, history and TAB completion of the
// enabled commands of guest-info, script mode and -c, with QMP mode's exit statuses. The agent
// sends no events.
#pragma once

#include "interrupt.hpp"
#include "options.hpp"

namespace qmp_shell {

// Connects to options.agent and runs the session. Returns the exit status.
// \throws qmp::Error (ConnectError when the agent cannot be reached or does not answer).
int run_agent(const ShellOptions& options, qmp_tools::Interrupt& interrupt);

} // namespace qmp_shell
