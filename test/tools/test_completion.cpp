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

TEST(Completion, EnumAndBooleanValuesAreCompleted)
{
    const Schema schema = sample_schema();
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add ", "driver="),
        (std::vector<std::string>{"driver=file", "driver=null-co"}));
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add ", "driver=n"),
        (std::vector<std::string>{"driver=null-co"}));
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add ", "cache.direct="),
        (std::vector<std::string>{"cache.direct=false", "cache.direct=true"}));
    EXPECT_TRUE(complete_with(schema, &schema, "blockdev-add ", "node-name=").empty());
}

TEST(Completion, UnionMembersAreNarrowedByTheDiscriminator)
{
    const Schema schema = sample_schema();
    // Without driver= only the common members; with it, that branch's.
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add ", ""),
        (std::vector<std::string>{"cache=", "cache.direct=", "driver=", "node-name="}));
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add driver=null-co ", "f"),
        std::vector<std::string>{});
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add driver='file' ", "f"),
        (std::vector<std::string>{"filename="}));
}

TEST(Completion, KeysAlreadyPresentAreLeftOut)
{
    const Schema schema = sample_schema();
    EXPECT_EQ(complete_with(schema, &schema, "blockdev-add driver=file cache.direct=on ", ""),
        (std::vector<std::string>{"filename=", "node-name="}));
}

TEST(Completion, TransactionOffersActionTypesAndTheirArguments)
{
    const json commands = json::array({{{"name", "transaction"}}, {{"name", "stop"}}});
    const json entities = json::parse(R"([
        {"name": "transaction", "meta-type": "command", "arg-type": "0", "ret-type": "9"},
        {"name": "0", "meta-type": "object", "members": [{"name": "actions", "type": "[1]"}]},
        {"name": "[1]", "meta-type": "array", "element-type": "1"},
        {"name": "1", "meta-type": "object", "tag": "type",
         "members": [{"name": "type", "type": "2"}],
         "variants": [{"case": "abort", "type": "3"}, {"case": "block-dirty-bitmap-add", "type": "4"}]},
        {"name": "2", "meta-type": "enum", "values": ["abort", "block-dirty-bitmap-add"]},
        {"name": "3", "meta-type": "object", "members": [{"name": "data", "type": "5"}]},
        {"name": "4", "meta-type": "object", "members": [{"name": "data", "type": "6"}]},
        {"name": "5", "meta-type": "object", "members": []},
        {"name": "6", "meta-type": "object", "members": [{"name": "node", "type": "str"},
            {"name": "persistent", "type": "bool", "default": null}]},
        {"name": "9", "meta-type": "object", "members": []},
        {"name": "str", "meta-type": "builtin", "json-type": "string"},
        {"name": "bool", "meta-type": "builtin", "json-type": "boolean"}
    ])");
    const Schema schema(commands, entities);
    ASSERT_TRUE(qmp_shell::needs_arguments("transaction( "));
    EXPECT_EQ(complete_with(schema, &schema, "transaction( ", ""),
        (std::vector<std::string>{"abort", "block-dirty-bitmap-add", ")"}));
    EXPECT_EQ(complete_with(schema, &schema, "transaction( block-dirty-bitmap-add node=n ", "p"),
        (std::vector<std::string>{"persistent="}));
    EXPECT_EQ(
        complete_with(schema, &schema, "transaction( block-dirty-bitmap-add ", "persistent=t"),
        (std::vector<std::string>{"persistent=true"}));
    // On the lines after `transaction(`, the line starts with the action.
    qmp_shell::CompletionSources sources{schema, &schema, true, {}, {}};
    EXPECT_EQ(qmp_shell::complete(sources, "", "ab"), (std::vector<std::string>{"abort"}));
    EXPECT_EQ(qmp_shell::complete(sources, "block-dirty-bitmap-add ", "n"),
        (std::vector<std::string>{"node="}));
}

TEST(Completion, QomPathsAndPropertiesForQomCommands)
{
    const json commands = json::array({{{"name", "qom-get"}}});
    const json entities = json::parse(R"([
        {"name": "qom-get", "meta-type": "command", "arg-type": "0", "ret-type": "any"},
        {"name": "0", "meta-type": "object", "members": [{"name": "path", "type": "str"},
            {"name": "property", "type": "str"}]},
        {"name": "str", "meta-type": "builtin", "json-type": "string"}
    ])");
    const Schema schema(commands, entities);
    std::vector<std::string> listed;
    qmp_shell::CompletionSources sources{schema, &schema, false,
        [&](const std::string& path) {
            listed.push_back(path);
            return path == "/machine" ? std::vector<std::string>{"peripheral", "unattached"}
                                      : std::vector<std::string>{"machine"};
        },
        [](const std::string& path) {
            return path == "/machine" ? std::vector<std::string>{"type", "graphics"}
                                      : std::vector<std::string>{};
        }};
    EXPECT_EQ(
        qmp_shell::complete(sources, "qom-get ", "path="), (std::vector<std::string>{"path=/"}));
    EXPECT_EQ(qmp_shell::complete(sources, "qom-get ", "path=/m"),
        (std::vector<std::string>{"path=/machine/"}));
    EXPECT_EQ(qmp_shell::complete(sources, "qom-get ", "path=/machine/p"),
        (std::vector<std::string>{"path=/machine/peripheral/"}));
    EXPECT_EQ(listed, (std::vector<std::string>{"/", "/machine"}));
    EXPECT_EQ(qmp_shell::complete(sources, "qom-get path=/machine ", "property=t"),
        (std::vector<std::string>{"property=type"}));
}

TEST(Completion, HmpCommandNamesFromHelp)
{
    const std::vector<std::string> commands = qmp_shell::hmp_command_names(
        "announce_self [interfaces] [id] -- Trigger GARP/RARP announcements\r\n"
        "c|cont  -- resume emulation\r\ninfo [subcommand] -- show various information\r\n");
    EXPECT_EQ(commands, (std::vector<std::string>{"announce_self", "c", "cont", "info"}));
    const std::vector<std::string> info = qmp_shell::hmp_command_names(
        "info balloon  -- show balloon information\r\ninfo block [-n] -- show devices\r\n",
        "info ");
    EXPECT_EQ(info, (std::vector<std::string>{"balloon", "block"}));
    EXPECT_EQ(
        qmp_shell::complete_hmp(commands, info, "", "co"), (std::vector<std::string>{"cont"}));
    EXPECT_EQ(qmp_shell::complete_hmp(commands, info, "info ", "bl"),
        (std::vector<std::string>{"block"}));
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
