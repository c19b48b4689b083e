// SPDX-License-Identifier: MIT
#include "qom_commands.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

#include "command_syntax.hpp"
#include "output.hpp"
#include "session.hpp"

namespace qom {

namespace {

bool starts_with(const std::string& text, const char* prefix)
{
    return text.rfind(prefix, 0) == 0;
}

// "child<pc-i440fx-7.2-machine>" -> "pc-i440fx-7.2-machine"
std::string inner_type(const std::string& type)
{
    const auto open = type.find('<');
    return open == std::string::npos ? type : type.substr(open + 1, type.size() - open - 2);
}

std::string join(const std::string& path, const std::string& name)
{
    return path == "/" ? "/" + name : path + "/" + name;
}

std::vector<qmp::json> sorted_properties(qmp::Client& client, const std::string& path)
{
    const qmp::json properties = client.execute("qom-list", {{"path", path}});
    std::vector<qmp::json> result(properties.begin(), properties.end());
    std::sort(result.begin(), result.end(), [](const qmp::json& a, const qmp::json& b) {
        return natural_less(a.value("name", ""), b.value("name", ""));
    });
    return result;
}

void print_value(qmp::Client& client, const std::string& path, const qmp::json& property,
    const std::string& indent, std::ostream& out)
{
    const std::string name = property.value("name", "");
    const std::string type = property.value("type", "");
    out << indent << name << ": ";
    try {
        out << qmp_tools::format_json(
            client.execute("qom-get", {{"path", path}, {"property", name}}), false);
    } catch (const qmp::ExecuteError& e) {
        out << "<unreadable: " << e.description() << ">";
    }
    out << " (" << type << ")\n";
}

// \p properties: qom-list of \p path, already read (so that a bad path fails before printing).
void walk(qmp::Client& client, const std::string& path, const std::string& name,
    const std::string& type, int depth, bool values, const std::vector<qmp::json>& properties,
    std::ostream& out)
{
    const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
    out << indent << name << " (" << type << ")\n";
    if (values)
        for (const auto& property : properties)
            if (!starts_with(property.value("type", ""), "child<"))
                print_value(client, path, property, indent + "  ", out);
    for (const auto& property : properties) {
        const std::string property_type = property.value("type", "");
        if (starts_with(property_type, "child<")) {
            const std::string child = property.value("name", "");
            const std::string child_path = join(path, child);
            walk(client, child_path, child, inner_type(property_type), depth + 1, values,
                sorted_properties(client, child_path), out);
        }
    }
}

} // namespace

std::pair<std::string, std::string> split_property(const std::string& text)
{
    const auto slash = text.rfind('/');
    const auto dot = text.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash) ||
        dot + 1 == text.size())
        throw qmp_tools::UsageError("expected PATH.PROPERTY, got '" + text + "'");
    return {text.substr(0, dot), text.substr(dot + 1)};
}

void list(qmp::Client& client, const std::string& path, std::ostream& out)
{
    for (const auto& property : sorted_properties(client, path)) {
        const std::string name = property.value("name", "");
        const std::string type = property.value("type", "");
        if (starts_with(type, "child<"))
            out << name << "/\n";
        else if (starts_with(type, "link<"))
            out << "@" << name << "/\n";
        else
            out << name << "\n";
    }
}

void get(qmp::Client& client, const std::string& path_property, bool pretty, std::ostream& out)
{
    const auto [path, property] = split_property(path_property);
    const qmp::json value = client.execute("qom-get", {{"path", path}, {"property", property}});
    if (value.is_string())
        out << value.get<std::string>() << "\n";
    else
        out << qmp_tools::format_json(value, pretty) << "\n";
}

void set(qmp::Client& client, const std::string& path_property, const std::string& value)
{
    const auto [path, property] = split_property(path_property);
    client.execute("qom-set",
        {{"path", path}, {"property", property}, {"value", qmp_tools::parse_value(value)}});
}

void tree(qmp::Client& client, const std::string& path, bool values, std::ostream& out)
{
    const std::vector<qmp::json> properties = sorted_properties(client, path); // may throw
    std::string type = "object";
    try {
        type = client.execute("qom-get", {{"path", path}, {"property", "type"}}).get<std::string>();
    } catch (const qmp::ExecuteError&) {
        // Every object has "type"; keep going without it.
    }
    std::string trimmed = path;
    while (trimmed.size() > 1 && trimmed.back() == '/')
        trimmed.pop_back();
    const std::string name = trimmed == "/" ? "/" : trimmed.substr(trimmed.rfind('/') + 1);
    walk(client, trimmed, name, type, 0, values, properties, out);
}

bool natural_less(const std::string& a, const std::string& b)
{
    const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
    std::size_t i = 0, j = 0;
    while (i < a.size() && j < b.size()) {
        if (digit(a[i]) && digit(b[j])) {
            std::size_t ei = i, ej = j;
            while (ei < a.size() && digit(a[ei]))
                ++ei;
            while (ej < b.size() && digit(b[ej]))
                ++ej;
            // Compare as numbers without overflow: skip leading zeros, then by length.
            std::size_t si = i, sj = j;
            while (si + 1 < ei && a[si] == '0')
                ++si;
            while (sj + 1 < ej && b[sj] == '0')
                ++sj;
            if (ei - si != ej - sj)
                return ei - si < ej - sj;
            const int order = a.compare(si, ei - si, b, sj, ej - sj);
            if (order != 0)
                return order < 0;
            i = ei;
            j = ej;
            continue;
        }
        if (a[i] != b[j])
            return a[i] < b[j];
        ++i;
        ++j;
    }
    return a.size() - i < b.size() - j || (a.size() - i == b.size() - j && a < b);
}

} // namespace qom
