// SPDX-License-Identifier: MIT
#include "schema.hpp"

#include <algorithm>
#include <set>

namespace qmp_shell {

namespace {

// Nested objects deeper than this are shown as "object": blockdev-add's options nest deeply
// and an endless list helps nobody.
constexpr int max_depth = 3;

const qmp::json empty_array = qmp::json::array();

const qmp::json& members_of(const qmp::json& entity)
{
    const auto found = entity.find("members");
    return found != entity.end() && found->is_array() ? *found : empty_array;
}

} // namespace

Schema::Schema(const qmp::json& commands, const qmp::json& schema)
{
    for (const auto& command : commands)
        if (command.contains("name") && command["name"].is_string())
            names_.push_back(command["name"].get<std::string>());
    std::sort(names_.begin(), names_.end());
    if (schema.is_array())
        for (const auto& item : schema)
            if (item.contains("name") && item["name"].is_string())
                entities_[item["name"].get<std::string>()] = item;
}

bool Schema::has_command(const std::string& name) const
{
    return std::binary_search(names_.begin(), names_.end(), name);
}

const qmp::json* Schema::entity(const std::string& name) const
{
    const auto found = entities_.find(name);
    return found == entities_.end() ? nullptr : &found->second;
}

std::string Schema::type_text(const std::string& type) const
{
    const qmp::json* found = entity(type);
    if (!found)
        return type;
    const std::string meta = found->value("meta-type", "");
    if (meta == "builtin")
        return type;
    if (meta == "array")
        return "[" + type_text(found->value("element-type", "")) + "]";
    if (meta == "enum") {
        std::string text;
        const auto values = found->value("values", qmp::json::array());
        for (std::size_t i = 0; i < values.size() && i < 8; ++i)
            text += (i ? "|" : "") + values[i].get<std::string>();
        return values.size() > 8 ? text + "|..." : text;
    }
    if (meta == "alternate") {
        std::string text;
        for (const auto& member : members_of(*found))
            text += (text.empty() ? "" : " or ") + type_text(member.value("type", ""));
        return text;
    }
    return meta; // "object"
}

void Schema::collect_members(const std::string& type, const std::string& prefix, int depth,
    std::vector<std::string>& names) const
{
    const qmp::json* found = entity(type);
    if (!found || found->value("meta-type", "") != "object" || depth > max_depth)
        return;
    for (const auto& member : members_of(*found)) {
        const std::string name = prefix + member.value("name", "");
        names.push_back(name);
        collect_members(member.value("type", ""), name + ".", depth + 1, names);
    }
    // A union's variants: offer every variant's members, whichever the tag selects.
    for (const auto& variant : found->value("variants", qmp::json::array()))
        collect_members(variant.value("type", ""), prefix, depth, names);
}

std::vector<std::string> Schema::argument_names(const std::string& command) const
{
    std::vector<std::string> names;
    if (const qmp::json* found = entity(command))
        collect_members(found->value("arg-type", ""), "", 0, names);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::vector<std::string> Schema::event_names() const
{
    std::vector<std::string> names;
    for (const auto& [name, entity] : entities_)
        if (entity.value("meta-type", "") == "event")
            names.push_back(name);
    return names; // a std::map's keys: sorted
}

std::string Schema::arguments_type(const std::string& command) const
{
    const qmp::json* found = entity(command);
    return found ? found->value("arg-type", "") : std::string();
}

// transaction's "actions" is an array of a union tagged "type" whose branches wrap the action's
// arguments in "data".
std::vector<std::string> Schema::action_names() const
{
    std::vector<std::string> names;
    const qmp::json* arguments = entity(arguments_type("transaction"));
    if (!arguments)
        return names;
    for (const auto& member : members_of(*arguments)) {
        if (member.value("name", "") != "actions")
            continue;
        const qmp::json* array = entity(member.value("type", ""));
        const qmp::json* action = array ? entity(array->value("element-type", "")) : nullptr;
        if (action)
            for (const auto& variant : action->value("variants", qmp::json::array()))
                names.push_back(variant.value("case", ""));
    }
    std::sort(names.begin(), names.end());
    return names;
}

std::string Schema::action_type(const std::string& action) const
{
    const qmp::json* arguments = entity(arguments_type("transaction"));
    if (!arguments)
        return {};
    for (const auto& member : members_of(*arguments)) {
        const qmp::json* array = entity(member.value("type", ""));
        const qmp::json* union_type = array ? entity(array->value("element-type", "")) : nullptr;
        if (!union_type)
            continue;
        for (const auto& variant : union_type->value("variants", qmp::json::array())) {
            if (variant.value("case", "") != action)
                continue;
            if (const qmp::json* wrapper = entity(variant.value("type", "")))
                for (const auto& data : members_of(*wrapper))
                    if (data.value("name", "") == "data")
                        return data.value("type", "");
        }
    }
    return {};
}

void Schema::collect_given(const std::string& type, const std::string& prefix, int depth,
    const Given& given, std::vector<std::string>& names) const
{
    const qmp::json* found = entity(type);
    if (!found || found->value("meta-type", "") != "object" || depth > max_depth)
        return;
    for (const auto& member : members_of(*found)) {
        const std::string name = prefix + member.value("name", "");
        names.push_back(name);
        collect_given(member.value("type", ""), name + ".", depth + 1, given, names);
    }
    // Only the branch the discriminator selects: blockdev-add driver=qcow2 offers qcow2's.
    const auto tag = given.find(prefix + found->value("tag", ""));
    if (tag == given.end())
        return;
    for (const auto& variant : found->value("variants", qmp::json::array()))
        if (variant.value("case", "") == tag->second)
            collect_given(variant.value("type", ""), prefix, depth, given, names);
}

std::vector<std::string> Schema::member_names(const std::string& type, const Given& given) const
{
    std::vector<std::string> names;
    collect_given(type, "", 0, given, names);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::string Schema::member_type(const std::string& type, const std::string& key, int depth,
    const std::string& prefix, const Given& given) const
{
    const qmp::json* found = entity(type);
    if (!found || found->value("meta-type", "") != "object" || depth > max_depth)
        return {};
    const auto dot = key.find('.');
    const std::string first = key.substr(0, dot);
    for (const auto& member : members_of(*found)) {
        if (member.value("name", "") != first)
            continue;
        if (dot == std::string::npos)
            return member.value("type", "");
        return member_type(
            member.value("type", ""), key.substr(dot + 1), depth + 1, prefix + first + ".", given);
    }
    const auto tag = given.find(prefix + found->value("tag", ""));
    for (const auto& variant : found->value("variants", qmp::json::array())) {
        if (tag != given.end() && variant.value("case", "") != tag->second)
            continue;
        std::string inner = member_type(variant.value("type", ""), key, depth, prefix, given);
        if (!inner.empty())
            return inner;
    }
    return {};
}

void Schema::collect_values(
    const std::string& type, int depth, std::vector<std::string>& values) const
{
    const qmp::json* found = entity(type);
    if (!found || depth > max_depth)
        return;
    const std::string meta = found->value("meta-type", "");
    if (meta == "enum") {
        for (const auto& value : found->value("values", qmp::json::array()))
            if (value.is_string())
                values.push_back(value.get<std::string>());
    } else if (meta == "builtin" && found->value("json-type", "") == "boolean") {
        values.insert(values.end(), {"false", "true"});
    } else if (meta == "alternate") {
        for (const auto& member : members_of(*found))
            collect_values(member.value("type", ""), depth + 1, values);
    }
}

std::vector<std::string> Schema::member_values(
    const std::string& type, const std::string& key, const Given& given) const
{
    std::vector<std::string> values;
    collect_values(member_type(type, key, 0, "", given), 0, values);
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
}

void Schema::describe_members(
    const std::string& type, const std::string& indent, int depth, std::string& text) const
{
    const qmp::json* found = entity(type);
    if (!found || depth > max_depth)
        return;
    for (const auto& member : members_of(*found)) {
        const std::string member_type = member.value("type", "");
        text += indent + member.value("name", "") + ": " + type_text(member_type) +
            (member.contains("default") ? " (optional)" : "") + "\n";
        const qmp::json* nested = entity(member_type);
        if (nested && nested->value("meta-type", "") == "object")
            describe_members(member_type, indent + "    ", depth + 1, text);
    }
    const auto variants = found->value("variants", qmp::json::array());
    if (!variants.empty()) {
        text += indent + "depending on '" + found->value("tag", "") + "':\n";
        for (const auto& variant : variants) {
            text += indent + "  " + variant.value("case", "") + ":\n";
            describe_members(variant.value("type", ""), indent + "    ", depth + 1, text);
        }
    }
}

std::string Schema::describe(const std::string& command) const
{
    const qmp::json* found = entity(command);
    if (!found || found->value("meta-type", "") != "command")
        return has_command(command) ? command + ": no description available\n"
                                    : command + ": no such command\n";
    std::string arguments;
    describe_members(found->value("arg-type", ""), "    ", 0, arguments);
    std::string text = command + "\n";
    text += arguments.empty() ? "    (no arguments)\n" : arguments;
    text += "  returns: " + type_text(found->value("ret-type", "")) + "\n";
    return text;
}

std::string Schema::list_commands(std::size_t width) const
{
    std::size_t column_width = 0;
    for (const auto& name : names_)
        column_width = std::max(column_width, name.size() + 2);
    const std::size_t columns =
        std::max<std::size_t>(1, width / std::max<std::size_t>(1, column_width));
    const std::size_t rows = (names_.size() + columns - 1) / columns;
    std::string text;
    for (std::size_t row = 0; row < rows; ++row) {
        std::string line;
        for (std::size_t column = 0; column < columns; ++column) {
            const std::size_t index = column * rows + row;
            if (index >= names_.size())
                break;
            line += names_[index];
            line += std::string(column_width - names_[index].size(), ' ');
        }
        line.erase(line.find_last_not_of(' ') + 1);
        text += line + "\n";
    }
    return text;
}

} // namespace qmp_shell
