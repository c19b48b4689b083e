// SPDX-License-Identifier: MIT
// The history file qmp-shell shares with QEMU's Python qmp-shell (~/.qmp-shell_history): one
// entry per line, plain text, as GNU readline writes it. Saving merges: the file is read again
// and this session's entries are appended, so entries another program wrote meanwhile survive.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace qmp_shell {

// The most entries a history file keeps (Python's qmp-shell keeps 1024 too).
constexpr std::size_t history_limit = 1024;

// The entries of \p path, oldest first; none when it does not exist or cannot be read. A file
// in libedit's format (first line "_HiStOrY_V2_", written by qmp-shell before 0.2) is decoded
// ("\040" is a space), so that no one's history is lost on the way to the plain format.
std::vector<std::string> load_history(const std::string& path);

// Appends \p added to what \p path holds now, keeps the last \p limit entries and writes the
// file in the plain format (through a temporary file and a rename, so a crash leaves the old
// file). Returns false when it could not be written.
bool save_history(const std::string& path, const std::vector<std::string>& added,
    std::size_t limit = history_limit);

} // namespace qmp_shell
