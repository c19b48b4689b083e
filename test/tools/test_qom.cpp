// SPDX-License-Identifier: MIT
// qom end to end against real QEMU.
#include <filesystem>

#include <gtest/gtest.h>

#include <qmp/qmp.hpp>

#include "tool_process.hpp"

using namespace tools_test;

namespace {

std::string qom()
{
    return tool_path("QOM");
}

const std::map<std::string, std::string> no_socket = {{"QMP_SOCKET", ""}};

} // namespace

TEST(Qom, TreeIsIndentedWithTypes)
{
    const Result result = run_tool({qom(), "--launch", "tree"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out.rfind("/ (container)\n", 0), 0u) << result.out;
    EXPECT_NE(result.out.find("\n  machine (none-machine)\n"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("\n    peripheral (container)\n"), std::string::npos) << result.out;
}

TEST(Qom, TreeOfSubtree)
{
    const Result result = run_tool({qom(), "--launch", "tree", "/machine"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out.rfind("machine (none-machine)\n  peripheral (container)\n", 0), 0u)
        << result.out;
}

TEST(Qom, ListShowsChildrenLinksAndProperties)
{
    const Result result = run_tool({qom(), "--launch", "ls", "/machine"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("\nperipheral/\n"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("\n@memory-backend/\n"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("\ntype\n"), std::string::npos) << result.out;
}

TEST(Qom, GetPrintsStringsPlain)
{
    const Result result = run_tool({qom(), "--launch", "get", "/machine.type"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "none-machine\n");
}

TEST(Qom, SetThenGetThroughAddress)
{
    TemporaryDirectory directory;
    const std::string socket = directory.path() + "/tool.sock";
    qmp::MachineOptions options;
    options.args.insert(options.args.end(), {"-qmp", "unix:" + socket + ",server=on,wait=off"});
    qmp::Machine machine(options);
    machine.start().execute("object-add", {{"qom-type", "secret"}, {"id", "s0"}, {"data", "x"}});
    // A JSON value (false) and a string value, through a positional address.
    Result result = run_tool({qom(), socket, "set", "/machine.graphics", "false"});
    EXPECT_EQ(result.status, 0) << result.err;
    result = run_tool({qom(), socket, "get", "/machine.graphics"});
    EXPECT_EQ(result.out, "false\n");
    result = run_tool({qom(), socket, "set", "/machine.firmware", "bios.bin"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(machine.client().execute("qom-get", {{"path", "/machine"}, {"property", "firmware"}}),
        "bios.bin");
    result = run_tool({qom(), "get", "/objects/s0.type"}, "", {{"QMP_SOCKET", socket}});
    EXPECT_EQ(result.out, "secret\n") << result.err;

    // Python's spellings: list, -s/--socket; and options after the command's arguments.
    result = run_tool({qom(), "list", "/objects"}, "", {{"QMP_SOCKET", socket}});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "s0/\ntype\n");
    result = run_tool({qom(), "get", "/machine.graphics", "-s", socket});
    EXPECT_EQ(result.out, "false\n") << result.err;
    result = run_tool({qom(), socket, "get", "/machine.smp", "-p"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("{\n    \""), std::string::npos) << result.out;
    result = run_tool({qom(), "--socket=" + socket, "get", "/machine.smp", "-p"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("{\n    \""), std::string::npos) << result.out;
}

TEST(Qom, CommandHelpStartsNoQemu)
{
    for (const char* command : {"ls", "list", "get", "set", "tree"}) {
        const Result result = run_tool({qom(), command, "--help"}, "", no_socket);
        EXPECT_EQ(result.status, 0) << command << ": " << result.err;
        EXPECT_EQ(result.out.rfind("Usage: qom [OPTIONS] ", 0), 0u) << result.out;
        EXPECT_EQ(result.err, "");
    }
}

TEST(Qom, UnknownCommandIsNamedWithASuggestion)
{
    const Result result = run_tool({qom(), "lst", "/machine"}, "", {{"QMP_SOCKET", "/nowhere"}});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("unknown command: lst (did you mean 'ls'?)"), std::string::npos)
        << result.err;
}

TEST(Qom, TreeOfAPathThatDoesNotExistIsAnError)
{
    const Result result = run_tool({qom(), "--launch", "tree", "/nope"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("DeviceNotFound"), std::string::npos) << result.err;
}

TEST(Qom, NamesSortNaturally)
{
    const Result result = run_tool({qom(), "ls", "/machine/unattached", "--launch", "--",
                                       "-machine", "q35", "-display", "none"},
        "", no_socket);
    ASSERT_EQ(result.status, 0) << result.err;
    const auto two = result.out.find("\ndevice[2]/\n");
    const auto nineteen = result.out.find("\ndevice[19]/\n");
    ASSERT_NE(two, std::string::npos) << result.out;
    ASSERT_NE(nineteen, std::string::npos) << result.out;
    EXPECT_LT(two, nineteen);
}

TEST(Qom, TreeWithValuesShowsPropertiesAndUnreadableOnes)
{
    const Result result = run_tool({qom(), "--launch", "tree", "-V", "/machine/unattached", "--",
                                       "-machine", "q35", "-display", "none"},
        "", no_socket);
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out.rfind("unattached (container)\n  type: \"container\" (string)\n", 0), 0u)
        << result.out.substr(0, 500);
    EXPECT_NE(result.out.find("    realized: true (bool)\n"), std::string::npos);
    EXPECT_NE(result.out.find(": <unreadable: "), std::string::npos);
}

TEST(Qom, MissingPropertyIsAnErrorWithStatusOne)
{
    const Result result =
        run_tool({qom(), "--launch", "get", "/machine.no-such-thing"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("GenericError: Property 'none-machine.no-such-thing' not found"),
        std::string::npos)
        << result.err;
}

TEST(Qom, UsageErrorsExitTwo)
{
    EXPECT_EQ(run_tool({qom()}).status, 2);
    // A forgotten address is never a throwaway QEMU.
    const Result result = run_tool({qom(), "set", "/machine.graphics", "false"}, "", no_socket);
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("no address"), std::string::npos) << result.err;
    EXPECT_EQ(run_tool({qom(), "get", "/machine"}).status, 2); // no .PROPERTY
    EXPECT_EQ(run_tool({qom(), "ls"}).status, 2);
    EXPECT_EQ(run_tool({qom(), "--help"}).status, 0);
}
