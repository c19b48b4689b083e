// SPDX-License-Identifier: MIT
// How the tools print JSON and QMP errors, so that qmp-shell and qom look alike.
#pragma once

#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp_tools {

// Colour only for a terminal, and never when $NO_COLOR is set or $TERM is "dumb".
bool use_colour(int fd);

// Indented over several lines, or compact on one line.
std::string format_json(const qmp::json& value, bool pretty);

// An event as QMP sends it, members in QMP's order ("event", "data", "timestamp"), whatever
// the order of the JSON library's objects.
std::string format_event_json(const qmp::json& raw, bool pretty);

// One line for a terminal: "EVENT STOP" or "EVENT BLOCK_JOB_READY {"device":"job0",...}".
std::string format_event_line(const std::string& name, const qmp::json& data);

// "CLASS: description", the class in bold red when \p colour.
std::string format_error(
    const std::string& error_class, const std::string& description, bool colour);

} // namespace qmp_tools
