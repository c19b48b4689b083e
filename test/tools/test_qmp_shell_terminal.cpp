// SPDX-License-Identifier: MIT
// qmp-shell's interactive mode through a pseudo-terminal: history, TAB completion, an event
// arriving while a line is being typed, and Ctrl-C.
#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include <qmp/qmp.hpp>

#include "tool_process.hpp"

using namespace tools_test;

namespace {

class Terminal : public ::testing::Test {
protected:
    // qmp-shell on a terminal with a private HOME (for the history file) and, for events from
    // the test, a second monitor on monitor_socket().
    std::unique_ptr<ToolProcess> start_shell(const std::vector<std::string>& options = {})
    {
        std::vector<std::string> argv{tool_path("QMP_SHELL")};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.insert(argv.end(),
            {"--", "-machine", "none", "-nodefaults", "-display", "none", "-qmp",
                "unix:" + monitor_socket() + ",server=on,wait=off"});
        auto tool = std::make_unique<ToolProcess>(argv,
            ToolProcess::Options{true,
                {{"HOME", home_.path()}, {"TERM", "xterm"}, {"QMP_SOCKET", ""}, {"NO_COLOR", ""}}});
        EXPECT_TRUE(tool->wait_for_output("(QEMU) ")) << tool->output();
        return tool;
    }

    // Waits for \p reply after \p from, then for the next prompt: typing before the prompt is
    // typing into the terminal's cooked mode while the command runs, as a user rarely does.
    static bool wait_for_reply(ToolProcess& tool, const std::string& reply, std::size_t from)
    {
        if (!tool.wait_for_output(reply, 20s, from))
            return false;
        return tool.wait_for_output("(QEMU) ", 20s, tool.output().find(reply, from));
    }

    std::string monitor_socket() const { return home_.path() + "/events.sock"; }
    std::string history_file() const { return home_.path() + "/.qmp-shell_history"; }

    TemporaryDirectory home_;
};

} // namespace

TEST_F(Terminal, RepliesArePrettyAndPromptReturns)
{
    auto tool = start_shell();
    const std::size_t mark = tool->output().size();
    tool->write("query-status\r");
    ASSERT_TRUE(wait_for_reply(*tool, "{\r\n    \"return\": {\r\n", mark)) << tool->output();
    tool->write("\x04"); // Ctrl-D
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, WithoutAddressTheBannerSaysTheQemuIsDisposable)
{
    ToolProcess tool({tool_path("QMP_SHELL")},
        ToolProcess::Options{
            true, {{"HOME", home_.path()}, {"TERM", "xterm"}, {"QMP_SOCKET", ""}}});
    ASSERT_TRUE(tool.wait_for_output("(QEMU) ")) << tool.output();
    EXPECT_NE(tool.output().find("No address given: this is a disposable qemu-system-x86_64"),
        std::string::npos)
        << tool.output();
    tool.write("\x04");
    EXPECT_EQ(tool.wait_exit(), 0);
}

TEST_F(Terminal, HistoryIsSavedAndRecalled)
{
    {
        auto tool = start_shell();
        tool->write("qom-get path=/machine property=type\r");
        ASSERT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", 0)) << tool->output();
        tool->write("\x04");
        ASSERT_EQ(tool->wait_exit(), 0);
    }
    std::ifstream file(history_file());
    const std::string saved((std::istreambuf_iterator<char>(file)), {});
    EXPECT_NE(saved.find("qom-get"), std::string::npos) << saved;

    auto tool = start_shell();
    const std::size_t mark = tool->output().size();
    tool->write("\x1b[A\r"); // Up, Enter: the previous session's command again
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, HistoryIsSharedWithPythonsPlainFormat)
{
    // A file as Python's qmp-shell (GNU readline) writes it: one entry per line.
    std::ofstream(history_file()) << "query-name\nqom-get path=/machine property=type\n";
    auto tool = start_shell();
    std::size_t mark = tool->output().size();
    tool->write("\x1b[A\r"); // Up, Enter: Python's last entry, spaces and all
    ASSERT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();
    // Meanwhile another program (Python's qmp-shell) saves its session.
    std::ofstream(history_file(), std::ios::app) << "query-kvm\n";
    mark = tool->output().size();
    tool->write("query-status\r");
    ASSERT_TRUE(wait_for_reply(*tool, "\"running\"", mark)) << tool->output();
    tool->write("\x04");
    ASSERT_EQ(tool->wait_exit(), 0);
    std::ifstream file(history_file());
    const std::string saved((std::istreambuf_iterator<char>(file)), {});
    EXPECT_EQ(saved,
        "query-name\nqom-get path=/machine property=type\nquery-kvm\n"
        "qom-get path=/machine property=type\nquery-status\n");
}

