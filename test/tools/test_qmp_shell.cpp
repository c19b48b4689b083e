// SPDX-License-Identifier: MIT
// qmp-shell end to end against real QEMU, through pipes: script mode, -c, exit statuses,
// --wait-event, --events, -v, -l and the disposable QEMU's clean-up.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include <qmp/qmp.hpp>

#include "tool_process.hpp"

using namespace tools_test;
using qmp::json;

namespace {

std::string shell()
{
    return tool_path("QMP_SHELL");
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);)
        lines.push_back(line);
    return lines;
}

// A QEMU started by the test, with a second monitor for the tool at tool_socket().
class SharedQemu {
public:
    SharedQemu()
    {
        qmp::MachineOptions options;
        options.args.insert(
            options.args.end(), {"-qmp", "unix:" + tool_socket() + ",server=on,wait=off"});
        machine_ = std::make_unique<qmp::Machine>(options);
        machine_->start();
    }
    std::string tool_socket() const { return directory_.path() + "/tool.sock"; }
    qmp::Client& client() { return machine_->client(); }

private:
    TemporaryDirectory directory_;
    std::unique_ptr<qmp::Machine> machine_;
};

// The disposable QEMU a tool started: its pid and the temporary directory holding its socket.
struct LaunchedQemu {
    pid_t pid = 0;
    std::string directory;
};

LaunchedQemu find_launched_qemu(pid_t tool)
{
    for (pid_t child : children_of(tool)) {
        for (const std::string& argument : command_line_of(child)) {
            const auto at = argument.find("path=");
            if (at == std::string::npos)
                continue;
            const std::string path = argument.substr(at + 5, argument.find(',', at) - at - 5);
            return {child, std::filesystem::path(path).parent_path().string()};
        }
    }
    return {};
}

// Starts qmp-shell in launch mode on a pipe, proves it is working, and returns its QEMU.
LaunchedQemu start_launched(ToolProcess& tool)
{
    tool.write("query-status\n");
    EXPECT_TRUE(tool.wait_for_output("\"status\":\"running\"")) << tool.error_output();
    const LaunchedQemu qemu = find_launched_qemu(tool.pid());
    EXPECT_GT(qemu.pid, 0);
    EXPECT_TRUE(std::filesystem::exists(qemu.directory)) << qemu.directory;
    return qemu;
}

const std::map<std::string, std::string> no_socket = {{"QMP_SOCKET", ""}};

} // namespace

TEST(QmpShell, HelpExitsZero)
{
    const Result result = run_tool({shell(), "--help"});
    EXPECT_EQ(result.status, 0);
    EXPECT_NE(result.out.find("Usage: qmp-shell"), std::string::npos);
    EXPECT_NE(result.out.find("--wait-event"), std::string::npos);
}

