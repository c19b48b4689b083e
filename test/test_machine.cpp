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
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unix_socket.hpp"

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

using Monitor = qmp::MachineOptions::Monitor;
constexpr Monitor both_monitors[] = {Monitor::socketpair, Monitor::socket_path};

const char* name_of(Monitor monitor)
{
    return monitor == Monitor::socketpair ? "socketpair" : "socket_path";
}

qmp::MachineOptions path_options()
{
    qmp::MachineOptions options;
    options.monitor = Monitor::socket_path;
    return options;
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
    EXPECT_EQ(client.address().rfind("fd:", 0), 0u) << client.address();
    EXPECT_EQ(client.greeting().version.major, 7);
    const qmp::json status = client.execute("query-status");
    ASSERT_TRUE(status.is_object());
    EXPECT_TRUE(status.contains("status"));
    EXPECT_EQ(&machine.client(), &client);
}

TEST(Machine, StorageDaemonAnswersQueryVersion)
{
    qmp::Machine machine(qmp::MachineOptions::storage_daemon());
    qmp::Client& client = machine.start();
    EXPECT_EQ(client.address().rfind("fd:", 0), 0u) << client.address();
    const qmp::json version = client.execute("query-version");

    EXPECT_EQ(version["qemu"]["major"], 7);
    const int status = machine.shutdown();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Machine, StorageDaemonWithASocketPath)
{
    qmp::MachineOptions options = qmp::MachineOptions::storage_daemon();
    options.monitor = Monitor::socket_path;
    qmp::Machine machine(options);
    qmp::Client& client = machine.start();

    EXPECT_EQ(client.address(), "unix:" + machine.socket_path());
    EXPECT_EQ(client.execute("query-version")["qemu"]["major"], 7);
}

