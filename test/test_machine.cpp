// SPDX-License-Identifier: MIT
// qmp::Machine against real QEMU (qemu-system-x86_64 and qemu-storage-daemon from Debian's
// qemu-system-x86 and qemu-system-common). A missing QEMU makes these tests fail, not skip: the
// integration suite is only built when it was asked for.

#include <qmp/qmp.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Points TMPDIR at a fresh directory for the duration of a test, so a test can check that a
// Machine left nothing behind. Tests run one at a time, and no other thread reads the
// environment, so setenv() is safe here.
class ScopedTmpdir {
public:
    explicit ScopedTmpdir(const std::string& name_suffix = "")
    {
        std::string pattern = "/tmp/qmp-test-XXXXXX";
        if (!::mkdtemp(pattern.data()))
            throw std::runtime_error("mkdtemp failed");
        root_ = pattern;
        path_ = root_;
        if (!name_suffix.empty()) {
            path_ = root_ / name_suffix;
            fs::create_directories(path_);
        }
        if (const char* previous = std::getenv("TMPDIR"))
            previous_ = previous;
        ::setenv("TMPDIR", path_.c_str(), 1);
    }
    ~ScopedTmpdir()
    {
        if (previous_)
            ::setenv("TMPDIR", previous_->c_str(), 1);
        else
            ::unsetenv("TMPDIR");
        std::error_code ignored;
        fs::remove_all(root_, ignored);
    }
    ScopedTmpdir(const ScopedTmpdir&) = delete;
    ScopedTmpdir& operator=(const ScopedTmpdir&) = delete;

    const fs::path& path() const { return path_; }
    bool is_empty() const { return fs::is_empty(path_); }

private:
    fs::path root_;
    fs::path path_;
    std::optional<std::string> previous_;
};

// Runs start() expecting it to fail; returns the ConnectError's message.
std::string start_failure_message(qmp::Machine& machine)
{
    try {
        machine.start();
    } catch (const qmp::ConnectError& e) {
        return e.what();
    }
    ADD_FAILURE() << "start() did not throw ConnectError";
    return "";
}

bool process_exists(pid_t pid)
{
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

std::size_t open_descriptor_count()
{
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd"))
        ++count;
    return count;
}

TEST(Machine, StartConnectsToQemu7)
{
    qmp::Machine machine;
    qmp::Client& client = machine.start();

    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.greeting().version.major, 7);
    const qmp::json status = client.execute("query-status");
    ASSERT_TRUE(status.is_object());
    EXPECT_TRUE(status.contains("status"));
    EXPECT_EQ(&machine.client(), &client);
}

TEST(Machine, StorageDaemonAnswersQueryVersion)
{
    qmp::Machine machine(qmp::MachineOptions::storage_daemon());
    const qmp::json version = machine.start().execute("query-version");

    EXPECT_EQ(version["qemu"]["major"], 7);
    const int status = machine.shutdown();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Machine, SocketLivesInAPrivateDirectory)
{
    qmp::Machine machine;
    machine.start();

    EXPECT_EQ(machine.socket_path(), machine.directory() + "/qmp.sock");
    struct stat info { };
    ASSERT_EQ(::stat(machine.directory().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    EXPECT_GT(machine.pid(), 0);
    EXPECT_TRUE(machine.running());
}

TEST(Machine, BadArgumentThrowsConnectErrorWithQemuStderr)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.args = {"-nosuchoption"};
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    // "invalid option" is QEMU's stderr; the option name alone would also match the command line.
    EXPECT_THAT(message, HasSubstr("invalid option"));
    EXPECT_THAT(message, HasSubstr("nosuchoption"));
    EXPECT_THAT(message, HasSubstr("exited with status 1"));
    EXPECT_TRUE(tmpdir.is_empty());
    EXPECT_EQ(machine.pid(), 0);
}

// QEMU creates its monitor socket before it creates devices; when a device fails, the socket
// file stays behind. start() must report the exit, not retry the dead socket until the timeout.
TEST(Machine, ExitAfterCreatingTheSocketIsReportedAsAnExit)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.args.insert(options.args.end(), {"-device", "nosuchdevice"});
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("exited with status 1"));
    EXPECT_THAT(message, HasSubstr("'nosuchdevice' is not a valid device model name"));
    EXPECT_TRUE(tmpdir.is_empty());
}

