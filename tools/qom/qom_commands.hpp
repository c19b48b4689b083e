// SPDX-License-Identifier: MIT
// The QOM operations behind `qom ls|get|set|tree`, printing to a stream.
#pragma once

#include <ostream>
#include <string>
#include <utility>

#include <qmp/qmp.hpp>

namespace qom {

// "/machine/peripheral.type" -> {"/machine/peripheral", "type"}; the property is after the last
// '.' of the last path component. \throws qmp_tools::UsageError when there is no property.
std::pair<std::string, std::string> split_property(const std::string& text);

// Children as "name/", links as "@name/", other properties as "name", sorted.
void list(qmp::Client& client, const std::string& path, std::ostream& out);
// Strings as they are, anything else as JSON.
void get(qmp::Client& client, const std::string& path_property, bool pretty, std::ostream& out);
// \p value follows qmp-shell's rule: JSON if it parses as JSON, else a string.
void set(qmp::Client& client, const std::string& path_property, const std::string& value);
// The composition tree below \p path, two spaces per level: "name (type)"; with \p values each
// object's other properties too, below its line: "name: VALUE (type)", or
// "name: <unreadable: REASON> (type)". A path that does not exist is QEMU's error, and nothing
// is printed. \throws qmp::ExecuteError
void tree(qmp::Client& client, const std::string& path, bool values, std::ostream& out);

// Natural order: "device[2]" before "device[19]", digits compared as numbers.
bool natural_less(const std::string& a, const std::string& b);

} // namespace qom
