// SPDX-License-Identifier: MIT
// What TAB offers: command names first, then the command's argument names as "name=", and in
// value position the values the schema knows (enums, booleans), QOM paths for path= and
// property names for property= of the qom-* commands. In -H mode, HMP command names.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "schema.hpp"

namespace qmp_shell {

struct CompletionSources {
    const Schema& names; // command names (query-commands)
    const Schema* arguments = nullptr; // the whole schema, when needs_arguments() said so
    bool in_transaction = false; // between `transaction(` and `)` on earlier lines
    // The children and links of a QOM path, and the properties of a QOM object (qom-list);
    // empty functions or results when unknown.
    std::function<std::vector<std::string>(const std::string& path)> qom_children;
    std::function<std::vector<std::string>(const std::string& path)> qom_properties;
};

// \p before: the line up to the word being completed; \p word: its beginning (whole, from the
// last blank: "path=/mach"). Candidates are whole words too ("path=/machine/").
std::vector<std::string> complete(
    const CompletionSources& sources, const std::string& before, const std::string& word);

// The same without QOM and transaction state (the unit tests' shorthand).
std::vector<std::string> complete_with(const Schema& names_only, const Schema* with_arguments,
    const std::string& before, const std::string& word);

// True when completing \p before needs the whole schema (it is past the command name).
bool needs_arguments(const std::string& before, bool in_transaction = false);

// -H mode: \p commands (HMP's `help`) for the first word, \p info (`help info`) after "info".
std::vector<std::string> complete_hmp(const std::vector<std::string>& commands,
    const std::vector<std::string>& info, const std::string& before, const std::string& word);

// The command names of HMP's `help` text (one "name|alias args -- text" per line), sorted;
// for `help info` (lines "info NAME -- text") pass \p skip "info ".
std::vector<std::string> hmp_command_names(
    const std::string& help_text, const std::string& skip = "");

} // namespace qmp_shell