// The default: a socket pair, no socket file, QEMU's end passed as fd=N and inherited.
TEST(Machine, DefaultMonitorIsASocketPairWithoutSocketFile)
{
    qmp::Machine machine;
    qmp::Client& client = machine.start();

    EXPECT_EQ(client.address().rfind("fd:", 0), 0u) << client.address();
    EXPECT_EQ(machine.socket_path(), "");
    for (const auto& entry : fs::directory_iterator(machine.directory()))
        EXPECT_FALSE(entry.is_socket()) << entry.path();
    std::ifstream cmdline("/proc/" + std::to_string(machine.pid()) + "/cmdline");
    std::string arguments((std::istreambuf_iterator<char>(cmdline)), {});
    const auto at = arguments.find("socket,id=qmp0,fd=");
    ASSERT_NE(at, std::string::npos);
    const std::string number = arguments.substr(at + 18, arguments.find('\0', at) - at - 18);
    std::error_code error;
    const auto target =
        fs::read_symlink("/proc/" + std::to_string(machine.pid()) + "/fd/" + number, error);
    EXPECT_FALSE(error) << "QEMU does not have descriptor " << number;
    EXPECT_EQ(target.string().rfind("socket:", 0), 0u) << target;

    EXPECT_TRUE(client.execute("query-status").contains("status"));
    const int status = machine.shutdown();
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// With a socket path, other clients can use the monitor once the machine's client let go.
TEST(Machine, SocketPathLetsASecondClientConnectAfterTheFirstDisconnects)
{
    qmp::Machine machine(path_options());
    qmp::Client& first = machine.start();
    EXPECT_EQ(first.address(), "unix:" + machine.socket_path());
    first.execute("stop");
    first.disconnect();

    qmp::Client second;
    second.connect(machine.socket_path());
    EXPECT_EQ(second.execute("query-status")["status"], "paused");
    second.disconnect();

    first.connect(machine.socket_path()); // and the machine's client may come back
    EXPECT_TRUE(first.execute("query-status").contains("status"));
    const int status = machine.shutdown();
    ASSERT_TRUE(WIFEXITED(status)) << status;
}

TEST(Machine, SocketLivesInAPrivateDirectory)
{
    qmp::Machine machine(path_options());
    machine.start();

    EXPECT_EQ(machine.socket_path(), machine.directory() + "/qmp.sock");
    struct stat info { };
    ASSERT_EQ(::stat(machine.directory().c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    EXPECT_GT(machine.pid(), 0);
    EXPECT_TRUE(machine.running());
}

// With a socket pair, the failure shows as the end of the connection before the greeting; the
// error still names the exit status and quotes QEMU's stderr.
TEST(Machine, BadArgumentThrowsConnectErrorWithQemuStderr)
{
    for (const Monitor monitor : both_monitors) {
        SCOPED_TRACE(name_of(monitor));
        ScopedTmpdir tmpdir;
        qmp::MachineOptions options;
        options.monitor = monitor;
        options.args = {"-nosuchoption"};
        qmp::Machine machine(options);

        const auto started = std::chrono::steady_clock::now();
        const std::string message = start_failure_message(machine);

        // "invalid option" is QEMU's stderr; the option name alone would also match the command
        // line.
        EXPECT_THAT(message, HasSubstr("invalid option"));
        EXPECT_THAT(message, HasSubstr("nosuchoption"));
        EXPECT_THAT(message, HasSubstr("exited with status 1"));
        EXPECT_LT(std::chrono::steady_clock::now() - started, options.start_timeout / 2);
        EXPECT_TRUE(tmpdir.is_empty());
        EXPECT_EQ(machine.pid(), 0);
    }
}

// QEMU creates its monitor socket before it creates devices; when a device fails, the socket
// file stays behind. start() must report the exit, not retry the dead socket until the timeout.
// With a socket pair QEMU has opened its end of the monitor by then.
TEST(Machine, ExitAfterCreatingTheSocketIsReportedAsAnExit)
{
    for (const Monitor monitor : both_monitors) {
        SCOPED_TRACE(name_of(monitor));
        ScopedTmpdir tmpdir;
        qmp::MachineOptions options;
        options.monitor = monitor;
        options.args.insert(options.args.end(), {"-device", "nosuchdevice"});
        qmp::Machine machine(options);

        const std::string message = start_failure_message(machine);

        EXPECT_THAT(message, HasSubstr("exited with status 1"));
        EXPECT_THAT(message, HasSubstr("'nosuchdevice' is not a valid device model name"));
        EXPECT_TRUE(tmpdir.is_empty());
    }
}

TEST(Machine, StorageDaemonBadArgumentIsReportedWithItsStderr)
{
    qmp::MachineOptions options = qmp::MachineOptions::storage_daemon();
    options.args = {"--nosuchoption"};
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("qemu-storage-daemon exited with status 1"));
    EXPECT_THAT(message, HasSubstr("unrecognized option"));
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
        const sockaddr_un address = qmp::test::unix_address(stale);
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
        ::close(fd); // the file stays; connecting to it is refused
    }
    qmp::MachineOptions options;
    options.monitor = Monitor::socket_path;
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
    options.monitor = Monitor::socket_path;
    options.binary = "/bin/sh";
    options.args = {"-c", "exec sleep 600"}; // runs, but never creates the socket
    options.start_timeout = 200ms;
    qmp::Machine machine(options);

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("did not create its monitor socket within 200 ms"));
    EXPECT_TRUE(tmpdir.is_empty());
}

// A process that holds its end of the socket pair but never greets.
TEST(Machine, NoGreetingOnTheSocketPairWithinStartTimeoutIsReported)
{
    ScopedTmpdir tmpdir;
    qmp::MachineOptions options;
    options.binary = "/bin/sh";
    options.args = {"-c", "exec sleep 600"};
    options.start_timeout = 200ms;
    qmp::Machine machine(options);

    const auto started = std::chrono::steady_clock::now();
    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("/bin/sh's monitor did not answer within 200 ms"));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_TRUE(tmpdir.is_empty());
    EXPECT_EQ(machine.pid(), 0);
}

