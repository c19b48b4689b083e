// SPDX-License-Identifier: MIT
#include "completion.hpp"

#include <algorithm>
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

void add_matching(const std::vector<std::string>& candidates, const std::string& prefix,
    const std::string& word, std::vector<std::string>& matches)
{
    for (const auto& candidate : candidates)
        if (starts_with(prefix + candidate, word))
            matches.push_back(prefix + candidate);
}

std::string unquoted(const std::string& value)
{
    if (value.size() >= 2 && (value.front() == '\'' || value.front() == '"') &&
        value.back() == value.front())
        return value.substr(1, value.size() - 2);
    return value;
}

Schema::Given given_of(const std::vector<std::string>& words)
{
    Schema::Given given;
    for (const auto& word : words) {
        const auto equals = word.find('=');
        if (equals != std::string::npos)
            given[word.substr(0, equals)] = unquoted(word.substr(equals + 1));
    }
    return given;
}

bool already_given(const Schema::Given& given, const std::string& name)
{
    if (given.count(name))
        return true;
    // cache.direct=... given: cache=... would conflict.
    const auto after = given.lower_bound(name + ".");
    return after != given.end() && starts_with(after->first, name + ".");
}

// path=/machine/per -> "/machine/peripheral/", "/machine/peripheral-anon/"
std::vector<std::string> qom_paths(const CompletionSources& sources, const std::string& typed)
{
    std::vector<std::string> paths;
    if (!sources.qom_children)
        return paths;
    if (typed.empty() || typed.front() != '/')
        return {"/"};
    const std::string directory = typed.substr(0, typed.rfind('/') + 1);
    const std::string listed =
        directory.size() > 1 ? directory.substr(0, directory.size() - 1) : directory;
    for (const auto& child : sources.qom_children(listed))
        paths.push_back(directory + child + "/");
    return paths;
}

// Completes "key=value" or "key" for the arguments of \p type.
std::vector<std::string> complete_arguments(const CompletionSources& sources,
    const std::string& command, const std::string& type, const std::vector<std::string>& typed,
    const std::string& word)
{
    std::vector<std::string> matches;
    const Schema::Given given = given_of(typed);
    const auto equals = word.find('=');
    if (equals == std::string::npos) {
        for (const auto& name : sources.arguments->member_names(type, given))
            if (!already_given(given, name) && starts_with(name, word))
                matches.push_back(name + "=");
        return matches;
    }
    const std::string key = word.substr(0, equals);
    const std::string prefix = word.substr(0, equals + 1);
    if (starts_with(command, "qom-") && key == "path") {
        add_matching(qom_paths(sources, word.substr(equals + 1)), prefix, word, matches);
        return matches;
    }
    if (starts_with(command, "qom-") && key == "property" && given.count("path") &&
        sources.qom_properties) {
        add_matching(sources.qom_properties(given.at("path")), prefix, word, matches);
        return matches;
    }
    add_matching(sources.arguments->member_values(type, key, given), prefix, word, matches);
    return matches;
}

} // namespace

bool needs_arguments(const std::string& before, bool in_transaction)
{
    const auto words = words_of(before);
    return in_transaction || (!words.empty() && words.front() != "help");
}

std::vector<std::string> complete(
    const CompletionSources& sources, const std::string& before, const std::string& word)
{
    auto words = words_of(before);
    std::vector<std::string> matches;
    bool in_transaction = sources.in_transaction;
    if (!in_transaction && !words.empty() && words.front() == "transaction(") {
        in_transaction = true;
        words.erase(words.begin());
    }
    if (in_transaction) {
        if (!sources.arguments)
            return matches;
        if (words.empty()) {
            add_matching(sources.arguments->action_names(), "", word, matches);
            if (starts_with(")", word))
                matches.emplace_back(")");
            return matches;
        }
        const std::vector<std::string> typed(words.begin() + 1, words.end());
        return complete_arguments(
            sources, words[0], sources.arguments->action_type(words[0]), typed, word);
    }
    if (words.empty() || (words.size() == 1 && words[0] == "help")) {
        if (words.empty())
            add_matching({"help", "transaction("}, "", word, matches);
        add_matching(sources.names.command_names(), "", word, matches);
        return matches;
    }
    if (!sources.arguments || words[0] == "help")
        return matches;
    const std::vector<std::string> typed(words.begin() + 1, words.end());
    return complete_arguments(
        sources, words[0], sources.arguments->arguments_type(words[0]), typed, word);
}

std::vector<std::string> complete_with(const Schema& names_only, const Schema* with_arguments,
    const std::string& before, const std::string& word)
{
    CompletionSources sources{names_only, with_arguments, false, {}, {}};
    return complete(sources, before, word);
}

std::vector<std::string> complete_hmp(const std::vector<std::string>& commands,
    const std::vector<std::string>& info, const std::string& before, const std::string& word)
{
    const auto words = words_of(before);
    std::vector<std::string> matches;
    if (words.empty())
        add_matching(commands, "", word, matches);
    else if (words.size() == 1 && (words[0] == "info" || words[0] == "i"))
        add_matching(info, "", word, matches);
    else if (words.size() == 1 && words[0] == "help")
        add_matching(commands, "", word, matches);
    return matches;
}

std::vector<std::string> hmp_command_names(const std::string& help_text, const std::string& skip)
{
    std::vector<std::string> names;
    std::istringstream stream(help_text);
    for (std::string line; std::getline(stream, line);) {
        if (!skip.empty()) {
            if (!starts_with(line, skip))
                continue;
            line.erase(0, skip.size());
        }
        const std::string first = line.substr(0, line.find_first_of(" \t\r"));
        std::istringstream aliases(first);
        for (std::string name; std::getline(aliases, name, '|');)
            if (!name.empty())
                names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

} // namespace qmp_shell
