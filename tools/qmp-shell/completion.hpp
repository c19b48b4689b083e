// SPDX-License-Identifier: MIT
// What TAB offers: command names first, then the command's argument names as "name=".
#pragma once

#include <string>
#include <vector>

#include "schema.hpp"

namespace qmp_shell {

// \p before: the line up to the word being completed; \p word: its beginning.
// \p with_arguments may be null when argument names are not needed (see needs_arguments()).
std::vector<std::string> complete_with(const Schema& names_only, const Schema* with_arguments,
    const std::string& before, const std::string& word);

// True when completing \p before needs argument names (it is past the command name).
bool needs_arguments(const std::string& before);

} // namespace qmp_shell
