// SPDX-License-Identifier: MIT
// The other ways in, end to end through pipes: qmp-shell and qom --listen with a real QEMU that
// connects to them (server=off,reconnect=1), qmp-shell --fd with a socketpair shared with a real
// QEMU (-chardev socket,fd=M), and qmp-shell --agent with a real qemu-ga started by the test. The
// processes the tests start are stopped by their pid only; every wait is bounded.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <spawn.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>

#include <qmp/json.hpp>

#include "tool_process.hpp"

extern char** environ;

using namespace tools_test;

namespace {

std::string shell()
{
    return tool_path("QMP_SHELL");
}

std::string qom()
{
    return tool_path("QOM");
}

const std::map<std::string, std::string> no_socket = {{"QMP_SOCKET", ""}};

// A program the test starts, its output in a log file; the destructor stops that process (and
// no other) with SIGTERM, then SIGKILL, and reaps it.
class Spawned {
public:
    // \p inherit: a descriptor given to the program as descriptor \p as.
    Spawned(
        const std::vector<std::string>& args, const std::string& log, int inherit = -1, int as = -1)
        : log_(log)
    {
        std::vector<char*> argv;
        for (const auto& arg : args)
            argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(
            &actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        if (inherit >= 0)
            posix_spawn_file_actions_adddup2(&actions, inherit, as); // without FD_CLOEXEC
        // The test runner may block signals; the program must start with the defaults.
        posix_spawnattr_t attributes;
        posix_spawnattr_init(&attributes);
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attributes, &none);
        posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
        const int rc = ::posix_spawnp(&pid_, argv[0], &actions, &attributes, argv.data(), environ);
        posix_spawnattr_destroy(&attributes);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = -1;
            error_ = "cannot start " + args[0] + ": " + std::strerror(rc);
        }
    }
    ~Spawned()
    {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGTERM);
        if (!reap(std::chrono::seconds(5))) {
            ::kill(pid_, SIGKILL);
            reap(std::chrono::seconds(5));
        }
    }
    Spawned(const Spawned&) = delete;
    Spawned& operator=(const Spawned&) = delete;

    const std::string& error() const { return error_; }
    bool running()
    {
        int status;
        if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_)
            pid_ = -1; // reaped: never signal that pid again
        return pid_ > 0;
    }
    std::string log() const
    {
        std::ifstream in(log_);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

private:
    bool reap(std::chrono::milliseconds timeout)
    {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            int status;
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_ || (done < 0 && errno == ECHILD))
                return true;
            if (std::chrono::steady_clock::now() >= deadline)
                return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    pid_t pid_ = -1;
    std::string log_;
    std::string error_;
};

std::vector<std::string> qemu_with_monitor(const std::string& chardev)
{
    return {"qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display", "none", "-chardev",
        chardev, "-mon", "chardev=m,mode=control"};
}

// A QEMU whose monitor connects to the unix socket at \p path (server=off) and retries every
// second until something listens there.
std::unique_ptr<Spawned> qemu_connecting_to(const std::string& path, const std::string& log)
{
    return std::make_unique<Spawned>(
        qemu_with_monitor("socket,id=m,path=" + path + ",server=off,reconnect=1"), log);
}

// $QMP_QEMU_GA, or qemu-ga where Debian installs it, or on PATH (as test_qemu_guest_agent).
std::string find_qemu_ga()
{
    if (const char* given = std::getenv("QMP_QEMU_GA"); given && *given)
        return given;
    for (const char* path : {"/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"})
        if (::access(path, X_OK) == 0)
            return path;
    if (const char* path_env = std::getenv("PATH")) {
        std::stringstream dirs(path_env);
        for (std::string dir; std::getline(dirs, dir, ':');)
            if (!dir.empty() && ::access((dir + "/qemu-ga").c_str(), X_OK) == 0)
                return dir + "/qemu-ga";
    }
    return {};
}