TEST_F(Terminal, CtrlRThenEnterRunsTheLineFound)
{
    std::ofstream(history_file()) << "qom-get path=/machine property=type\nquery-status\n";
    auto tool = start_shell();
    std::size_t mark = tool->output().size();
    tool->write("\x12"); // Ctrl-R: search the history backwards
    tool->write("qom-");
    ASSERT_TRUE(tool->wait_for_output("'qom-': qom-get path=/machine property=type", 20s, mark))
        << tool->output();
    tool->write("\r"); // Enter alone runs it
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();

    // Ctrl-R, then a key that is not text: the match is left on the line to be changed.
    mark = tool->output().size();
    tool->write("\x12stat");
    ASSERT_TRUE(tool->wait_for_output("'stat': query-status", 20s, mark)) << tool->output();
    tool->write("\x05"); // Ctrl-E
    tool->write(" \r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"running\"", mark)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, TabCompletesCommandAndArgumentNames)
{
    auto tool = start_shell();
    std::size_t mark = tool->output().size();
    tool->write("query-versi\t");
    ASSERT_TRUE(tool->wait_for_output("on", 20s, mark)) << tool->output();
    tool->write("\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"qemu\": {", mark)) << tool->output();

    mark = tool->output().size();
    tool->write("qom-get pa\t");
    ASSERT_TRUE(tool->wait_for_output("th=", 20s, mark)) << tool->output();
    tool->write("/machine prop\t");
    ASSERT_TRUE(tool->wait_for_output("erty=", 20s, mark)) << tool->output();
    tool->write("type\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

// libedit redraws with cursor movements, so the tests wait for what TAB inserted and then let
// Enter prove the whole line.
TEST_F(Terminal, TabAfterEqualsCompletesValuesNotNames)
{
    auto tool = start_shell();
    std::size_t mark = tool->output().size();
    // QOM paths from qom-list, a property of that path, then Enter.
    tool->write("qom-get path=\t");
    ASSERT_TRUE(tool->wait_for_output("/", 20s, mark)) << tool->output();
    mark = tool->output().size();
    tool->write("ma\t");
    ASSERT_TRUE(tool->wait_for_output("chine/", 20s, mark)) << tool->output();
    mark = tool->output().size();
    tool->write(" property=ty\t");
    ASSERT_TRUE(tool->wait_for_output("pe ", 20s, mark)) << tool->output();
    tool->write("\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();
    EXPECT_EQ(tool->output().find("path=path="), std::string::npos) << tool->output();

    // An enum's values.
    mark = tool->output().size();
    tool->write("query-cpu-model-expansion model={'name':'max'} type=fu\t");
    ASSERT_TRUE(tool->wait_for_output("ll ", 20s, mark)) << tool->output();
    tool->write("\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"name\": \"max\"", mark)) << tool->output();

    // transaction( offers the action types.
    mark = tool->output().size();
    tool->write("transaction( abo\t");
    ASSERT_TRUE(tool->wait_for_output("rt ", 20s, mark)) << tool->output();
    tool->write(")\r");
    EXPECT_TRUE(wait_for_reply(*tool, "Transaction aborted", mark)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, TabCompletesHmpCommandsInHmpMode)
{
    ToolProcess tool({tool_path("QMP_SHELL"), "-H", "--launch"},
        ToolProcess::Options{
            true, {{"HOME", home_.path()}, {"TERM", "xterm"}, {"QMP_SOCKET", ""}}});
    ASSERT_TRUE(tool.wait_for_output("(HMP) ")) << tool.output();
    const std::size_t mark = tool.output().size();
    tool.write("info versi\t");
    ASSERT_TRUE(tool.wait_for_output("on ", 20s, mark)) << tool.output();
    tool.write("\r");
    EXPECT_TRUE(tool.wait_for_output("7.2", 20s, mark)) << tool.output();
    // Ctrl-D at the next prompt: typed before it, the line editor's terminal set-up may drop it.
    EXPECT_TRUE(tool.wait_for_output("(HMP) ", 20s, tool.output().find("7.2", mark)))
        << tool.output();
    tool.write("\x04");
    EXPECT_EQ(tool.wait_exit(), 0);
}

TEST_F(Terminal, EventWhileTypingIsPrintedAboveTheEditedLine)
{
    auto tool = start_shell();
    qmp::ClientOptions options;
    options.retry_connect = true;
    qmp::Client other(options);
    other.connect(monitor_socket());

    std::size_t mark = tool->output().size();
    tool->write("qom-get path=/machine prop");
    ASSERT_TRUE(tool->wait_for_output("prop", 20s, mark));
    mark = tool->output().size();
    other.execute("stop");
    // One line per event on a terminal.
    ASSERT_TRUE(tool->wait_for_output("EVENT STOP\r\n", 20s, mark)) << tool->output();
    // The half-typed line is drawn again after the event, and typing goes on from it.
    const std::size_t event = tool->output().find("EVENT STOP", mark);
    ASSERT_TRUE(tool->wait_for_output("(QEMU) qom-get path=/machine prop", 20s, event))
        << tool->output();
    tool->write("erty=type\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", event)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

// Connects a second client to the shell's QEMU (for events the test causes).
std::unique_ptr<qmp::Client> connect_other(const std::string& socket)
{
    qmp::ClientOptions options;
    options.retry_connect = true;
    auto other = std::make_unique<qmp::Client>(options);
    other->connect(socket);
    return other;
}

TEST_F(Terminal, PrettyShowsEventsAsWholeJsonInQmpOrder)
{
    auto tool = start_shell({"-p"});
    auto other = connect_other(monitor_socket());
    const std::size_t mark = tool->output().size();
    other->execute("stop");
    EXPECT_TRUE(
        tool->wait_for_output("{\r\n    \"event\": \"STOP\",\r\n    \"timestamp\"", 20s, mark))
        << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, EventsOptionPrintsOneLinePerEventOnATerminal)
{
    ToolProcess tool(
        {tool_path("QMP_SHELL"), "-v", "--events", "--", "-machine", "none", "-nodefaults",
            "-display", "none", "-qmp", "unix:" + monitor_socket() + ",server=on,wait=off"},
        ToolProcess::Options{
            true, {{"HOME", home_.path()}, {"TERM", "xterm"}, {"QMP_SOCKET", ""}}});
    // Connected and listening once it says so.
    ASSERT_TRUE(tool.wait_for_output("printing events until interrupted")) << tool.output();
    auto other = connect_other(monitor_socket());
    other->execute("stop");
    EXPECT_TRUE(tool.wait_for_output("EVENT STOP\r\n")) << tool.output();
    tool.signal(SIGINT);
    EXPECT_EQ(tool.wait_exit(), 0);
}

TEST_F(Terminal, NoEventsHidesEvents)
{
    auto tool = start_shell({"--no-events"});
    auto other = connect_other(monitor_socket());
    other->execute("stop");
    const std::size_t mark = tool->output().size();
    tool->write("query-status\r");
    ASSERT_TRUE(wait_for_reply(*tool, "\"paused\"", mark)) << tool->output();
    EXPECT_EQ(tool->output().find("STOP"), std::string::npos) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, CtrlCAtThePromptCancelsTheLine)
{
    auto tool = start_shell();
    const auto children = children_of(tool->pid());
    ASSERT_EQ(children.size(), 1u);
    std::size_t mark = tool->output().size();
    tool->write("query-na");
    ASSERT_TRUE(tool->wait_for_output("query-na", 20s, mark));
    mark = tool->output().size();
    tool->write("\x03"); // Ctrl-C: the terminal sends SIGINT to the foreground group
    ASSERT_TRUE(tool->wait_for_output("^C\r\n(QEMU) ", 20s, mark)) << tool->output();
    // The shell is still there, on an empty line: what is typed now is a new command.
    mark = tool->output().size();
    tool->write("query-status\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"running\"", mark)) << tool->output();
    EXPECT_EQ(tool->output().find("query-naquery-status"), std::string::npos) << tool->output();
    tool->write("\x04"); // Ctrl-D leaves
    EXPECT_EQ(tool->wait_exit(), 0);
    EXPECT_FALSE(process_exists(children[0]));
}

TEST_F(Terminal, LostConnectionLeavesThePromptLineCleanly)
{
    auto tool = start_shell();
    const auto children = children_of(tool->pid());
    ASSERT_EQ(children.size(), 1u);
    const std::size_t mark = tool->output().size();
    ::kill(children[0], SIGKILL);
    EXPECT_EQ(tool->wait_exit(), 3);
    const std::string after = tool->output().substr(mark);
    // The message starts a line of its own, and no prompt is drawn after it.
    const auto message = after.find("qmp-shell: ");
    ASSERT_NE(message, std::string::npos) << after;
    ASSERT_GT(message, 0u);
    EXPECT_EQ(after[message - 1], '\n') << after;
    EXPECT_EQ(after.find("(QEMU)", message), std::string::npos) << after;
}

TEST_F(Terminal, CtrlCDuringACommandAbandonsItAndTheShellStays)
{
    auto tool = start_shell();
    const auto children = children_of(tool->pid());
    ASSERT_EQ(children.size(), 1u);
    ::kill(children[0], SIGSTOP); // QEMU stops answering: the next command waits
    std::size_t mark = tool->output().size();
    tool->write("query-status\r");
    ASSERT_TRUE(tool->wait_for_output("query-status\r\n", 20s, mark)) << tool->output();
    tool->write("\x03");
    EXPECT_TRUE(tool->wait_for_output(
        "qmp-shell: interrupted; QEMU may still carry out query-status", 20s, mark))
        << tool->output();
    ::kill(children[0], SIGCONT);
    mark = tool->output().size();
    tool->write("qom-get path=/machine property=type\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
    EXPECT_FALSE(process_exists(children[0]));
}

TEST_F(Terminal, SigtermLeavesNoQemuBehind)
{
    auto tool = start_shell();
    const auto children = children_of(tool->pid());
    ASSERT_EQ(children.size(), 1u);
    tool->signal(SIGTERM);
    EXPECT_EQ(tool->wait_exit(), 143);
    EXPECT_FALSE(process_exists(children[0]));
}

TEST_F(Terminal, EventOverAWrappedLineLeavesNoStaleRow)
{
    auto tool = start_shell();
    auto other = connect_other(monitor_socket());
    // 7 columns of prompt and 150 typed: two rows of the test's 120-column terminal. The spaces
    // are in the middle, so that the echo of the line's last word means the whole line is there.
    const std::string typed = "qom-get" + std::string(115, ' ') + "path=/machine property=type";
    std::size_t mark = tool->output().size();
    tool->write(typed);
    ASSERT_TRUE(tool->wait_for_output("type", 20s, mark));
    mark = tool->output().size();
    other->execute("stop");
    ASSERT_TRUE(tool->wait_for_output("EVENT STOP", 20s, mark)) << tool->output();
    // Up to the line's first row, then erase to the end of the screen: both rows go.
    const std::string erased =
        tool->output().substr(mark, tool->output().find("EVENT STOP", mark) - mark);
    EXPECT_NE(erased.find("\x1b[1A\r\x1b[J"), std::string::npos) << erased;
    tool->write("\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\"return\": \"none-machine\"", mark)) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, TypedCommentIsSkipped)
{
    auto tool = start_shell();
    const std::size_t mark = tool->output().size();
    tool->write("# a note to self\r");
    tool->write("query-status\r");
    ASSERT_TRUE(wait_for_reply(*tool, "\"running\"", mark)) << tool->output();
    EXPECT_EQ(tool->output().find("expected", mark), std::string::npos) << tool->output();
    EXPECT_EQ(tool->output().find("not been found", mark), std::string::npos) << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}

TEST_F(Terminal, LongHelpGoesThroughThePager)
{
    ToolProcess tool({tool_path("QMP_SHELL"), "--launch"},
        ToolProcess::Options{true,
            {{"HOME", home_.path()}, {"TERM", "xterm"}, {"QMP_SOCKET", ""},
                {"PAGER", "sed s/^/PAGED:/"}}});
    ASSERT_TRUE(tool.wait_for_output("(QEMU) ")) << tool.output();
    const std::size_t mark = tool.output().size();
    tool.write("help\r");
    EXPECT_TRUE(tool.wait_for_output("PAGED:Type 'help COMMAND'", 20s, mark)) << tool.output();
    EXPECT_TRUE(tool.wait_for_output("(QEMU) ", 20s, tool.output().find("PAGED:Type", mark)));
    tool.write("\x04");
    EXPECT_EQ(tool.wait_exit(), 0);
}

TEST_F(Terminal, ErrorsAreColouredOnATerminal)
{
    auto tool = start_shell();
    const std::size_t mark = tool->output().size();
    tool->write("query-nope\r");
    EXPECT_TRUE(wait_for_reply(*tool, "\033[1;31mCommandNotFound\033[0m: ", mark))
        << tool->output();
    tool->write("\x04");
    EXPECT_EQ(tool->wait_exit(), 0);
}
