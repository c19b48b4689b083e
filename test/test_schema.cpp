// SPDX-License-Identifier: MIT
// qmp::Schema on hand-made query-qmp-schema replies: indexing, suggestions, and that copies and
// moves stay usable after the original is gone.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <qmp/qmp.hpp>

using qmp::json;
using qmp::Schema;
using Names = std::vector<std::string>;

namespace {

// A small query-qmp-schema reply. The argument type of qom-get comes after the command, as
// QEMU's own order does not promise anything.
json small_schema()
{
    return json::array({
        {{"name", "query-status"}, {"meta-type", "command"}, {"arg-type", "0"}, {"ret-type", "1"}},
        {{"name", "qom-get"}, {"meta-type", "command"}, {"arg-type", "2"}, {"ret-type", "any"}},
        {{"name", "query-qmp-schema"}, {"meta-type", "command"}, {"arg-type", "0"}},
        {{"name", "blockdev-del"}, {"meta-type", "command"}, {"arg-type", "3"}},
        {{"name", "STOP"}, {"meta-type", "event"}, {"arg-type", "0"}},
        {{"name", "RESUME"}, {"meta-type", "event"}, {"arg-type", "0"}},
        {{"name", "0"}, {"meta-type", "object"}, {"members", json::array()}},
        {{"name", "2"}, {"meta-type", "object"},
            {"members",
                json::array({{{"name", "path"}, {"type", "str"}},
                    {{"name", "property"}, {"type", "str"}}})}},
        {{"name", "3"}, {"meta-type", "object"},
            {"members", json::array({{{"name", "node-name"}, {"type", "str"}}})}},
        {{"name", "str"}, {"meta-type", "builtin"}, {"json-type", "string"}},
    });
}

// Frees and reuses heap memory the way a busy program would: blocks of the sizes a schema's
// tree is made of, filled with values of another kind. Whatever still pointed into a destroyed
// schema now sees these.
void churn_heap()
{
    std::vector<std::unique_ptr<std::vector<json>>> filler;
    for (std::size_t size = 1; size <= 64; ++size)
        for (int round = 0; round < 8; ++round)
            filler.push_back(std::make_unique<std::vector<json>>(size, json(12345)));
    std::vector<std::string> strings;
    for (int i = 0; i < 512; ++i)
        strings.emplace_back(40, 'x');
}

// Everything a user asks of small_schema(), checked in one place.
void expect_small_schema(const Schema& schema)
{
    EXPECT_TRUE(schema.has_command("qom-get"));
    EXPECT_FALSE(schema.has_command("STOP"));
    EXPECT_TRUE(schema.has_event("STOP"));
    EXPECT_EQ(
        schema.commands(), (Names{"blockdev-del", "qom-get", "query-qmp-schema", "query-status"}));
    EXPECT_EQ(schema.events(), (Names{"RESUME", "STOP"}));
    EXPECT_EQ(schema.command_arguments("qom-get"), (Names{"path", "property"}));
    EXPECT_EQ(schema.command_arguments("blockdev-del"), (Names{"node-name"}));
    EXPECT_EQ(schema.command_arguments("query-status"), Names{});
    EXPECT_EQ(schema.suggest_command("query-statsu"), "query-status");
    EXPECT_EQ(schema.suggest_command("qom-gte"), "qom-get");
    EXPECT_THROW(schema.command_arguments("no-such-command"), qmp::UsageError);
    EXPECT_EQ(schema.raw(), small_schema());
}

} // namespace

TEST(Schema, IndexesCommandsEventsAndArguments)
{
    expect_small_schema(Schema(small_schema()));
}

TEST(Schema, CommandWithoutArgTypeOrWithAnUnknownOneTakesNoArguments)
{
    const Schema schema(json::array({
        {{"name", "plain"}, {"meta-type", "command"}},
        {{"name", "dangling"}, {"meta-type", "command"}, {"arg-type", "missing"}},
        {{"name", "odd"}, {"meta-type", "command"}, {"arg-type", "builtin"}},
        {{"name", "builtin"}, {"meta-type", "builtin"}, {"json-type", "int"}}, "not an object",
        {{"meta-type", "command"}}, // no name
    }));
    EXPECT_EQ(schema.commands(), (Names{"dangling", "odd", "plain"}));
    EXPECT_EQ(schema.command_arguments("plain"), Names{});
    EXPECT_EQ(schema.command_arguments("dangling"), Names{});
    EXPECT_EQ(schema.command_arguments("odd"), Names{});
}

TEST(Schema, NotAnArrayIsUsageError)
{
    EXPECT_THROW(Schema(json::object()), qmp::UsageError);
}

TEST(Schema, CopyOutlivesTheOriginal)
{
    auto original = std::make_unique<Schema>(small_schema());
    const Schema copy = *original; // as in `qmp::Schema s = *client.schema();`
    original.reset();
    churn_heap();
    expect_small_schema(copy);
}

TEST(Schema, CopyAssignmentOutlivesTheOriginal)
{
    Schema copy(json::array());
    {
        auto original = std::make_unique<Schema>(small_schema());
        copy = *original;
    }
    churn_heap();
    expect_small_schema(copy);
}

TEST(Schema, CopyOfACopyOutlivesBoth)
{
    auto first = std::make_unique<Schema>(small_schema());
    auto second = std::make_unique<Schema>(*first);
    first.reset();
    const Schema third = *second;
    second.reset();
    churn_heap();
    expect_small_schema(third);
}

TEST(Schema, MoveOutlivesTheOriginal)
{
    auto original = std::make_unique<Schema>(small_schema());
    const Schema moved = std::move(*original);
    original.reset();
    churn_heap();
    expect_small_schema(moved);
}

TEST(Schema, MoveAssignmentOutlivesTheOriginal)
{
    Schema moved(json::array());
    {
        auto original = std::make_unique<Schema>(small_schema());
        moved = std::move(*original);
    }
    churn_heap();
    expect_small_schema(moved);
}

TEST(Schema, SharedSchemaCopiedOutOfAClientStyleSharedPtr)
{
    auto shared = std::make_shared<const Schema>(small_schema());
    const Schema copy = *shared;
    shared.reset();
    churn_heap();
    expect_small_schema(copy);
}