// qemu-ga listening on DIR/qga.sock, its state and log in DIR. A missing qemu-ga fails the
// tests that need it.
class GuestAgentTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        const std::string program = find_qemu_ga();
        ASSERT_NE(program, "") << "qemu-ga not found (Debian's qemu-guest-agent, or QMP_QEMU_GA)";
        qga_ =
            std::make_unique<Spawned>(std::vector<std::string>{program, "--method=unix-listen",
                                          "--path=" + socket(), "--statedir=" + directory_.path()},
                directory_.path() + "/qga.log");
        ASSERT_EQ(qga_->error(), "");
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!std::filesystem::exists(socket())) {
            ASSERT_TRUE(qga_->running()) << "qemu-ga exited: " << qga_->log();
            ASSERT_LT(std::chrono::steady_clock::now(), deadline)
                << "no socket from qemu-ga: " << qga_->log();
            std::this_thread::sleep_for(std::chrono::milliseconds(5)); // no notification for it
        }
    }

    void TearDown() override
    {
        if (HasFailure() && qga_)
            std::cerr << "qemu-ga log:\n" << qga_->log() << "\n";
    }

    std::string socket() const { return directory_.path() + "/qga.sock"; }
    std::string address() const { return "unix:" + socket(); }

    TemporaryDirectory directory_;
    std::unique_ptr<Spawned> qga_;
};

} // namespace

TEST(ToolPeers, HelpListsTheNewOptions)
{
    const Result shell_help = run_tool({shell(), "--help"});
    EXPECT_EQ(shell_help.status, 0);
    for (const char* option : {"--listen ADDRESS", "--fd N", "--agent ADDRESS"})
        EXPECT_NE(shell_help.out.find(option), std::string::npos) << option;
    const Result qom_help = run_tool({qom(), "--help"});
    EXPECT_EQ(qom_help.status, 0);
    for (const char* option : {"--listen ADDRESS", "--fd N"})
        EXPECT_NE(qom_help.out.find(option), std::string::npos) << option;
}

TEST(ToolPeers, OnlyOneWayInIsAccepted)
{
    for (const std::vector<std::string>& arguments : std::vector<std::vector<std::string>>{
             {shell(), "--listen", "unix:/x", "--fd", "3"}, {shell(), "--listen", "unix:/x", "/y"},
             {shell(), "--fd", "3", "--launch"}, {shell(), "--fd", "three"},
             {shell(), "--agent", "unix:/x", "--launch"}, {shell(), "--agent", "unix:/x", "/y"},
             {shell(), "--agent", "unix:/x", "-H"}, {shell(), "--agent", "unix:/x", "--events"},
             {qom(), "--listen", "unix:/x", "--fd", "3", "tree"}}) {
        const Result result = run_tool(arguments);
        EXPECT_EQ(result.status, 2) << arguments[1] << " " << arguments[2] << ": " << result.err;
    }
}

TEST(ToolPeers, ShellListensForQemu)
{
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/monitor.sock";
    ToolProcess tool(
        {shell(), "--listen", "unix:" + path, "-c", "query-status"}, {false, no_socket});
    ASSERT_TRUE(
        tool.wait_for_error("qmp-shell: waiting for QEMU to connect to unix:" + path + "\n"))
        << tool.error_output();
    const auto qemu = qemu_connecting_to(path, directory.path() + "/qemu.log");
    const auto status = tool.wait_exit();
    EXPECT_EQ(status, 0) << tool.error_output() << qemu->log();
    EXPECT_NE(tool.output().find("\"status\":\"running\""), std::string::npos) << tool.output();
}

TEST(ToolPeers, ShellListensForQemuStartedFirst)
{
    // QEMU finds nobody listening, and retries every second (reconnect=1).
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/monitor.sock";
    const auto qemu = qemu_connecting_to(path, directory.path() + "/qemu.log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (qemu->log().find("Unable to connect character device") == std::string::npos) {
        ASSERT_TRUE(qemu->running()) << qemu->log();
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << "QEMU never tried: " << qemu->log();
        std::this_thread::sleep_for(std::chrono::milliseconds(5)); // no notification for a file
    }
    const Result result =
        run_tool({shell(), "--listen", "unix:" + path}, "query-status\nquery-nope\n");
    EXPECT_EQ(result.status, 1) << result.err << qemu->log();
    EXPECT_EQ(result.out.rfind("{\"return\":{\"running\":true", 0), 0u) << result.out;
    EXPECT_NE(result.err.find("CommandNotFound"), std::string::npos) << result.err;
}

