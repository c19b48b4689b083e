// SPDX-License-Identifier: MIT
// Checks a command and its arguments against a query-qmp-schema capture, as QEMU 7.2's QAPI
// input visitor would, and gives QEMU's error for the first problem.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <qmp/json.hpp>

namespace qmp::testing::detail {

/// QEMU's error for a refused command.
struct CommandError {
    std::string error_class;
    std::string description;
};

/// Thread safety: immutable after construction; check() may run on any number of threads.
class SchemaChecker {
public:
    /// \throws qmp::UsageError if \p entities is not an array of schema entities.
    explicit SchemaChecker(json entities);
    SchemaChecker(const SchemaChecker&) = delete; // the indexes point into entities_
    SchemaChecker& operator=(const SchemaChecker&) = delete;

    /// The error QEMU would answer, or nothing when it would accept the command.
    /// \p arguments is an object (an empty one when the command had none).
    std::optional<CommandError> check(const std::string& command, const json& arguments) const;

    const json& entities() const { return entities_; }

private:
    std::optional<CommandError> visit(const std::string& type, const json& value,
        const std::string& path, const std::string& name) const;
    std::optional<CommandError> visit_members(const json& object_type, const json& value,
        const std::string& path, std::unordered_set<std::string>& known) const;
    std::optional<CommandError> visit_object(
        const json& object_type, const json& value, const std::string& path) const;
    const json& type(const std::string& name) const;

    json entities_;
    std::unordered_map<std::string, const json*> commands_;
    std::unordered_map<std::string, const json*> types_;
};

} // namespace qmp::testing::detail
