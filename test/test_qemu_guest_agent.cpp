// SPDX-License-Identifier: MIT
// qmp::GuestAgent against the real qemu-ga from Debian's qemu-guest-agent package, run on the
// host as `qemu-ga --method=unix-listen` in a private temporary directory. Only harmless
// commands: nothing that shuts down, suspends, runs programs or writes files. A missing qemu-ga
// fails the tests (never skips them). Public API only; every wait is bounded.
#include <qmp/qmp.hpp>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <iostream>
#include <spawn.h>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "qemu_helpers.hpp"
#include "unix_socket.hpp"

extern char** environ;

using namespace std::chrono_literals;
using qmp::json;
using qmp_test::ms_since;
using qmp_test::SteadyClock;
using qmp_test::TemporaryDirectory;

namespace {

// $QMP_QEMU_GA, or qemu-ga where Debian installs it, or on PATH.
std::string find_qemu_ga()
{
    if (const char* given = std::getenv("QMP_QEMU_GA"); given && *given)
        return given;
    for (const char* path : {"/usr/bin/qemu-ga", "/usr/sbin/qemu-ga"})
        if (::access(path, X_OK) == 0)
            return path;
    return qmp_test::find_in_path("qemu-ga");
}

// One qemu-ga listening on DIR/qga.sock, its state and log in DIR. The destructor kills that
// process (and no other) and reaps it.
class QemuGuestAgent {
public:
    QemuGuestAgent()
        : socket_(directory_.path() + "/qga.sock"), log_(directory_.path() + "/qga.log")
    {
    }

    ~QemuGuestAgent() { stop(); }
    QemuGuestAgent(const QemuGuestAgent&) = delete;
    QemuGuestAgent& operator=(const QemuGuestAgent&) = delete;

    // Starts qemu-ga and waits (bounded) until its socket exists. \returns an error text, empty
    // on success.
    std::string start()
    {
        const std::string program = find_qemu_ga();
        if (program.empty())
            return "qemu-ga not found (install Debian's qemu-guest-agent package or set "
                   "QMP_QEMU_GA)";
        std::vector<std::string> args = {program, "--method=unix-listen", "--path=" + socket_,
            "--statedir=" + directory_.path()};
        std::vector<char*> argv;
        for (auto& arg : args)
            argv.push_back(arg.data());
        argv.push_back(nullptr);

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(
            &actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
        const int rc =
            ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = -1;
            return "cannot start " + program + ": " + std::strerror(rc);
        }
        const auto deadline = SteadyClock::now() + 10s;
        while (!std::filesystem::exists(socket_)) {
            int status;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return "qemu-ga exited at once (status " + std::to_string(status) + "): " + log();
            }
            if (SteadyClock::now() >= deadline)
                return "qemu-ga did not create " + socket_ + " within 10 s: " + log();
            std::this_thread::sleep_for(5ms); // the kernel has no notification for this
        }
        return {};
    }

    void stop()
    {
        qmp_test::terminate_child(pid_);
        pid_ = -1;
    }

    std::string address() const { return "unix:" + socket_; }
    const std::string& socket_path() const { return socket_; }
    pid_t pid() const { return pid_; }

    std::string log() const { return qmp_test::file_contents(log_); }

private:
    TemporaryDirectory directory_;
    std::string socket_;
    std::string log_;
    pid_t pid_ = -1;
};

qmp::GuestAgentOptions agent_options()
{
    qmp::GuestAgentOptions options;
    options.connect_timeout = 10s;
    options.command_timeout = 10s;
    return options;
}

// A plain unix socket to \p path, or -1.
int raw_connect(const std::string& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un address = qmp::test::unix_address(path);
    if (fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
        return fd;
    if (fd >= 0)
        ::close(fd);
    return -1;
}

class QemuGuestAgentTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        const std::string error = qga_.start();
        ASSERT_EQ(error, "") << "qemu-ga is needed by these tests and a missing one is a failure";
    }

    void TearDown() override
    {
        if (HasFailure())
            std::cerr << "qemu-ga log:\n" << qga_.log() << "\n";
    }

    QemuGuestAgent qga_;
};

bool has_enabled_command(const json& info, const std::string& name)
{
    for (const auto& command : info.at("supported_commands"))
        if (command.value("name", "") == name)
            return command.value("enabled", false);
    return false;
}

} // namespace

