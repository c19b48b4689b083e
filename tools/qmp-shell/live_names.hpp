// SPDX-License-Identifier: MIT
// Names TAB asks the running QEMU for while a line is typed: QOM children and properties
// (qom-list) and HMP's commands (HMP's help).
#pragma once

#include <string>
#include <vector>

#include <qmp/qmp.hpp>

namespace qmp_shell {

// The children and links (\p objects) or the other properties of the QOM object at \p path,
// sorted; none when QEMU refuses (no such path yet).
std::vector<std::string> qom_names(qmp::Client& client, const std::string& path, bool objects);

// The text HMP answers \p command with, "" when it fails.
std::string hmp_text(qmp::Client& client, const std::string& command);

} // namespace qmp_shell
