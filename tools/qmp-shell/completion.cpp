// SPDX-License-Identifier: MIT
#include "completion.hpp"

#include <sstream>

namespace qmp_shell {

namespace {

std::vector<std::string> words_of(const std::string& text)
{
    std::istringstream stream(text);
    std::vector<std::string> words;
    for (std::string word; stream >> word;)
        words.push_back(word);
    return words;
}

bool starts_with(const std::string& text, const std::string& prefix)
{
    return text.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

bool needs_arguments(const std::string& before)
{
    const auto words = words_of(before);
    return !words.empty() && words.front() != "help" && words.front() != "transaction(";
}

std::vector<std::string> complete_with(const Schema& names_only, const Schema* with_arguments,
    const std::string& before, const std::string& word)
{
    const auto words = words_of(before);
    std::vector<std::string> matches;
    if (words.empty() ||
        (words.size() == 1 && (words[0] == "help" || words[0] == "transaction("))) {
        if (words.empty())
            for (const char* builtin : {"help", "transaction("})
                if (starts_with(builtin, word))
                    matches.emplace_back(builtin);
        for (const auto& name : names_only.command_names())
            if (starts_with(name, word))
                matches.push_back(name);
        return matches;
    }
    if (!with_arguments || word.find('=') != std::string::npos)
        return matches; // values are not completed
    const std::string& command =
        words[0] == "transaction(" && words.size() > 1 ? words[1] : words[0];
    for (const auto& name : with_arguments->argument_names(command))
        if (starts_with(name, word))
            matches.push_back(name + "=");
    return matches;
}

} // namespace qmp_shell
