// SPDX-License-Identifier: MIT
// FakeQemu::use_schema() with the shipped capture of QEMU 7.2's query-qmp-schema: commands QEMU
// would refuse get QEMU 7.2's errors (texts checked against the real one) and are recorded.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

using namespace std::chrono_literals;
using qmp::json;
using qmp::testing::FakeQemu;

namespace {

json qemu_7_2_schema()
{
    std::ifstream in(QMP_TEST_DATA "/qemu-7.2-qmp-schema.json");
    if (!in)
        throw std::runtime_error("cannot read " QMP_TEST_DATA "/qemu-7.2-qmp-schema.json");
    return json::parse(in);
}

class Schema : public ::testing::Test {
protected:
    void SetUp() override
    {
        fake.use_schema(qemu_7_2_schema());
        fake.on("block_resize").reply();
        fake.on("blockdev-add").reply();
        fake.on("migrate-set-capabilities").reply();
        fake.on("query-status").reply({{"status", "running"}});
        qmp::ClientOptions options;
        options.connect_timeout = 5s;
        options.command_timeout = 5s;
        client = std::make_unique<qmp::Client>(options);
        client->connect(fake.address());
    }

    // The error the fake answers \p command with ("" when it replies), and that it recorded it.
    std::string refusal(const std::string& command, const json& arguments = json::object())
    {
        const std::size_t before = fake.unexpected().size();
        try {
            client->execute(command, arguments);
        } catch (const qmp::ExecuteError& e) {
            EXPECT_EQ(fake.unexpected().size(), before + 1) << "not recorded";
            return e.error_class() + ": " + e.description();
        }
        EXPECT_EQ(fake.unexpected().size(), before);
        return "";
    }

    FakeQemu fake;
    std::unique_ptr<qmp::Client> client;
};

} // namespace

TEST_F(Schema, AcceptsWhatQemuAccepts)
{
    EXPECT_EQ(refusal("block_resize", {{"node-name", "disk0"}, {"size", 1 << 30}}), "");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "file"}, {"node-name", "f"}, {"filename", "/x"}, {"aio", "threads"},
                      {"cache", {{"direct", true}}}}),
        "");
    EXPECT_EQ(refusal("migrate-set-capabilities",
                  {{"capabilities", {{{"capability", "events"}, {"state", true}}}}}),
        "");
    EXPECT_EQ(refusal("query-status"), "");
    EXPECT_TRUE(fake.unexpected().empty());
}

TEST_F(Schema, UnknownCommand)
{
    EXPECT_EQ(
        refusal("query-statsu"), "CommandNotFound: The command query-statsu has not been found");
    EXPECT_EQ(refusal("guest-ping"), "CommandNotFound: The command guest-ping has not been found");
}

TEST_F(Schema, WrongArgumentType)
{
    EXPECT_EQ(refusal("block_resize", {{"node-name", "x"}, {"size", "big"}}),
        "GenericError: Invalid parameter type for 'size', expected: integer");
    EXPECT_EQ(refusal("block_resize", {{"node-name", "x"}, {"size", 1.5}}),
        "GenericError: Invalid parameter type for 'size', expected: integer");
    EXPECT_EQ(refusal("qom-get", {{"path", 1}, {"property", "x"}}),
        "GenericError: Invalid parameter type for 'path', expected: string");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "file"}, {"node-name", "a"}, {"filename", "/x"},
                      {"cache", {{"direct", "yes"}}}}),
        "GenericError: Invalid parameter type for 'cache.direct', expected: boolean");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "file"}, {"node-name", "a"}, {"filename", "/x"}, {"cache", 5}}),
        "GenericError: Invalid parameter type for 'cache', expected: object");
    EXPECT_EQ(refusal("migrate-set-capabilities",
                  {{"capabilities", {{{"capability", "events"}, {"state", 1}}}}}),
        "GenericError: Invalid parameter type for 'capabilities[0].state', expected: boolean");
    EXPECT_EQ(refusal("migrate-set-capabilities", {{"capabilities", "a"}}),
        "GenericError: Invalid parameter type for 'capabilities', expected: array");
    EXPECT_EQ(refusal("blockdev-add", {{"driver", 5}}),
        "GenericError: Invalid parameter type for 'driver', expected: string");
}

