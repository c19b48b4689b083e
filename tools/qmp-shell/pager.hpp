// SPDX-License-Identifier: MIT
// Long output (help) through a pager on a terminal, as git and man do.
#pragma once

#include <string>

namespace qmp_shell {

// Prints \p text on stdout; when stdout is a terminal and \p text is taller than it, through
// $PAGER (default "less -FRX"; an empty $PAGER means none).
void print_paged(const std::string& text);

} // namespace qmp_shell
