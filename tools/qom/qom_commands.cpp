// SPDX-License-Identifier: MIT
#include "qom_commands.hpp"

#include <algorithm>
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
        return a.value("name", "") < b.value("name", "");
    });
    return result;
}

void walk(qmp::Client& client, const std::string& path, const std::string& name,
    const std::string& type, int depth, std::ostream& out)
{
    out << std::string(static_cast<std::size_t>(depth) * 2, ' ') << name << " (" << type << ")\n";
    for (const auto& property : sorted_properties(client, path)) {
        const std::string property_type = property.value("type", "");
        if (starts_with(property_type, "child<")) {
            const std::string child = property.value("name", "");
            walk(client, join(path, child), child, inner_type(property_type), depth + 1, out);
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

void tree(qmp::Client& client, const std::string& path, std::ostream& out)
{
    std::string type = "object";
    try {
        type = client.execute("qom-get", {{"path", path}, {"property", "type"}}).get<std::string>();
    } catch (const qmp::ExecuteError&) {
        // Every object has "type"; a failure here means a bad path, which qom-list reports.
    }
    const std::string name = path == "/" ? "/" : path.substr(path.rfind('/') + 1);
    walk(client, path, name, type, 0, out);
}

} // namespace qom
