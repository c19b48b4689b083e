// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/schema.hpp>

#include <algorithm>

namespace qmp {

namespace {

// Optimal string alignment distance: Levenshtein plus the transposition of two adjacent
// characters as one edit, the most common typo ("query-statsu" is one edit from
// "query-status", as from "query-stats").
std::size_t edit_distance(const std::string& a, const std::string& b)
{
    std::vector<std::size_t> before(b.size() + 1), previous(b.size() + 1), row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        before.swap(previous);
        previous.swap(row);
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            row[j] = std::min(
                {previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1])});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                row[j] = std::min(row[j], before[j - 2] + 1);
        }
    }
    return row[b.size()];
}

std::size_t length_difference(const std::string& a, const std::string& b)
{
    return a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
}

// The "name" of a schema entity or member; null when it has none (peers can lie).
const std::string* name_of(const json& entity)
{
    const auto name = entity.find("name"); // end() for a non-object
    return name != entity.end() ? name->get_ptr<const std::string*>() : nullptr;
}

// The argument names of an object type's entity, in the schema's order.
std::vector<std::string> member_names(const json& type)
{
    std::vector<std::string> names;
    const auto members = type.find("members");
    if (members == type.end() || !members->is_array())
        return names;
    for (const auto& member : *members)
        if (const std::string* name = name_of(member))
            names.push_back(*name);
    return names;
}

} // namespace

Schema::Schema(json entities) : entities_(std::move(entities))
{
    if (!entities_.is_array())
        throw UsageError("qmp: query-qmp-schema did not return an array");
    // Argument types may come before or after their commands: name them all first.
    std::unordered_map<std::string, const json*> by_name;
    for (const auto& entity : entities_)
        if (const std::string* name = name_of(entity))
            by_name[*name] = &entity;
    for (const auto& entity : entities_) {
        const std::string* const named = name_of(entity);
        if (!named)
            continue;
        const std::string& name = *named;
        const std::string meta = entity.value("meta-type", std::string());
        if (meta == "command") {
            const auto arg_type = entity.find("arg-type");
            const auto type = arg_type != entity.end() && arg_type->is_string()
                ? by_name.find(arg_type->get<std::string>())
                : by_name.end();
            commands_[name] =
                type == by_name.end() ? std::vector<std::string>() : member_names(*type->second);
        } else if (meta == "event") {
            events_.push_back(name);
        }
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
    return found->second;
}

std::string Schema::suggest_command(const std::string& name) const
{
    // Close enough to be a typo: at most a third of the name (and at least 2 edits) away.
    std::size_t best_distance = std::max<std::size_t>(2, name.size() / 3) + 1;
    std::string best;
    // Sorted, so among equally close names of equally close length the first wins. At equal
    // distance a name of the same length (substitutions, transpositions) beats one that needs
    // insertions or deletions: "query-statsu" suggests "query-status", not "query-stats".
    for (const auto& candidate : commands()) {
        const std::size_t d = edit_distance(name, candidate);
        if (d < best_distance ||
            (d == best_distance && !best.empty() &&
                length_difference(name, candidate) < length_difference(name, best))) {
            best_distance = d;
            best = candidate;
        }
    }
    return best;
}

} // namespace qmp