TEST(QmpShell, BadOptionExitsTwo)
{
    const Result result = run_tool({shell(), "--no-such-option"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("--help"), std::string::npos);
}

TEST(QmpShell, LongOptionWithoutItsValueIsNamedAsTyped)
{
    const Result result = run_tool({shell(), "--timeout"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("missing value: --timeout"), std::string::npos) << result.err;
}

TEST(QmpShell, UnreachableAddressExitsThree)
{
    TemporaryDirectory directory;
    const Result result = run_tool({shell(), "-c", "query-status", directory.path() + "/none"});
    EXPECT_EQ(result.status, 3);
    EXPECT_NE(result.err.find("qmp-shell:"), std::string::npos);
}

TEST(QmpShell, NoAddressOutsideATerminalNeedsLaunch)
{
    for (const std::vector<std::string>& arguments : std::vector<std::vector<std::string>>{
             {shell()}, {shell(), "-c", "stop"}, {shell(), "--wait-event", "STOP"}}) {
        const Result result = run_tool(arguments, "stop\n", no_socket);
        EXPECT_EQ(result.status, 2) << arguments.back() << ": " << result.err;
        EXPECT_EQ(result.out, "");
        EXPECT_NE(result.err.find("no address"), std::string::npos) << result.err;
        EXPECT_NE(result.err.find("--launch"), std::string::npos) << result.err;
    }
}

TEST(QmpShell, PythonLiteralsReachQemuAsJson)
{
    const Result result = run_tool({shell(), "--launch"},
        "qom-set path=/machine property=graphics value=False\n"
        "qom-get path=/machine property=graphics\n"
        "qom-set path=/machine property=graphics value=TRUE\n"
        "qom-get path=/machine property=graphics\n",
        no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(
        result.out, "{\"return\":{}}\n{\"return\":false}\n{\"return\":{}}\n{\"return\":true}\n");
}

TEST(QmpShell, PipedCommandsPrintOneCompactReplyPerLine)
{
    const Result result =
        run_tool({shell(), "--launch"}, "query-status\n# a comment\n\nstop\nquery-status\n");
    EXPECT_EQ(result.status, 0) << result.err;
    const auto lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 3u) << result.out;
    EXPECT_EQ(json::parse(lines[0])["return"]["status"], "running");
    EXPECT_EQ(json::parse(lines[1]), (json{{"return", json::object()}}));
    EXPECT_EQ(json::parse(lines[2])["return"]["status"], "paused");
}

TEST(QmpShell, FailedCommandGoesToStderrAndExitsOne)
{
    const Result result = run_tool({shell(), "--launch"}, "query-nope\nquery-name\n", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(lines_of(result.out).size(), 1u) << result.out; // query-name still ran
    EXPECT_NE(result.err.find("CommandNotFound: unknown command 'query-nope'"), std::string::npos)
        << result.err;
    EXPECT_EQ(result.err.find("\033["), std::string::npos) << "colour on a pipe";
}

TEST(QmpShell, SyntaxErrorShowsLineAndCaret)
{
    const Result result =
        run_tool({shell(), "--launch", "-c", "qom-list path=/ oops"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("qom-list path=/ oops\n                ^ expected key=value"),
        std::string::npos)
        << result.err;
}

TEST(QmpShell, CommandOptionRunsOneCommand)
{
    const Result result =
        run_tool({shell(), "--launch", "-c", "qom-get path=/machine property=type"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "{\"return\":\"none-machine\"}\n");
}

TEST(QmpShell, PrettyOptionIndents)
{
    const Result result =
        run_tool({shell(), "--launch", "-p", "-c", "query-status"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("{\n    \"return\": {\n"), std::string::npos) << result.out;
}

TEST(QmpShell, JsonObjectLineIsSent)
{
    const Result result = run_tool({shell(), "--launch"},
        R"({"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}, "id": "mine"})"
        "\n"
        R"({"execute": "query-nope"})"
        "\n",
        no_socket);
    EXPECT_EQ(result.status, 1) << result.err;
    // Sent as typed: the caller's id comes back in the whole reply.
    EXPECT_EQ(json::parse(result.out), (json{{"return", "none-machine"}, {"id", "mine"}}));
    EXPECT_NE(result.err.find("CommandNotFound: The command query-nope has not been found"),
        std::string::npos)
        << result.err;
}

TEST(QmpShell, TransactionBlockIsOneCommand)
{
    // An empty transaction succeeds; "abort" makes QEMU refuse the whole transaction.
    const Result ok = run_tool({shell(), "--launch", "-v"}, "transaction(\n)\n", no_socket);
    EXPECT_EQ(ok.status, 0) << ok.err;
    EXPECT_NE(ok.err.find(R"(-> {"execute":"transaction","arguments":{"actions":[]},"id":")"),
        std::string::npos)
        << ok.err;
    const Result aborted = run_tool({shell(), "--launch"}, "transaction(\nabort\n)\n", no_socket);
    EXPECT_EQ(aborted.status, 1);
    EXPECT_NE(
        aborted.err.find("GenericError: Transaction aborted using Abort action"), std::string::npos)
        << aborted.err;
}

TEST(QmpShell, HmpModeSendsHumanMonitorCommands)
{
    const Result result = run_tool({shell(), "--launch", "-H"}, "info status\n", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "VM status: running\n");
}

TEST(QmpShell, VerboseEchoesTheJsonSentWithItsId)
{
    const Result result =
        run_tool({shell(), "--launch", "-v", "-c",
                     "blockdev-add driver=null-co node-name=n0 cache.direct=false"},
            "", no_socket);
    // Exactly the bytes the library wrote, "execute" first and the id included.
    EXPECT_NE(
        result.err.find(
            R"(-> {"execute":"blockdev-add","arguments":{"cache":{"direct":false},"driver":"null-co","node-name":"n0"},"id":")"),
        std::string::npos)
        << result.err;
}

TEST(QmpShell, SeveralCommandLinesRunInTurn)
{
    const Result result =
        run_tool({shell(), "--launch", "-c", "stop", "-c", "query-nope", "-c", "query-status"}, "",
            no_socket);
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.out,
        "{\"return\":{}}\n{\"return\":{\"running\":false,\"singlestep\":false,\"status\":"
        "\"paused\"}}\n");
}

TEST(QmpShell, UnknownNamesGetASuggestion)
{
    // A command: refused before it is sent.
    Result result = run_tool({shell(), "--launch", "-v", "-c", "query-statsu"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("did you mean 'query-status'?"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("\"execute\":\"query-statsu\""), std::string::npos) << result.err;
    // An argument: refused before it is sent too, with the closest argument name.
    result = run_tool({shell(), "--launch", "-v", "-c", "qom-list path=/ paths=x"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("qmp-shell: qom-list has no argument 'paths' (did you mean "
                              "'path'?); nothing was sent\n"),
        std::string::npos)
        << result.err;
    EXPECT_EQ(result.err.find("\"execute\":\"qom-list\""), std::string::npos) << result.err;
    // A member of a union branch the line's discriminator did not pick is still QEMU's to
    // refuse; so are nested ones: QEMU's error, with the closest name.
    result = run_tool(
        {shell(), "--launch", "-c",
            "blockdev-add driver=null-co node-name=n0 read-zeroes=true cache.directt=true"},
        "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("is unexpected"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("nothing was sent"), std::string::npos) << result.err;
    // device_add takes any property of the device it adds: not refused by qmp-shell.
    result = run_tool(
        {shell(), "--launch", "-c", "device_add driver=no-such-device foo=1"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.err.find("nothing was sent"), std::string::npos) << result.err;
    // An event: --wait-event would otherwise wait forever.
    result = run_tool({shell(), "--launch", "--wait-event", "resume"}, "", no_socket);
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.err,
        "qmp-shell: --wait-event: QEMU has no event resume (did you mean "
        "'RESUME'?)\n");
}

TEST(QmpShell, HelpTransactionListsTheActionTypes)
{
    const Result result = run_tool({shell(), "--launch"}, "help transaction\n", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("\n    abort\n"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("\n    blockdev-snapshot-sync\n"), std::string::npos) << result.out;
}

TEST(QmpShell, UnwritableLogFileIsABadArgument)
{
    TemporaryDirectory directory;
    const std::string log = directory.path() + "/no/such/dir/traffic.log";
    const Result result = run_tool({shell(), "--launch", "-l", log, "-c", "stop"}, "", no_socket);
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.err,
        "qmp-shell: cannot write the log file " + log + ": No such file or directory\n");
    EXPECT_FALSE(std::filesystem::exists(directory.path() + "/no"));
}

TEST(QmpShell, LogFileRecordsTraffic)
{
    TemporaryDirectory directory;
    const std::string log = directory.path() + "/traffic.log";
    const Result result =
        run_tool({shell(), "--launch", "-l", log, "-c", "query-name"}, "", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    std::ifstream file(log);
    const std::string text((std::istreambuf_iterator<char>(file)), {});
    EXPECT_NE(text.find("--> {\"execute\":\"query-name\""), std::string::npos) << text;
    EXPECT_NE(text.find("<-- {\"return\": {}"), std::string::npos) << text;
}

TEST(QmpShell, WaitEventAfterCommand)
{
    const Result result =
        run_tool({shell(), "--launch", "-c", "stop", "--wait-event", "STOP", "--timeout", "20"}, "",
            no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    const auto lines = lines_of(result.out);
    ASSERT_EQ(lines.size(), 2u) << result.out;
    EXPECT_EQ(json::parse(lines[1])["event"], "STOP");
    // QMP's order, not the JSON library's alphabetical one.
    EXPECT_EQ(lines[1].rfind("{\"event\":\"STOP\",\"timestamp\":", 0), 0u) << lines[1];
}

TEST(QmpShell, HmpCpuIsRememberedForLaterLines)
{
    const Result result = run_tool({shell(), "-H", "--launch", "--", "-machine", "pc", "-smp", "2",
                                       "-display", "none", "-S", "-nodefaults"},
        "cpu 1\ninfo cpus\ncpu 7\ncpu one\ninfo cpus\n", no_socket);
    EXPECT_EQ(result.status, 1) << result.err; // the bad cpu lines fail
    // info cpus marks the current CPU with '*', both times CPU 1.
    const auto first = result.out.find("* CPU #1");
    ASSERT_NE(first, std::string::npos) << result.out;
    EXPECT_NE(result.out.find("* CPU #1", first + 1), std::string::npos) << result.out;
    EXPECT_EQ(result.out.find("* CPU #0"), std::string::npos) << result.out;
    EXPECT_NE(result.err.find("qmp-shell: no CPU 7\n"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("qmp-shell: cpu takes a CPU index, e.g. cpu 1\n"), std::string::npos)
        << result.err;
}

TEST(QmpShell, WaitEventTimesOutWithStatusOne)
{
    const Result result =
        run_tool({shell(), "--launch", "--wait-event", "STOP", "--timeout", "0.3"}, "", no_socket);
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("no STOP event"), std::string::npos) << result.err;
}

TEST(QmpShell, WaitEventFromAnotherClientThroughAddress)
{
    SharedQemu qemu;
    ToolProcess tool({shell(), "-v", "--wait-event", "RESUME", qemu.tool_socket()}, {});
    ASSERT_TRUE(tool.wait_for_error("waiting for event RESUME")) << tool.error_output();
    qemu.client().execute("stop");
    qemu.client().execute("cont");
    EXPECT_EQ(tool.wait_exit(), 0) << tool.error_output();
    EXPECT_EQ(json::parse(tool.output())["event"], "RESUME");
}

TEST(QmpShell, NumRetriesWaitsForAQemuStillStarting)
{
    TemporaryDirectory directory;
    const std::string socket = directory.path() + "/late.sock";
    ToolProcess tool(
        {shell(), "--num-retries", "400", "--retry-delay", "0.05", "-c", "query-status", socket},
        {});
    // QEMU comes after the shell has started trying.
    qmp::MachineOptions options;
    options.args.insert(options.args.end(), {"-qmp", "unix:" + socket + ",server=on,wait=off"});
    qmp::Machine machine(options);
    machine.start();
    EXPECT_EQ(tool.wait_exit(), 0) << tool.error_output();
    EXPECT_NE(tool.output().find("\"running\""), std::string::npos) << tool.output();
    EXPECT_EQ(run_tool({shell(), "--num-retries", "3", "--launch"}).status, 2);
}

TEST(QmpShell, AddressFromEnvironment)
{
    SharedQemu qemu;
    const Result result = run_tool(
        {shell(), "-c", "query-status"}, "", {{"QMP_SOCKET", "unix:" + qemu.tool_socket()}});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("running"), std::string::npos);
}

TEST(QmpShell, EventsPrintsUntilInterrupted)
{
    SharedQemu qemu;
    ToolProcess tool({shell(), "-v", "--events", qemu.tool_socket()}, {});
    ASSERT_TRUE(tool.wait_for_error("printing events")) << tool.error_output();
    qemu.client().execute("stop");
    qemu.client().execute("cont");
    ASSERT_TRUE(tool.wait_for_output("\"RESUME\"")) << tool.output();
    tool.signal(SIGINT);
    EXPECT_EQ(tool.wait_exit(), 0);
    const auto lines = lines_of(tool.output());
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(json::parse(lines[0])["event"], "STOP");
    EXPECT_EQ(json::parse(lines[1])["event"], "RESUME");
    // The QEMU we only connected to keeps running.
    EXPECT_EQ(qemu.client().execute("query-status")["status"], "running");
}

TEST(QmpShell, QuitEndsTheScriptSuccessfully)
{
    const Result result = run_tool({shell(), "--launch"}, "quit\n", no_socket);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "{\"return\":{}}\n");
}

TEST(QmpShell, LaunchedQemuIsRemovedAtEndOfInput)
{
    ToolProcess tool({shell(), "--launch"}, {});
    const LaunchedQemu qemu = start_launched(tool);
    tool.close_stdin();
    EXPECT_EQ(tool.wait_exit(), 0) << tool.error_output();
    EXPECT_FALSE(process_exists(qemu.pid));
    EXPECT_FALSE(std::filesystem::exists(qemu.directory));
}

TEST(QmpShell, LaunchedQemuIsRemovedAfterSigint)
{
    ToolProcess tool({shell(), "--launch"}, {});
    const LaunchedQemu qemu = start_launched(tool);
    tool.signal(SIGINT);
    EXPECT_EQ(tool.wait_exit(), 130) << tool.error_output();
    EXPECT_FALSE(process_exists(qemu.pid));
    EXPECT_FALSE(std::filesystem::exists(qemu.directory));
}

TEST(QmpShell, LaunchedQemuIsRemovedAfterSigtermDuringWait)
{
    ToolProcess tool({shell(), "--launch", "-v", "--wait-event", "DEVICE_DELETED"},
        ToolProcess::Options{false, {{"QMP_SOCKET", ""}}});
    ASSERT_TRUE(tool.wait_for_error("waiting for event DEVICE_DELETED")) << tool.error_output();
    const LaunchedQemu qemu = find_launched_qemu(tool.pid());
    ASSERT_GT(qemu.pid, 0);
    tool.signal(SIGTERM);
    EXPECT_EQ(tool.wait_exit(), 143) << tool.error_output();
    EXPECT_FALSE(process_exists(qemu.pid));
    EXPECT_FALSE(std::filesystem::exists(qemu.directory));
}

TEST(QmpShell, LaunchedQemuIsRemovedAfterConnectionLoss)
{
    ToolProcess tool({shell(), "--launch"}, {});
    const LaunchedQemu qemu = start_launched(tool);
    ::kill(qemu.pid, SIGKILL);
    tool.write("query-status\n");
    EXPECT_EQ(tool.wait_exit(), 3) << tool.error_output();
    EXPECT_FALSE(process_exists(qemu.pid));
    EXPECT_FALSE(std::filesystem::exists(qemu.directory));
}

TEST(QmpShell, LaunchArgumentsGoToQemu)
{
    const Result result = run_tool({shell(), "-c", "query-name", "--launch", "--", "-machine",
        "none", "-display", "none", "-name", "tools-test"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "{\"return\":{\"name\":\"tools-test\"}}\n");
}