TEST_F(QemuGuestAgentTest, GuestInfoAndHarmlessCommands)
{
    qmp::GuestAgent agent(agent_options());
    agent.connect(qga_.address());
    EXPECT_TRUE(agent.is_connected());
    EXPECT_EQ(agent.address(), qga_.address());

    const json info = agent.execute("guest-info");
    ASSERT_TRUE(info.contains("version")) << info.dump();
    EXPECT_EQ(info["version"].get<std::string>().rfind("7.2.", 0), 0u) << info["version"];
    ASSERT_TRUE(info["supported_commands"].is_array());
    EXPECT_GT(info["supported_commands"].size(), 10u);
    EXPECT_TRUE(has_enabled_command(info, "guest-ping"));
    EXPECT_TRUE(has_enabled_command(info, "guest-sync-delimited"));

    EXPECT_EQ(agent.execute("guest-ping"), json::object());

    const json time = agent.execute("guest-get-time");
    ASSERT_TRUE(time.is_number_integer()) << time.dump();
    const auto host_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch())
                             .count();
    EXPECT_LT(std::llabs(time.get<long long>() - host_ns), 60'000'000'000LL)
        << "the agent runs on this host: its clock is ours";

    const json zone = agent.execute("guest-get-timezone");
    ASSERT_TRUE(zone.is_object()) << zone.dump();
    EXPECT_TRUE(zone.contains("offset") && zone["offset"].is_number_integer()) << zone.dump();

    EXPECT_EQ(agent.dropped_replies(), 0u);
}

TEST_F(QemuGuestAgentTest, UnknownCommandIsAnExecuteErrorAndTheAgentStaysUsable)
{
    qmp::GuestAgent agent(agent_options());
    agent.connect(qga_.address());
    try {
        agent.execute("guest-no-such-command");
        ADD_FAILURE() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound") << e.what();
    }
    EXPECT_TRUE(agent.is_connected());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
}

TEST_F(QemuGuestAgentTest, PingAnswers)
{
    qmp::GuestAgent agent(agent_options());
    agent.connect(qga_.address());
    EXPECT_TRUE(agent.ping(5s));
    EXPECT_TRUE(agent.ping(5s));
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
}

TEST_F(QemuGuestAgentTest, DisconnectAndConnectAgain)
{
    qmp::GuestAgent agent(agent_options());
    for (int round = 0; round < 3; ++round) {
        agent.connect(qga_.address());
        EXPECT_EQ(agent.execute("guest-ping"), json::object()) << "round " << round;
        agent.disconnect();
        EXPECT_FALSE(agent.is_connected());
    }
    // Another client object after this one.
    qmp::GuestAgent other(agent_options());
    other.connect(qga_.address());
    EXPECT_EQ(other.execute("guest-info")["version"].get<std::string>().rfind("7.2.", 0), 0u);
}

TEST_F(QemuGuestAgentTest, AClientLeavingGarbageDoesNotDisturbTheNext)
{
    const int fd = raw_connect(qga_.socket_path());
    ASSERT_GE(fd, 0) << std::strerror(errno);
    const std::string junk = "garbage ]] {\"execute\": \"guest-ping\", \"id\": \"junk-1\"}\n"
                             "{\"execute\": \"guest-info\", \"arguments\": {\"x\": [1, \"";
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::close(fd);

    qmp::GuestAgent agent(agent_options());
    agent.connect(qga_.address());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    EXPECT_TRUE(agent.execute("guest-info").contains("version"));
}

TEST_F(QemuGuestAgentTest, ACommandTimingOutIsFollowedByASynchronisation)
{
    qmp::GuestAgent agent(agent_options());
    agent.connect(qga_.address());
    // No time at all: the agent's reply comes late, and must not be taken for the next one's.
    // (On a busy machine the caller may look only after the reply came: then try again.)
    bool timed_out = false;
    for (int i = 0; i < 200 && !timed_out; ++i) {
        try {
            agent.execute("guest-info", json(), 0ms);
        } catch (const qmp::TimeoutError&) {
            timed_out = true;
        }
    }
    ASSERT_TRUE(timed_out) << "qemu-ga answered 200 commands before the caller could look";
    EXPECT_TRUE(agent.is_connected());
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    const json time = agent.execute("guest-get-time");
    EXPECT_TRUE(time.is_number_integer()) << time.dump();
}

TEST_F(QemuGuestAgentTest, StaleSyncRepliesAreCounted)
{
    qmp::GuestAgent agent(agent_options());
    agent.connect(qga_.address());
    // A ping that gives up at once: the agent's answer to it arrives for nobody. (The agent may
    // be quick enough to answer before the caller even looks: then that ping was true.)
    bool gave_up = false;
    for (int i = 0; i < 200 && !gave_up; ++i)
        gave_up = !agent.ping(0ms);
    ASSERT_TRUE(gave_up) << "qemu-ga answered 200 pings before the caller could look";
    const auto start = SteadyClock::now();
    while (agent.dropped_replies() < 1 && ms_since(start) < 5000)
        std::this_thread::sleep_for(5ms); // no notification for "a reply was dropped"
    EXPECT_EQ(agent.dropped_replies(), 1u);
    EXPECT_TRUE(agent.ping(5s));
    EXPECT_EQ(agent.execute("guest-ping"), json::object());
    EXPECT_EQ(agent.dropped_replies(), 1u);
}

TEST_F(QemuGuestAgentTest, NoAgentIsAConnectError)
{
    qga_.stop();
    qmp::GuestAgentOptions options = agent_options();
    options.connect_timeout = 500ms;
    qmp::GuestAgent agent(options);
    EXPECT_THROW(agent.connect(qga_.address()), qmp::ConnectError);
}
