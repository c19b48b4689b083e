// SPDX-License-Identifier: MIT
#include "schema_checker.hpp"

#include <qmp/error.hpp>

#include <utility>

namespace qmp::testing::detail {

namespace {

// How QEMU names a member in its errors: "a", "a.b", "a[0].b".
std::string member_path(const std::string& path, const std::string& member)
{
    return path.empty() ? member : path + "." + member;
}

CommandError generic(std::string description)
{
    return {"GenericError", std::move(description)};
}

CommandError wrong_type(const std::string& path, const std::string& expected)
{
    return generic("Invalid parameter type for '" + path + "', expected: " + expected);
}

// QEMU's name for a builtin's JSON type, and whether \p value has it.
bool has_json_type(const std::string& json_type, const json& value)
{
    if (json_type == "string")
        return value.is_string();
    if (json_type == "int")
        return value.is_number_integer();
    if (json_type == "number")
        return value.is_number();
    if (json_type == "boolean")
        return value.is_boolean();
    if (json_type == "null")
        return value.is_null();
    return true; // "value": any
}

std::string json_type_name(const std::string& json_type)
{
    return json_type == "int" ? "integer" : json_type;
}

} // namespace

SchemaChecker::SchemaChecker(json entities) : entities_(std::move(entities))
{
    if (!entities_.is_array())
        throw UsageError("qmp: FakeQemu::use_schema: the schema must be the array "
                         "query-qmp-schema returns");
    for (const json& entity : entities_) {
        if (!entity.is_object() || !entity.contains("name") || !entity["name"].is_string() ||
            !entity.contains("meta-type"))
            throw UsageError(
                "qmp: FakeQemu::use_schema: not a schema entity: " + entity.dump().substr(0, 200));
        const std::string& name = entity["name"].get_ref<const std::string&>();
        if (entity["meta-type"] == "command")
            commands_[name] = &entity;
        else if (entity["meta-type"] != "event")
            types_[name] = &entity;
    }
}

const json& SchemaChecker::type(const std::string& name) const
{
    static const json any = {{"name", "any"}, {"meta-type", "builtin"}, {"json-type", "value"}};
    const auto it = types_.find(name);
    return it == types_.end() ? any : *it->second; // an incomplete capture accepts anything
}

std::optional<CommandError> SchemaChecker::check(
    const std::string& command, const json& arguments) const
{
    const auto it = commands_.find(command);
    if (it == commands_.end())
        return CommandError{"CommandNotFound", "The command " + command + " has not been found"};
    const json& entity = *it->second;
    if (!entity.contains("arg-type"))
        return std::nullopt;
    const json& arg_type = type(entity["arg-type"].get<std::string>());
    if (arg_type["meta-type"] != "object")
        return std::nullopt;
    return visit_object(arg_type, arguments, "");
}

std::optional<CommandError> SchemaChecker::visit(const std::string& type_name, const json& value,
    const std::string& path, const std::string& name) const
{
    const json& t = type(type_name);
    const std::string meta = t.value("meta-type", "");
    if (meta == "builtin") {
        const std::string json_type = t.value("json-type", "value");
        if (!has_json_type(json_type, value))
            return wrong_type(path, json_type_name(json_type));
        return std::nullopt;
    }
    if (meta == "enum") {
        if (!value.is_string())
            return wrong_type(path, "string");
        for (const json& v : t.value("values", json::array()))
            if (v == value)
                return std::nullopt;
        // QEMU names the member alone here, not its path.
        return generic(
            "Parameter '" + name + "' does not accept value '" + value.get<std::string>() + "'");
    }
    if (meta == "array") {
        if (!value.is_array())
            return wrong_type(path, "array");
        const std::string element = t.value("element-type", "any");
        for (std::size_t i = 0; i < value.size(); ++i) {
            const std::string element_path = path + "[" + std::to_string(i) + "]";
            if (auto error = visit(element, value[i], element_path, element_path))
                return error;
        }
        return std::nullopt;
    }
    if (meta == "object") {
        if (!value.is_object())
            return wrong_type(path, "object");
        return visit_object(t, value, path);
    }
    if (meta == "alternate") {
        // QEMU picks the branch by the value's JSON type.
        std::string kinds;
        for (const json& member : t.value("members", json::array())) {
            const std::string branch = member.value("type", "any");
            const json& bt = type(branch);
            const std::string bmeta = bt.value("meta-type", "");
            bool fits = false;
            std::string kind;
            if (bmeta == "builtin") {
                kind = json_type_name(bt.value("json-type", "value"));
                fits = has_json_type(bt.value("json-type", "value"), value);
            } else if (bmeta == "enum") {
                kind = "string";
                fits = value.is_string();
            } else if (bmeta == "object") {
                kind = "object";
                fits = value.is_object();
            } else if (bmeta == "array") {
                kind = "array";
                fits = value.is_array();
            }
            if (fits)
                return visit(branch, value, path, name);
            kinds += (kinds.empty() ? "" : " or ") + kind;
        }
        return wrong_type(path, kinds);
    }
    return std::nullopt;
}

std::optional<CommandError> SchemaChecker::visit_members(const json& object_type, const json& value,
    const std::string& path, std::unordered_set<std::string>& known) const
{
    for (const json& member : object_type.value("members", json::array())) {
        const std::string name = member.value("name", "");
        known.insert(name);
        const auto it = value.find(name);
        if (it == value.end()) {
            if (!member.contains("default")) // "default" present: optional
                return generic("Parameter '" + member_path(path, name) + "' is missing");
            continue;
        }
        if (auto error = visit(member.value("type", "any"), *it, member_path(path, name), name))
            return error;
    }
    // A flat union: the tag's value chooses the variant whose members come next.
    if (object_type.contains("tag") && object_type.contains("variants")) {
        const auto tag = value.find(object_type["tag"].get<std::string>());
        if (tag != value.end())
            for (const json& variant : object_type["variants"])
                if (variant.value("case", "") == *tag) {
                    const json& variant_type = type(variant.value("type", "any"));
                    if (variant_type.value("meta-type", "") == "object")
                        return visit_members(variant_type, value, path, known);
                }
    }
    return std::nullopt;
}

std::optional<CommandError> SchemaChecker::visit_object(
    const json& object_type, const json& value, const std::string& path) const
{
    std::unordered_set<std::string> known;
    if (auto error = visit_members(object_type, value, path, known))
        return error;
    for (const auto& item : value.items())
        if (!known.count(item.key()))
            return generic("Parameter '" + member_path(path, item.key()) + "' is unexpected");
    return std::nullopt;
}

} // namespace qmp::testing::detail
