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

    // The keys typed so far on a line, dotted, with their values as typed (quotes removed).
    using Given = std::map<std::string, std::string>;
    // The type of \p command's arguments, or of the data of transaction action \p action.
    std::string arguments_type(const std::string& command) const;
    std::string action_type(const std::string& action) const;
    // The names of the events QEMU may send (query-qmp-schema), sorted.
    std::vector<std::string> event_names() const;
    // The action types `transaction` accepts, sorted.
    std::vector<std::string> action_names() const;
    // The member names of object \p type, dotted, sorted. A union's members are those of the
    // branch its discriminator selects in \p given, or none while the discriminator is not given.
    std::vector<std::string> member_names(const std::string& type, const Given& given) const;
    // The values a member (dotted \p key) of \p type can take when the schema says: enum values,
    // true and false for booleans, both for alternates of them. Empty for other types.
    std::vector<std::string> member_values(
        const std::string& type, const std::string& key, const Given& given) const;
    // The `help COMMAND` text: one line per argument with its type, optional ones marked.
    std::string describe(const std::string& command) const;
    // The `help` text: every command name, in columns fitting \p width.
    std::string list_commands(std::size_t width) const;

private:
    const qmp::json* entity(const std::string& name) const;
    std::string type_text(const std::string& type) const;
    void collect_members(const std::string& type, const std::string& prefix, int depth,
        std::vector<std::string>& names) const;
    void collect_given(const std::string& type, const std::string& prefix, int depth,
        const Given& given, std::vector<std::string>& names) const;
    std::string member_type(const std::string& type, const std::string& key, int depth,
        const std::string& prefix, const Given& given) const;
    void collect_values(const std::string& type, int depth, std::vector<std::string>& values) const;
    void describe_members(
        const std::string& type, const std::string& indent, int depth, std::string& text) const;

    std::vector<std::string> names_;
    std::map<std::string, qmp::json> entities_;
};

} // namespace qmp_shell
