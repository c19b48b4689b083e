// SPDX-License-Identifier: MIT
// How the tools print JSON and QMP errors, so that qmp-shell and qom look alike.
#pragma once

#include <string>

#include <qmp/json.hpp>

namespace qmp_tools {

// Colour only for a terminal, and never when $NO_COLOR is set or $TERM is "dumb".
bool use_colour(int fd);

// Indented over several lines, or compact on one line.
std::string format_json(const qmp::json& value, bool pretty);

// "CLASS: description", the class in bold red when \p colour.
std::string format_error(
    const std::string& error_class, const std::string& description, bool colour);

} // namespace qmp_tools