// A process that closes its end and goes on running: not an exit, and no wait for start_timeout.
TEST(Machine, SocketPairClosedByARunningProcessIsReported)
{
    qmp::MachineOptions options;
    options.binary = "/bin/sh";
    // $0 is "-chardev", $1 "socket,id=qmp0,fd=N".
    options.args = {"-c", "fd=${1##*fd=}; eval \"exec $fd<&-\"; exec sleep 600"};
    options.start_timeout = 60s;
    qmp::Machine machine(options);

    const auto started = std::chrono::steady_clock::now();
    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("/bin/sh's monitor failed before the greeting"));
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
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
    for (const Monitor monitor : both_monitors) {
        SCOPED_TRACE(name_of(monitor));
        const std::size_t before = open_descriptor_count();
        {
            qmp::MachineOptions options;
            options.monitor = monitor;
            qmp::Machine machine(options);
            machine.start();
            machine.shutdown();
        }
        EXPECT_EQ(open_descriptor_count(), before) << "after start() and shutdown()";
        {
            qmp::MachineOptions options;
            options.monitor = monitor;
            qmp::Machine machine(options);
            machine.start();
        }
        EXPECT_EQ(open_descriptor_count(), before) << "after start() and the destructor";
        {
            qmp::MachineOptions options;
            options.monitor = monitor;
            options.args = {"-nosuchoption"};
            qmp::Machine machine(options);
            start_failure_message(machine);
        }
        EXPECT_EQ(open_descriptor_count(), before) << "after a failed start()";
    }
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
    qmp::Machine machine(path_options());

    const std::string message = start_failure_message(machine);

    EXPECT_THAT(message, HasSubstr("too long for a unix socket"));
    EXPECT_TRUE(tmpdir.is_empty());
}

TEST(Machine, SocketPairNeedsNoShortDirectory)
{
    ScopedTmpdir tmpdir(std::string(100, 'd'));
    qmp::Machine machine;

    EXPECT_TRUE(machine.start().execute("query-status").contains("status"));
}

TEST(Machine, CommaInDirectoryIsEscapedForQemu)
{
    ScopedTmpdir tmpdir("with,comma");
    qmp::Machine machine(path_options());

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

TEST(Machine, ShutdownAfterTheClientDisconnectedTerminatesAtOnce)
{
    // Over the default socket pair nobody can send `quit` once the client let go of it: waiting
    // shutdown_timeout for an exit that cannot come would only delay the SIGTERM.
    qmp::MachineOptions options;
    options.shutdown_timeout = 20s;
    qmp::Machine machine(options);
    machine.start();
    machine.client().disconnect();

    const auto start = std::chrono::steady_clock::now();
    const int status = machine.shutdown();
    const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start)
                             .count();

    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_THAT(machine.stderr_output(), HasSubstr("terminating on signal 15"));
    EXPECT_LT(took_ms, 10000) << "waited for a quit that was never sent";
}

TEST(Machine, ShutdownEscalatesToSigkillWhenQemuIsStopped)
{
    qmp::MachineOptions options;
    options.shutdown_timeout = 200ms;
    qmp::Machine machine(options);
    machine.start();
    const pid_t pid = machine.pid();
    machine.kill(SIGSTOP); // answers nothing, handles no SIGTERM

    const auto started = std::chrono::steady_clock::now();
    const int status = machine.shutdown();
    const auto elapsed = std::chrono::steady_clock::now() - started;

    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), SIGKILL);
    EXPECT_LT(elapsed, 3 * options.shutdown_timeout + 2s);
    errno = 0;
    EXPECT_EQ(::kill(pid, 0), -1) << "reaped: not even a zombie is left";
    EXPECT_EQ(errno, ESRCH);
}

// Holds a process under ptrace from a separate process and never waits for it. Once the process
// dies it is a zombie that only this tracer may reap, so its parent's waitpid() never sees the
// exit: like a process stuck in uninterruptible sleep, it outlives SIGKILL as far as the parent
// can tell. release() ends the tracer (only the tracer this object forked), which hands the
// zombie back to its parent.
class UnreapableHold {
public:
    // \returns an empty string on success, else why the process could not be held.
    std::string hold(pid_t target)
    {
        int ready[2];
        if (::pipe2(ready, O_CLOEXEC) != 0)
            return "pipe2 failed";
        tracer_ = ::fork();
        if (tracer_ == 0) { // async-signal-safe calls only: the test program has threads
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int error = ::ptrace(PTRACE_SEIZE, target, nullptr, nullptr) == 0 ? 0 : errno;
            [[maybe_unused]] const auto written = ::write(ready[1], &error, sizeof error);
            for (;;)
                ::pause();
        }
        ::close(ready[1]);
        int error = -1;
        const bool reported = tracer_ > 0 && ::read(ready[0], &error, sizeof error) == sizeof error;
        ::close(ready[0]);
        if (!reported || error != 0) {
            release();
            return std::string("cannot ptrace the process: ") + std::strerror(error);
        }
        return "";
    }

