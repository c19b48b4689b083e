// SPDX-License-Identifier: MIT
// What TAB offers and what `help COMMAND` says, from a small hand-written schema; the agent
// mode's command names and completion from a hand-written guest-info.
#include <gtest/gtest.h>

#include "agent_commands.hpp"
#include "completion.hpp"
#include "schema.hpp"

using qmp::json;
using qmp_shell::complete_with;
using qmp_shell::Schema;

namespace {

Schema sample_schema()
{
    const json commands = json::array(
        {{{"name", "query-status"}}, {{"name", "query-stats"}}, {{"name", "blockdev-add"}}});
    const json entities = json::parse(R"([
        {"name": "query-status", "meta-type": "command", "arg-type": "0", "ret-type": "1"},
        {"name": "blockdev-add", "meta-type": "command", "arg-type": "2", "ret-type": "0"},
        {"name": "0", "meta-type": "object", "members": []},
        {"name": "1", "meta-type": "object", "members": [{"name": "running", "type": "bool"}]},
        {"name": "2", "meta-type": "object", "tag": "driver",
         "members": [{"name": "driver", "type": "3"}, {"name": "node-name", "type": "str", "default": null},
                     {"name": "cache", "type": "4", "default": null}],
         "variants": [{"case": "file", "type": "5"}]},
        {"name": "3", "meta-type": "enum", "values": ["file", "null-co"]},
        {"name": "4", "meta-type": "object", "members": [{"name": "direct", "type": "bool", "default": null}]},
        {"name": "5", "meta-type": "object", "members": [{"name": "filename", "type": "str"}]},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
        {"name": "bool", "meta-type": "builtin", "json-type": "boolean"}
    ])");
    return Schema(commands, entities);
}

} // namespace

TEST(Completion, FirstWordCompletesCommandNames)
{
    const Schema schema = sample_schema();
    EXPECT_EQ(complete_with(schema, nullptr, "", "query-st"),
        (std::vector<std::string>{"query-stats", "query-status"}));
}

TEST(Completion, FirstWordOffersBuiltins)
{
    const Schema schema = sample_schema();
    EXPECT_EQ(complete_with(schema, nullptr, "", "he"), (std::vector<std::string>{"help"}));
}

TEST(Completion, HelpCompletesCommandNames)
{
    const Schema schema = sample_schema();
    EXPECT_EQ(complete_with(schema, nullptr, "help ", "block"),
        (std::vector<std::string>{"blockdev-add"}));
}

TEST(Completion, LaterWordsCompleteArgumentNamesWithEquals)
{
    const Schema schema = sample_schema();
    ASSERT_TRUE(qmp_shell::needs_arguments("blockdev-add "));
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add ", "c"),
        (std::vector<std::string>{"cache=", "cache.direct="}));
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add driver=file ", "f"),
        (std::vector<std::string>{"filename="}));
}

TEST(Completion, ValuesAreNotCompleted)
{
    const Schema schema = sample_schema();
    EXPECT_TRUE(complete_with(schema, &schema, "blockdev-add ", "driver=f").empty());
}

TEST(SchemaHelp, DescribeListsArgumentsWithTypes)
{
    const std::string text = sample_schema().describe("blockdev-add");
    EXPECT_NE(text.find("driver: file|null-co\n"), std::string::npos) << text;
    EXPECT_NE(text.find("node-name: str (optional)"), std::string::npos) << text;
    EXPECT_NE(text.find("direct: bool (optional)"), std::string::npos) << text;
    EXPECT_NE(text.find("filename: str"), std::string::npos) << text;
}

TEST(SchemaHelp, CommandWithoutArguments)
{
    EXPECT_NE(sample_schema().describe("query-status").find("(no arguments)"), std::string::npos);
}

TEST(SchemaHelp, ListFitsWidth)
{
    const std::string text = sample_schema().list_commands(30);
    for (std::size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
         start = end + 1)
        EXPECT_LE(end - start, 30u);
    EXPECT_NE(text.find("query-status"), std::string::npos);
}

TEST(AgentCompletion, EnabledCommandsOfGuestInfoSorted)
{
    const json info = json::parse(R"({"version": "7.2.0", "supported_commands": [
        {"enabled": true, "name": "guest-ping", "success-response": true},
        {"enabled": false, "name": "guest-exec", "success-response": true},
        {"enabled": true, "name": "guest-info", "success-response": true},
        {"enabled": true, "name": "guest-shutdown", "success-response": false},
        {"name": 3}, "junk"]})");
    EXPECT_EQ(qmp_shell::enabled_agent_commands(info),
        (std::vector<std::string>{"guest-info", "guest-ping", "guest-shutdown"}));
    EXPECT_TRUE(qmp_shell::enabled_agent_commands(json()).empty());
    EXPECT_TRUE(qmp_shell::enabled_agent_commands(json::object()).empty());
}

TEST(AgentCompletion, CommandNamesFirstAndAfterHelpOnly)
{
    const std::vector<std::string> names = {"guest-info", "guest-ping", "guest-shutdown"};
    EXPECT_EQ(qmp_shell::complete_agent_command(names, "", "guest-p"),
        (std::vector<std::string>{"guest-ping"}));
    EXPECT_EQ(
        qmp_shell::complete_agent_command(names, "", "h"), (std::vector<std::string>{"help"}));
    EXPECT_EQ(qmp_shell::complete_agent_command(names, "  ", "").size(), 4u);
    EXPECT_EQ(qmp_shell::complete_agent_command(names, "help ", "guest-i"),
        (std::vector<std::string>{"guest-info"}));
    EXPECT_TRUE(qmp_shell::complete_agent_command(names, "guest-ping ", "g").empty());
    EXPECT_TRUE(qmp_shell::complete_agent_command(names, "help guest-ping ", "g").empty());
}