// The same, made independent of timing: a stand-in for QEMU links a socket nobody listens on
// (a dead QEMU's leftover) to the monitor path, then exits a moment later. start() must keep
// checking the process while connections are refused, not retry them until start_timeout.
TEST(Machine, ExitWhileTheSocketRefusesConnectionsIsReportedAsAnExit)
{
    ScopedTmpdir tmpdir;
    const std::string stale = tmpdir.path() / "stale.sock";
    {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        stale.copy(address.sun_path, sizeof address.sun_path - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
        ::close(fd); // the file stays; connecting to it is refused
    }
    qmp::MachineOptions options;
    options.binary = "/bin/sh";
    // $0 is the stale socket, $2 the "socket,id=qmp0,path=...,server=on,wait=off" argument.
    options.args = {"-c",
        "sock=${2#*path=}; sock=${sock%%,server=on*}; ln -s \"$0\" \"$sock\"; "
        "sleep 0.3; exit 3",
        stale};
    options.start_timeout = 60s;
    qmp::Machine machine(options);

    const auto started = std::chrono::steady_clock::now();
    const std::string message = start_failure_message(machine);
    const auto waited = std::chrono::steady_clock::now() - started;

    EXPECT_THAT(message, HasSubstr("exited with status 3"));
    EXPECT_LT(waited, options.start_timeout / 2) << "start() retried a dead socket";
}

TEST(Machine, NoMonitorSocketWithinStartTimeoutIsReported)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.binary = "/bin/sh";
    options.args = {"-c", "exec sleep 600"}; // runs, but never creates the socket
    options.start_timeout = 200ms;
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("did not create its monitor socket within 200 ms"));
    EXPECT_TRUE(tmpdir.is_empty());
}

// A process that exits leaves nothing behind in its process group: here a shell that starts a
// background child holding a FIFO open, then fails. The FIFO reports hang-up once every writer
// is gone.
TEST(Machine, WhatTheProcessLeftInItsGroupIsKilled)
{
    ScopedTmpdir tmpdir;
    const std::string fifo = tmpdir.path() / "held-open";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(reader, 0);
    qmp::MachineOptions options;
    options.binary = "/bin/sh";
    options.args = {"-c", "exec 3>\"$0\"; sleep 600 & exit 1", fifo};
    qmp::Machine machine(options);

    EXPECT_THAT(start_failure_message(machine), HasSubstr("exited with status 1"));

    pollfd hangup{reader, POLLIN, 0};
    EXPECT_EQ(::poll(&hangup, 1, 10000), 1);
    EXPECT_TRUE(hangup.revents & POLLHUP) << "the background sleep still holds the FIFO";
    ::close(reader);
}

TEST(Machine, QemuInheritsNoDescriptorOfTheProgram)
{
    ScopedTmpdir tmpdir;
    const std::string marker = tmpdir.path() / "marker";
    const int inheritable = ::open(marker.c_str(), O_WRONLY | O_CREAT, 0600); // no O_CLOEXEC
    ASSERT_GE(inheritable, 0);
    qmp::Machine machine;
    machine.start();

    for (const auto& entry :
        fs::directory_iterator("/proc/" + std::to_string(machine.pid()) + "/fd")) {
        std::error_code ignored;
        EXPECT_NE(fs::read_symlink(entry.path(), ignored), marker) << entry.path();
    }
    ::close(inheritable);
}

TEST(Machine, LeaksNoDescriptors)
{
    const std::size_t before = open_descriptor_count();
    {
        qmp::Machine machine;
        machine.start();
        machine.shutdown();
    }
    {
        qmp::MachineOptions options;
        options.args = {"-nosuchoption"};
        qmp::Machine machine(options);
        start_failure_message(machine);
    }
    EXPECT_EQ(open_descriptor_count(), before);
}

TEST(Machine, MissingBinaryIsReportedWithPath)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.binary = "qemu-system-nosucharch";
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("cannot find 'qemu-system-nosucharch' in PATH"));
    EXPECT_TRUE(tmpdir.is_empty());
}

TEST(Machine, MissingBinaryNamesItsDebianPackage)
{
    // An empty PATH: even the default binary is not found.
    const std::string saved_path = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", "/nonexistent", 1);
    qmp::Machine machine;
    const std::string message = start_failure_message(machine);
    ::setenv("PATH", saved_path.c_str(), 1);

    EXPECT_THAT(message,
        HasSubstr("cannot find 'qemu-system-x86_64' in PATH; install Debian's "
                  "qemu-system-x86"));
}

TEST(Machine, UnexecutableBinaryReportsTheExecError)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.binary = "/nonexistent/qemu-system-x86_64";
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("cannot execute '/nonexistent/qemu-system-x86_64'"));
    EXPECT_THAT(message, HasSubstr("No such file or directory"));
    EXPECT_TRUE(tmpdir.is_empty());
}

TEST(Machine, SocketPathTooLongForSunPathIsRefused)
{
    ScopedTmpdir tmpdir(std::string(100, 'd'));
    qmp::Machine machine;

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("too long for a unix socket"));
    EXPECT_TRUE(tmpdir.is_empty());
}

TEST(Machine, CommaInDirectoryIsEscapedForQemu)
{
    ScopedTmpdir tmpdir("with,comma");
    qmp::Machine machine;

    machine.start();

    EXPECT_THAT(machine.socket_path(), HasSubstr("with,comma/"));
    EXPECT_TRUE(machine.client().execute("query-status").contains("status"));
}

TEST(Machine, ShutdownReturnsExitStatusAndRemovesDirectory)
{
    qmp::Machine machine;
    machine.start();
    const std::string directory = machine.directory();

    const int status = machine.shutdown();

    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_FALSE(fs::exists(directory));
    EXPECT_EQ(machine.pid(), 0);
    EXPECT_FALSE(machine.running());
    EXPECT_FALSE(machine.client().is_connected());
}