    void release()
    {
        if (tracer_ <= 0)
            return;
        ::kill(tracer_, SIGKILL);
        int status;
        ::waitpid(tracer_, &status, 0); // killed: returns at once
        tracer_ = 0;
    }

    ~UnreapableHold() { release(); }

private:
    pid_t tracer_ = 0;
};

// 'Z' for a zombie, 0 when there is no such process.
char process_state(pid_t pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line))
        return 0;
    const auto close_paren = line.rfind(')');
    return close_paren == std::string::npos || close_paren + 2 >= line.size()
        ? 0
        : line[close_paren + 2];
}

// Reaps what a Machine gave up on, within \p timeout. \returns true if it was reaped.
bool reap_within(pid_t pid, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        int status;
        if (::waitpid(pid, &status, WNOHANG) == pid)
            return true;
        std::this_thread::sleep_for(10ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

// A refused ptrace fails these tests (CI runs as root where ptrace works, whether or not it
// sets CI=true); a developer on a machine that forbids it may set QMP_ALLOW_PTRACE_SKIP=1.
bool ptrace_skip_allowed()
{
    const char* value = std::getenv("QMP_ALLOW_PTRACE_SKIP");
    return value && std::string(value) == "1";
}

// A QEMU that answers nothing, ignores SIGTERM and, though SIGKILL ends it, cannot be reaped:
// shutdown() gives up after its three bounded waits instead of blocking in waitpid() forever.
TEST(Machine, ShutdownIsBoundedWhenTheProcessCannotBeReaped)
{
    qmp::MachineOptions options;
    options.shutdown_timeout = 200ms;
    qmp::Machine machine(options);
    machine.start();
    const pid_t pid = machine.pid();
    machine.kill(SIGSTOP);
    UnreapableHold hold;
    const std::string refused = hold.hold(pid);
    if (!refused.empty()) {
        if (!ptrace_skip_allowed())
            FAIL() << refused << " (QMP_ALLOW_PTRACE_SKIP=1 skips this test instead)";
        GTEST_SKIP() << refused;
    }

    // In a thread, so that a shutdown() that blocks fails the test rather than hanging it.
    std::promise<int> result;
    auto returned = result.get_future();
    const auto started = std::chrono::steady_clock::now();
    std::thread shutting_down([&] { result.set_value(machine.shutdown()); });
    const bool in_time =
        returned.wait_for(3 * options.shutdown_timeout + 2s) == std::future_status::ready;
    const auto elapsed = std::chrono::steady_clock::now() - started;
    EXPECT_TRUE(in_time) << "shutdown() still waiting after "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
                         << " ms";
    if (in_time) {
        EXPECT_EQ(process_state(pid), 'Z') << "SIGKILL was sent; only the reaping is left";
        EXPECT_EQ(returned.get(), -1) << "no exit status: the process was not reaped";
        EXPECT_EQ(machine.pid(), 0);
        EXPECT_FALSE(machine.running());
    }
    hold.release(); // hands the zombie back to us (and unblocks a hanging shutdown())
    shutting_down.join();
    if (in_time) {
        EXPECT_TRUE(reap_within(pid, 5s));
        errno = 0;
        EXPECT_EQ(::kill(pid, 0), -1);
        EXPECT_EQ(errno, ESRCH);
    }
}

TEST(Machine, DestructorIsBoundedWhenTheProcessCannotBeReaped)
{
    qmp::MachineOptions options;
    options.shutdown_timeout = 200ms;
    auto machine = std::make_unique<qmp::Machine>(options);
    machine->start();
    const pid_t pid = machine->pid();
    machine->kill(SIGSTOP);
    UnreapableHold hold;
    const std::string refused = hold.hold(pid);
    if (!refused.empty()) {
        if (!ptrace_skip_allowed())
            FAIL() << refused << " (QMP_ALLOW_PTRACE_SKIP=1 skips this test instead)";
        GTEST_SKIP() << refused;
    }

    std::promise<void> result;
    auto returned = result.get_future();
    std::thread destroying([&] {
        machine.reset();
        result.set_value();
    });
    const bool in_time =
        returned.wait_for(2 * options.shutdown_timeout + 2s) == std::future_status::ready;
    EXPECT_TRUE(in_time) << "the destructor is still waiting";
    hold.release();
    destroying.join();
    EXPECT_TRUE(reap_within(pid, 5s));
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