TEST_F(Schema, MissingMandatoryArgument)
{
    EXPECT_EQ(refusal("qom-get"), "GenericError: Parameter 'path' is missing");
    EXPECT_EQ(
        refusal("block_resize", {{"node-name", "x"}}), "GenericError: Parameter 'size' is missing");
    EXPECT_EQ(refusal("blockdev-add", {{"driver", "file"}, {"node-name", "a"}}),
        "GenericError: Parameter 'filename' is missing")
        << "a member of the variant the union's tag chooses";
    EXPECT_EQ(refusal("blockdev-add", {{"node-name", "a"}}),
        "GenericError: Parameter 'driver' is missing");
    EXPECT_EQ(refusal("migrate-set-capabilities", {{"capabilities", {{{"state", true}}}}}),
        "GenericError: Parameter 'capabilities[0].capability' is missing");
}

TEST_F(Schema, UnknownArgument)
{
    EXPECT_EQ(
        refusal("query-status", {{"bogus", 2}}), "GenericError: Parameter 'bogus' is unexpected");
    EXPECT_EQ(refusal("block_resize", {{"node-name", "x"}, {"size", 1}, {"bogus", 2}}),
        "GenericError: Parameter 'bogus' is unexpected");
    EXPECT_EQ(
        refusal("blockdev-add",
            {{"driver", "file"}, {"node-name", "a"}, {"filename", "/x"}, {"cache", {{"foo", 1}}}}),
        "GenericError: Parameter 'cache.foo' is unexpected");
    EXPECT_EQ(refusal("qom-get", {{"path", 5}, {"bogus", 1}}),
        "GenericError: Invalid parameter type for 'path', expected: string")
        << "members are checked before unknown ones are looked for, as QEMU does";
}

TEST_F(Schema, EnumValueQemu72DoesNotHave)
{
    EXPECT_EQ(refusal("blockdev-add", {{"driver", "nosuch"}, {"node-name", "a"}}),
        "GenericError: Parameter 'driver' does not accept value 'nosuch'");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "file"}, {"node-name", "a"}, {"filename", "/x"}, {"aio", "bad"}}),
        "GenericError: Parameter 'aio' does not accept value 'bad'");
    // A migration capability added after 7.2; QEMU names the member alone here.
    EXPECT_EQ(refusal("migrate-set-capabilities",
                  {{"capabilities", {{{"capability", "switchover-ack"}, {"state", true}}}}}),
        "GenericError: Parameter 'capability' does not accept value 'switchover-ack'");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "file"}, {"node-name", "a"}, {"filename", "/x"}, {"aio", 5}}),
        "GenericError: Invalid parameter type for 'aio', expected: string");
}

TEST_F(Schema, AlternatesAcceptEachOfTheirTypes)
{
    // BlockdevRef: a node name or a definition.
    EXPECT_EQ(
        refusal("blockdev-add", {{"driver", "qcow2"}, {"node-name", "q"}, {"file", "f"}}), "");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "qcow2"}, {"node-name", "q"},
                      {"file", {{"driver", "file"}, {"filename", "/x"}}}}),
        "");
    EXPECT_EQ(refusal("blockdev-add",
                  {{"driver", "qcow2"}, {"node-name", "q"}, {"file", {{"driver", "file"}}}}),
        "GenericError: Parameter 'file.filename' is missing");
    const std::string wrong =
        refusal("blockdev-add", {{"driver", "qcow2"}, {"node-name", "q"}, {"file", 5}});
    EXPECT_EQ(wrong.rfind("GenericError: Invalid parameter type for 'file', expected: ", 0), 0u)
        << wrong;
}

TEST_F(Schema, SchemaIsAnsweredAndUsableByTheClient)
{
    const auto schema = client->schema();
    EXPECT_TRUE(schema->has_command("blockdev-add"));
    EXPECT_FALSE(schema->has_command("query-statsu"));
    EXPECT_TRUE(fake.unexpected().empty());
}

TEST_F(Schema, RulesStillDecideWhatAcceptedCommandsGet)
{
    EXPECT_EQ(refusal("stop"), "CommandNotFound: The command stop has not been found")
        << "in the schema, but no rule";
}

TEST(SchemaCapture, IsAnArrayOfEntitiesAndUseSchemaRefusesOtherThings)
{
    const json schema = qemu_7_2_schema();
    ASSERT_TRUE(schema.is_array());
    EXPECT_GT(schema.size(), 1000u);
    FakeQemu fake;
    EXPECT_THROW(fake.use_schema(json::object()), qmp::UsageError);
    EXPECT_THROW(fake.use_schema(json::array({1, 2})), qmp::UsageError);
    fake.use_schema(schema);
}