TEST(Machine, ShutdownRemovesFilesTestsPutInTheDirectory)
{
    qmp::Machine machine;
    machine.start();
    const std::string directory = machine.directory();
    fs::create_directories(directory + "/sub/dir");
    std::ofstream(directory + "/sub/dir/file") << "left by a test";

    machine.shutdown();

    EXPECT_FALSE(fs::exists(directory));
}

// Blocks QEMU's main loop by making it open a FIFO nobody writes to (QMP-NOTES.md): every later
// in-band command, `quit` included, waits behind it.
void block_main_loop(qmp::Client& client, const std::string& fifo)
{
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_THROW(
        client.execute("object-add", {{"qom-type", "secret"}, {"id", "s0"}, {"file", fifo}}, 200ms),
        qmp::TimeoutError);
}

TEST(Machine, ShutdownFallsBackToSigtermWhenQuitIsNotAnswered)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.shutdown_timeout = 200ms;
    qmp::Machine machine(options);
    block_main_loop(machine.start(), tmpdir.path() / "secret");

    const int status = machine.shutdown();

    // SIGTERM interrupts the blocked open(); QEMU then shuts down cleanly.
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_THAT(machine.stderr_output(), HasSubstr("terminating on signal 15"));
}

TEST(Machine, ShutdownEscalatesToSigkillWhenQemuIsStopped)
{
    qmp::MachineOptions options;
    options.shutdown_timeout = 200ms;
    qmp::Machine machine(options);
    machine.start();
    machine.kill(SIGSTOP); // answers nothing, handles no SIGTERM

    const int status = machine.shutdown();

    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(Machine, DestructorKillsAStoppedQemu)
{
    pid_t pid = 0;
    {
        qmp::MachineOptions options;
        options.shutdown_timeout = 200ms;
        qmp::Machine machine(options);
        machine.start();
        machine.kill(SIGSTOP);
        pid = machine.pid();
    }
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1);
    EXPECT_EQ(errno, ESRCH);
}

TEST(Machine, ShutdownWhenNeverStartedReturnsMinusOne)
{
    qmp::Machine machine;
    EXPECT_EQ(machine.shutdown(), -1);
}

TEST(Machine, DestructorReapsAndRemovesDirectory)
{
    pid_t pid = 0;
    std::string directory;
    {
        qmp::Machine machine;
        machine.start();
        pid = machine.pid();
        directory = machine.directory();
        ASSERT_GT(pid, 0);
        ASSERT_TRUE(process_exists(pid));
    }
    // Reaped: not even a zombie is left.
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_FALSE(fs::exists(directory));
}

TEST(Machine, KillThenWaitExitReaps)
{
    qmp::Machine machine;
    machine.start();

    machine.kill(SIGKILL);

    EXPECT_TRUE(machine.wait_exit(10s));
    EXPECT_FALSE(machine.running());
    EXPECT_EQ(machine.pid(), 0);
    // Already reaped: nothing left to shut down, but the directory still goes.
    const std::string directory = machine.directory();
    EXPECT_EQ(machine.shutdown(), -1);
    EXPECT_FALSE(fs::exists(directory));
}

TEST(Machine, WaitExitTimesOutWhileRunning)
{
    qmp::Machine machine;
    machine.start();

    EXPECT_FALSE(machine.wait_exit(0ms));
    EXPECT_TRUE(machine.running());
}

TEST(Machine, KillAfterReapIsHarmless)
{
    qmp::Machine machine;
    machine.start();
    machine.kill(SIGKILL);
    ASSERT_TRUE(machine.wait_exit(10s));

    EXPECT_NO_THROW(machine.kill(SIGKILL));
}

TEST(Machine, ClientBeforeStartIsUsageError)
{
    qmp::Machine machine;
    EXPECT_THROW(machine.client(), qmp::UsageError);
}

TEST(Machine, StartTwiceIsUsageError)
{
    qmp::Machine machine;
    machine.start();
    EXPECT_THROW(machine.start(), qmp::UsageError);
}

TEST(Machine, StderrOutputHoldsWhatQemuWrote)
{
    qmp::Machine machine;
    qmp::Client& client = machine.start();
    // Debian's QEMU traces to stderr; the trace line is written before the command's reply.
    client.execute(
        "trace-event-set-state", {{"name", "monitor_qmp_cmd_in_band"}, {"enable", true}});
    client.execute("query-status");

    EXPECT_THAT(machine.stderr_output(), HasSubstr("monitor_qmp_cmd_in_band"));
    machine.shutdown();
    EXPECT_THAT(machine.stderr_output(), HasSubstr("monitor_qmp_cmd_in_band"))
        << "still readable after the directory is gone";
}

// PR_SET_PDEATHSIG fires when the thread that started QEMU exits.
TEST(Machine, KillWithParentKillsQemuWhenTheStartingThreadExits)
{
    std::unique_ptr<qmp::Machine> machine;
    std::thread starter([&machine] {
        machine = std::make_unique<qmp::Machine>();
        machine->start();
    });
    starter.join();
    ASSERT_GT(machine->pid(), 0);

    EXPECT_TRUE(machine->wait_exit(10s));
}

} // namespace
