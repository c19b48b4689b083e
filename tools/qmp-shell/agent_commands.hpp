// SPDX-License-Identifier: MIT
// What the guest agent mode knows of the agent's commands: the enabled ones of guest-info, and
// what TAB offers from them. Pure functions, unit-tested without an agent.
#pragma once

#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp_shell {

// The names of the enabled commands in guest-info's reply (its "supported_commands"), sorted.
// Anything malformed is skipped.
std::vector<std::string> enabled_agent_commands(const qmp::json& info);

// TAB in agent mode: "help" and the command names for the first word, command names after
// "help"; nothing else (the agent describes no arguments). \p before: the line up to the word
// being completed; \p word: its beginning.
std::vector<std::string> complete_agent_command(
    const std::vector<std::string>& names, const std::string& before, const std::string& word);

} // namespace qmp_shell
