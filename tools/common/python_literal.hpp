// SPDX-License-Identifier: MIT
// Python's literal syntax for values, as QEMU's Python qmp-shell accepts them:
// {'driver': 'null-co', 'read-zeroes': True}, [1, 'a', None], trailing commas, and JSON too
// (true/false/null, "double quotes"), so a developer's habits work either way.
#pragma once

#include <cstddef>
#include <string>

#include <qmp/json.hpp>

namespace qmp_tools {

// Parses \p text, a dict, list or tuple in Python's literal syntax (JSON being nearly a
// subset). \throws SyntaxError (command_syntax.hpp) at the offending byte, with a plain
// message; \p column_offset is added to its column.
qmp::json parse_python_literal(const std::string& text, std::size_t column_offset);

} // namespace qmp_tools
