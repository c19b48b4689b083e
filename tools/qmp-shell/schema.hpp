// SPDX-License-Identifier: MIT
// What qmp-shell knows about the commands of the QEMU it talks to: their names (query-commands)
// and their arguments (query-qmp-schema), for `help` and TAB completion.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp_shell {

class Schema {
public:
    Schema() = default;
    // \p commands: the return of query-commands; \p schema: of query-qmp-schema (may be null
    // when the schema is not loaded yet: then there are names but no arguments).
    Schema(const qmp::json& commands, const qmp::json& schema);

    bool has_arguments() const { return !entities_.empty(); }
    // Sorted command names.
    const std::vector<std::string>& command_names() const { return names_; }
    bool has_command(const std::string& name) const;
    // Argument names of \p command, nested object members dotted ("cache.direct"), sorted.
    std::vector<std::string> argument_names(const std::string& command) const;
    // The `help COMMAND` text: one line per argument with its type, optional ones marked.
    std::string describe(const std::string& command) const;
    // The `help` text: every command name, in columns fitting \p width.
    std::string list_commands(std::size_t width) const;

private:
    const qmp::json* entity(const std::string& name) const;
    std::string type_text(const std::string& type) const;
    void collect_members(const std::string& type, const std::string& prefix, int depth,
        std::vector<std::string>& names) const;
    void describe_members(
        const std::string& type, const std::string& indent, int depth, std::string& text) const;

    std::vector<std::string> names_;
    std::map<std::string, qmp::json> entities_;
};

} // namespace qmp_shell
