// SPDX-License-Identifier: MIT
#include "agent_commands.hpp"

#include <algorithm>
#include <sstream>

namespace qmp_shell {

std::vector<std::string> enabled_agent_commands(const qmp::json& info)
{
    std::vector<std::string> names;
    if (!info.is_object())
        return names;
    const auto commands = info.find("supported_commands");
    if (commands == info.end() || !commands->is_array())
        return names;
    for (const auto& command : *commands) {
        if (!command.is_object())
            continue;
        const auto name = command.find("name");
        const auto enabled = command.find("enabled");
        if (name == command.end() || !name->is_string())
            continue;
        if (enabled != command.end() && enabled->is_boolean() && !enabled->get<bool>())
            continue;
        names.push_back(name->get<std::string>());
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::string> complete_agent_command(
    const std::vector<std::string>& names, const std::string& before, const std::string& word)
{
    std::istringstream stream(before);
    std::vector<std::string> words;
    for (std::string w; stream >> w;)
        words.push_back(w);
    std::vector<std::string> matches;
    const auto starts_with = [&word](const std::string& text) {
        return text.compare(0, word.size(), word) == 0;
    };
    if (words.empty() && starts_with("help"))
        matches.emplace_back("help");
    if (words.empty() || (words.size() == 1 && words[0] == "help"))
        for (const auto& name : names)
            if (starts_with(name))
                matches.push_back(name);
    return matches;
}

} // namespace qmp_shell