TEST(ToolPeers, ListenTimesOutWithStatusThree)
{
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/monitor.sock";
    const Result result =
        run_tool({shell(), "--listen", "unix:" + path, "--timeout", "0.3", "-c", "query-status"});
    EXPECT_EQ(result.status, 3) << result.err;
    EXPECT_NE(result.err.find("waiting for QEMU to connect"), std::string::npos) << result.err;
    EXPECT_FALSE(std::filesystem::exists(path)) << "the socket file is left behind";
}

TEST(ToolPeers, CtrlCEndsTheWaitForQemu)
{
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/monitor.sock";
    ToolProcess tool(
        {shell(), "--listen", "unix:" + path, "-c", "query-status"}, {false, no_socket});
    ASSERT_TRUE(tool.wait_for_error("waiting for QEMU")) << tool.error_output();
    tool.signal(SIGINT);
    EXPECT_EQ(tool.wait_exit(std::chrono::seconds(10)), 130) << tool.error_output();
    EXPECT_FALSE(std::filesystem::exists(path)) << "the socket file is left behind";
}

TEST(ToolPeers, QomListensForQemu)
{
    TemporaryDirectory directory;
    const std::string path = directory.path() + "/monitor.sock";
    ToolProcess tool(
        {qom(), "--listen", "unix:" + path, "get", "/machine.type"}, {false, no_socket});
    ASSERT_TRUE(tool.wait_for_error("qom: waiting for QEMU to connect to unix:" + path))
        << tool.error_output();
    const auto qemu = qemu_connecting_to(path, directory.path() + "/qemu.log");
    EXPECT_EQ(tool.wait_exit(), 0) << tool.error_output() << qemu->log();
    EXPECT_EQ(tool.output(), "none-machine\n");
}

TEST(ToolPeers, ShellUsesAnInheritedSocket)
{
    TemporaryDirectory directory;
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    // QEMU gets pair[1] as descriptor 100 (and nothing else of ours).
    const auto qemu = std::make_unique<Spawned>(
        qemu_with_monitor("socket,id=m,fd=100"), directory.path() + "/qemu.log", pair[1], 100);
    ::close(pair[1]);
    ASSERT_EQ(qemu->error(), "");
    // The tool inherits pair[0]: the only descriptor of ours without FD_CLOEXEC.
    ASSERT_EQ(::fcntl(pair[0], F_SETFD, 0), 0);
    ToolProcess tool({shell(), "--fd", std::to_string(pair[0])}, {false, no_socket});
    ::close(pair[0]);
    tool.write("query-status\nquery-name\n");
    tool.close_stdin();
    EXPECT_EQ(tool.wait_exit(), 0) << tool.error_output() << qemu->log();
    EXPECT_NE(tool.output().find("\"status\":\"running\""), std::string::npos) << tool.output();
    EXPECT_NE(tool.output().find("{\"return\":{}}"), std::string::npos) << tool.output();
}

TEST(ToolPeers, FdThatIsNotASocketExitsThree)
{
    const Result result = run_tool({shell(), "--fd", "0", "-c", "query-status"});
    EXPECT_EQ(result.status, 3) << result.err;
    EXPECT_NE(result.err.find("qmp-shell:"), std::string::npos) << result.err;
}

TEST_F(GuestAgentTest, CommandOptionRunsGuestInfo)
{
    const Result result = run_tool({shell(), "--agent", address(), "-c", "guest-info"});
    EXPECT_EQ(result.status, 0) << result.err;
    const qmp::json reply = qmp::json::parse(result.out);
    EXPECT_TRUE(reply.at("return").at("supported_commands").is_array()) << result.out;
    EXPECT_TRUE(reply.at("return").at("version").is_string()) << result.out;
}

