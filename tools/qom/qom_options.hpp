// SPDX-License-Identifier: MIT
// qom's command line: options anywhere (before or after the command and its arguments), an
// ADDRESS before the command or -s/--socket, and `qom COMMAND --help`.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "session.hpp"

namespace qom {

struct QomOptions {
    qmp_tools::Target target;
    std::vector<std::string> command; // the command (ls, get, set, tree) and its arguments
    bool pretty = false;
    bool values = false; // tree: property values too
    std::string log_file;
    std::optional<std::chrono::milliseconds> timeout;
    bool help = false; // --help: usage_text, or the command's help when a command is given
};

// \throws qmp_tools::UsageError
QomOptions parse_options(int argc, char** argv);

// The whole --help text, and one command's ("" for an unknown command).
std::string usage_text();
std::string command_help(const std::string& command);

} // namespace qom
