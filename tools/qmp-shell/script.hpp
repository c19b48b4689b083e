// SPDX-License-Identifier: MIT
// Script mode (stdin not a terminal): one line at a time to a line runner, QMP's or the guest
// agent's, and the exit status the lines add up to.
#pragma once

#include <functional>
#include <string>

#include "interrupt.hpp"
#include "runner.hpp"

namespace qmp_shell {

// The exit status of one line's result (options.hpp's ExitStatus).
int status_of(LineResult result);

// Runs every line of stdin (blank lines and '#' comments skipped) until its end, `quit`, a lost
// connection or an interrupt. Returns the highest status of the lines, or 128+N after signal N.
int run_script(
    const std::function<LineResult(const std::string&)>& run_line, qmp_tools::Interrupt& interrupt);

} // namespace qmp_shell
