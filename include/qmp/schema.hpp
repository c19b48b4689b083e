// SPDX-License-Identifier: MIT
/// \file
/// qmp::Schema, what a QMP server says it understands (query-qmp-schema).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <qmp/export.hpp>
#include <qmp/json.hpp>

namespace qmp {

/// The commands and events a server supports and the arguments of each command, from the reply
/// to query-qmp-schema. Obtain it with Client::schema(), or build one from such a reply.
///
/// A Schema is a self-contained value: copies and moves are independent of the original and stay
/// valid after it is destroyed (`qmp::Schema mine = *client.schema();` is safe).
///
/// \context Immutable after construction: every const member is \threadsafe. Assigning to a
/// Schema needs the usual exclusive access.
class QMP_EXPORT Schema {
public:
    /// Indexes the "return" value of query-qmp-schema (an array of schema entities).
    /// \throws UsageError if \p entities is not an array.
    explicit Schema(json entities);

    /// True if the server has a command of that name.
    bool has_command(const std::string& name) const;
    /// True if the server may send an event of that name.
    bool has_event(const std::string& name) const;

    /// Every command name, sorted.
    std::vector<std::string> commands() const;
    /// Every event name, sorted.
    std::vector<std::string> events() const;

    /// The argument names of \p command, in the schema's order; empty when it takes none.
    /// \throws UsageError if there is no such command.
    std::vector<std::string> command_arguments(const std::string& command) const;

    /// The known command closest to \p name (by edit distance), or "" when none is close.
    std::string suggest_command(const std::string& name) const;

    /// The schema as QEMU sent it.
    const json& raw() const { return entities_; }

private:
    json entities_;
    std::unordered_map<std::string, std::vector<std::string>> commands_; // command -> arguments
    std::vector<std::string> events_;
};

} // namespace qmp
