// SPDX-License-Identifier: MIT
// The interactive shell: line editing, and events printed as they arrive.
#pragma once

#include "interrupt.hpp"
#include "options.hpp"
#include "session.hpp"

namespace qmp_shell {

// Runs until Ctrl-D, `quit`, a lost connection or an interrupt. Returns the exit status.
int run_interactive(qmp_tools::Session& session, const ShellOptions& options, bool pretty,
    qmp_tools::Interrupt& interrupt);

} // namespace qmp_shell
