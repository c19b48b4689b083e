// SPDX-License-Identifier: MIT
// Script mode (stdin not a terminal): one line at a time to a line runner, QMP's or the guest
// agent's, and the exit status the lines add up to.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "interrupt.hpp"
#include "runner.hpp"

namespace qmp_shell {

// The exit status of one line's result (options.hpp's ExitStatus).
int status_of(LineResult result);

// Runs every line of stdin (blank lines and '#' comments skipped) until its end, `quit`, a lost
// connection or an interrupt. Returns the highest status of the lines, or 128+N after signal N.
int run_script(
    const std::function<LineResult(const std::string&)>& run_line, qmp_tools::Interrupt& interrupt);

// Runs the -c lines in turn until `quit` or a lost connection; a transaction left open is an
// error. \p prompt tells whether a transaction is open ("TRANS> "). Returns the highest status.
int run_commands(const std::vector<std::string>& lines,
    const std::function<LineResult(const std::string&)>& run_line,
    const std::function<std::string()>& prompt);

} // namespace qmp_shell