TEST_F(GuestAgentTest, PipedScriptOneReplyPerLine)
{
    const Result result = run_tool({shell(), "--agent", socket(), "-v"},
        "# a comment\nguest-ping\n\n{\"execute\": \"guest-ping\"}\nguest-get-time\nhelp "
        "guest-ping\n");
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out.rfind("{\"return\":{}}\n{\"return\":{}}\n{\"return\":", 0), 0u)
        << result.out;
    EXPECT_NE(result.out.find("guest-ping: enabled\n"), std::string::npos) << result.out;
    // -v: exactly what was sent, "execute" first and the id included; synchronisations too.
    EXPECT_NE(result.err.find("-> {\"execute\":\"guest-get-time\",\"id\":\""), std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("-> {\"arguments\":{\"id\":"), std::string::npos) << result.err;
}

TEST_F(GuestAgentTest, FailuresGiveQmpModesExitStatuses)
{
    const Result agent = run_tool({shell(), "--agent", address(), "-c", "guest-no-such-command"});
    const Result qmp = run_tool({shell(), "--launch", "-c", "query-no-such-command"});
    EXPECT_EQ(agent.status, 1) << agent.err;
    EXPECT_EQ(agent.status, qmp.status) << qmp.err;
    EXPECT_NE(agent.err.find("CommandNotFound"), std::string::npos) << agent.err;

    // A failed line or a syntax error does not stop the script, and makes its status 1.
    const Result script =
        run_tool({shell(), "--agent", address()}, "guest-nope\nguest-ping x\nguest-ping\n");
    EXPECT_EQ(script.status, 1) << script.err;
    EXPECT_EQ(script.out, "{\"return\":{}}\n");
    EXPECT_NE(script.err.find("^ expected key=value"), std::string::npos) << script.err;

    // No agent there: as for QMP, status 3.
    const Result missing =
        run_tool({shell(), "--agent", directory_.path() + "/none", "-c", "guest-ping"});
    EXPECT_EQ(missing.status, 3) << missing.err;
}

TEST_F(GuestAgentTest, InteractiveTabCompletesCancelsWithCtrlCAndKeepsHistory)
{
    TemporaryDirectory home;
    ToolProcess tool({shell(), "--agent", address()},
        ToolProcess::Options{true,
            {{"HOME", home.path()}, {"TERM", "xterm"}, {"QMP_SOCKET", ""}, {"NO_COLOR", ""}}});
    ASSERT_TRUE(tool.wait_for_output("(QGA) ")) << tool.output();
    EXPECT_NE(tool.output().find("connected to the QEMU guest agent"), std::string::npos)
        << tool.output();
    std::size_t mark = tool.output().size();
    tool.write("guest-pi\t");
    ASSERT_TRUE(tool.wait_for_output("ng", 20s, mark)) << tool.output();
    tool.write("\r");
    ASSERT_TRUE(tool.wait_for_output("\"return\": {}", 20s, mark)) << tool.output();
    ASSERT_TRUE(tool.wait_for_output("(QGA) ", 20s, tool.output().find("\"return\": {}", mark)))
        << tool.output();
    // Ctrl-C at the prompt cancels the line, as in QMP mode; Ctrl-D leaves.
    mark = tool.output().size();
    tool.write("guest-info");
    ASSERT_TRUE(tool.wait_for_output("guest-info", 20s, mark)) << tool.output();
    mark = tool.output().size();
    tool.write("\x03"); // the terminal sends SIGINT to the foreground group
    ASSERT_TRUE(tool.wait_for_output("^C\r\n(QGA) ", 20s, mark)) << tool.output();
    tool.write("\x04");
    EXPECT_EQ(tool.wait_exit(), 0) << tool.output();
    EXPECT_EQ(tool.output().find("\"version\""), std::string::npos) << "the line ran";
    std::ifstream file(home.path() + "/.qmp-shell-agent_history");
    const std::string saved((std::istreambuf_iterator<char>(file)), {});
    EXPECT_NE(saved.find("guest-ping"), std::string::npos) << saved;
}
