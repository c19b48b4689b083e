// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/schema.hpp>

#include <algorithm>

namespace qmp {

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

Schema::Schema(json entities) : entities_(std::move(entities))
{
    if (!entities_.is_array())
        throw UsageError("qmp: query-qmp-schema did not return an array");
    for (const auto& entity : entities_) {
        if (!entity.is_object() || !entity.contains("name") || !entity["name"].is_string())
            continue;
        const std::string name = entity["name"].get<std::string>();
        by_name_[name] = &entity;
        const std::string meta = entity.value("meta-type", std::string());
        if (meta == "command")
            commands_[name] = entity.value("arg-type", std::string());
        else if (meta == "event")
            events_.push_back(name);
    }
    std::sort(events_.begin(), events_.end());
}

bool Schema::has_command(const std::string& name) const
{
    return commands_.count(name) != 0;
}

bool Schema::has_event(const std::string& name) const
{
    return std::binary_search(events_.begin(), events_.end(), name);
}

std::vector<std::string> Schema::commands() const
{
    std::vector<std::string> names;
    names.reserve(commands_.size());
    for (const auto& entry : commands_)
        names.push_back(entry.first);
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<std::string> Schema::events() const
{
    return events_;
}

std::vector<std::string> Schema::command_arguments(const std::string& command) const
{
    const auto found = commands_.find(command);
    if (found == commands_.end())
        throw UsageError("qmp: the schema has no command '" + command + "'");
    std::vector<std::string> names;
    const auto type = by_name_.find(found->second);
    if (type == by_name_.end())
        return names;
    const json& members = type->second->value("members", json::array());
    for (const auto& member : members)
        if (member.contains("name") && member["name"].is_string())
            names.push_back(member["name"].get<std::string>());
    return names;
}

std::string Schema::suggest_command(const std::string& name) const
{
    // Close enough to be a typo: at most a third of the name (and at least 2 edits) away.
    std::size_t best_distance = std::max<std::size_t>(2, name.size() / 3) + 1;
    std::string best;
    for (const auto& candidate : commands()) {  // sorted, so ties go to the first name
        const std::size_t d = edit_distance(name, candidate);
        if (d < best_distance) {
            best_distance = d;
            best = candidate;
        }
    }
    return best;
}

}  // namespace qmp
