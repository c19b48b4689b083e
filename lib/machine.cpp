// SPDX-License-Identifier: MIT
// qmp::Machine: starts a disposable QEMU with a QMP monitor in a private directory, connects a
// Client to it, and always kills, reaps and cleans up after it.
//
// The process is started with fork() + execve() rather than posix_spawn() because the child needs
// steps posix_spawn cannot express portably (PR_SET_PDEATHSIG, resetting every signal
// disposition, marking inherited descriptors close-on-exec). Between fork() and execve() the
// child runs only async-signal-safe calls: the parent is multi-threaded (every connected Client
// has a reader thread), so any lock another thread held at fork() stays locked forever in the
// child.

#include <qmp/error.hpp>
#include <qmp/machine.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "deadline.hpp"
#include "log.hpp"

extern char** environ;

namespace qmp {

using detail::Clock;
using detail::deadline_after;

namespace {

using std::chrono::milliseconds;

// How often start() looks for the monitor socket and wait_exit() for the exit. Both wait on
// another process, which gives no notification we could block on portably.
constexpr milliseconds start_poll_interval{10};
constexpr milliseconds exit_poll_interval{5};

// How much of QEMU's output a start-up error quotes: enough for any error QEMU prints, small
// enough for a log line.
constexpr std::size_t stderr_tail_bytes = 4096;

// Exit status of a child that could not exec QEMU (the shell's convention).
constexpr int exec_failed_status = 127;

// ---------------------------------------------------------------------------------------------
// Small utilities

std::string error_text(int error)
{
    return std::system_category().message(error);
}

ConnectError system_failure(const std::string& what, int error)
{
    return ConnectError("qmp: " + what + ": " + error_text(error));
}

milliseconds time_left(Clock::time_point deadline)
{
    const auto now = Clock::now();
    if (now >= deadline)
        return milliseconds(0);
    return std::chrono::duration_cast<milliseconds>(deadline - now);
}

// Sleeps one poll interval, but never past the deadline.
void pause_until_next_poll(milliseconds interval, Clock::time_point deadline)
{
    const auto now = Clock::now();
    const auto wake = (deadline - now > interval) ? now + interval : deadline;
    std::this_thread::sleep_until(wake);
}

std::string basename_of(const std::string& path)
{
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

// QEMU's option parser splits on ',' and reads ",," as a literal comma.
std::string escape_qemu_option_value(const std::string& value)
{
    std::string escaped;
    for (const char c : value) {
        escaped += c;
        if (c == ',')
            escaped += ',';
    }
    return escaped;
}

// Quotes an argument so that the command line in an error message can be pasted into a shell.
std::string shell_quote(const std::string& arg)
{
    const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            std::string_view("_-+=:,./@%").find(c) != std::string_view::npos;
    });
    if (plain)
        return arg;
    std::string quoted = "'";
    for (const char c : arg) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    return quoted + "'";
}

std::string command_line_text(const std::vector<std::string>& command)
{
    std::string text;
    for (const auto& arg : command) {
        if (!text.empty())
            text += ' ';
        text += shell_quote(arg);
    }
    return text;
}

std::string describe_wait_status(int status)
{
    if (WIFEXITED(status))
        return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "was killed by signal " + std::to_string(WTERMSIG(status));
    return "ended with wait status " + std::to_string(status);
}

// ---------------------------------------------------------------------------------------------
// Owners of what start() creates, so that every error path releases all of it

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) { }
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) { }
    UniqueFd& operator=(UniqueFd&& other) noexcept
    {
        if (this != &other)
            reset(std::exchange(other.fd_, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    void reset(int fd = -1) noexcept
    {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

UniqueFd open_file(const std::string& path, int flags, mode_t mode = 0)
{
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        throw system_failure("cannot open '" + path + "'", errno);
    return UniqueFd(fd);
}

// The child dup2()s its descriptors onto 0, 1 and 2. One of them that already *is* 0, 1 or 2
// (possible when the host program closed its standard streams) would be overwritten before use,
// so every descriptor handed to the child is moved above them first.
UniqueFd keep_clear_of_stdio(UniqueFd fd)
{
    if (fd.get() > STDERR_FILENO)
        return fd;
    const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0)
        throw system_failure("cannot duplicate a file descriptor", errno);
    return UniqueFd(moved);
}

// A private directory under $TMPDIR (or /tmp), removed with everything in it.
class TemporaryDirectory {
public:
    TemporaryDirectory() = default;
    ~TemporaryDirectory() { remove(); }
    TemporaryDirectory(TemporaryDirectory&& other) noexcept
        : path_(std::move(other.path_)), owned_(std::exchange(other.owned_, false))
    {
    }
    TemporaryDirectory& operator=(TemporaryDirectory&& other) noexcept
    {
        if (this != &other) {
            remove();
            path_ = std::move(other.path_);
            owned_ = std::exchange(other.owned_, false);
        }
        return *this;
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    static TemporaryDirectory create()
    {
        std::string parent = "/tmp";
        if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir && *tmpdir)
            parent = tmpdir;
        while (parent.size() > 1 && parent.back() == '/')
            parent.pop_back();
        // mkdtemp() creates the directory with mode 0700: nobody else can reach the socket.
        std::string path = (parent == "/" ? "" : parent) + "/qmp-XXXXXX";
        if (!::mkdtemp(path.data()))
            throw system_failure("cannot create a temporary directory in '" + parent + "'", errno);
        TemporaryDirectory directory;
        directory.path_ = std::move(path);
        directory.owned_ = true;
        return directory;
    }

    // The path stays readable after remove(), for messages.
    const std::string& path() const noexcept { return path_; }

    // Removes the directory and whatever tests put in it. Never throws: it runs in destructors.
    void remove() noexcept
    {
        if (!owned_)
            return;
        owned_ = false;
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

private:
    std::string path_;
    bool owned_ = false;
};

// A child process; kills and reaps it on destruction unless it was reaped (or abandoned) first.
// No wait for it is unbounded: after SIGKILL it waits at most \p kill_wait for the exit and
// abandons a process that does not go (see kill_and_reap()).
class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(pid_t pid, milliseconds kill_wait) noexcept : pid_(pid), kill_wait_(kill_wait) { }
    ~ChildProcess() { kill_and_reap(); }
    ChildProcess(ChildProcess&& other) noexcept
        : pid_(other.pid_.exchange(0)),
          status_(std::exchange(other.status_, -1)),
          kill_wait_(other.kill_wait_)
    {
    }
    ChildProcess& operator=(ChildProcess&& other) noexcept
    {
        if (this != &other) {
            kill_and_reap();
            pid_ = other.pid_.exchange(0);
            status_ = std::exchange(other.status_, -1);
            kill_wait_ = other.kill_wait_;
        }
        return *this;
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // 0 when there is no process: never started, reaped or abandoned. Atomic because
    // Machine::pid() may be read from other threads while the owner reaps.
    pid_t pid() const noexcept { return pid_.load(); }

    // The waitpid() status of the reaped process; -1 if there is none.
    int status() const noexcept { return status_; }

    // Signals the process unless it was reaped: once reaped, its pid may belong to a stranger.
    int signal(int signal_number) noexcept
    {
        const pid_t pid = pid_.load();
        if (pid <= 0)
            return 0;
        return ::kill(pid, signal_number) == 0 ? 0 : errno;
    }

    // Reaps the process if it has exited. \returns true when there is no process left.
    bool poll_exit() noexcept { return reap(); }

    bool wait_exit(milliseconds timeout) noexcept
    {
        const auto deadline = deadline_after(timeout);
        while (!poll_exit()) {
            if (Clock::now() >= deadline)
                return false;
            pause_until_next_poll(exit_poll_interval, deadline);
        }
        return true;
    }

    // Kills the process and whatever is left in its process group, then waits at most
    // kill_wait for the exit and reaps it. A killed process normally exits at once, but one
    // stuck in uninterruptible sleep (or held as a zombie by a ptrace tracer) cannot be reaped:
    // it is abandoned rather than waited for. \returns false if it was abandoned.
    bool kill_and_reap() noexcept
    {
        if (!kill_group())
            return true;
        if (wait_exit(kill_wait_))
            return true;
        abandon();
        return false;
    }

    // SIGKILL to the process and its group. \returns false when there is no process.
    bool kill_group() noexcept
    {
        const pid_t pid = pid_.load();
        if (pid <= 0)
            return false;
        ::kill(-pid, SIGKILL);
        return signal(SIGKILL) == 0;
    }

    // Forgets a process that did not die in time, so that destruction does not block on it.
    void abandon() noexcept { pid_ = 0; }

private:
    // Reaps the process if it has exited; never waits.
    //
    // become_qemu() made the process the leader of its own group. Whatever it left in that group
    // (a wrapper script's children, a helper) must not outlive it, so the group is killed after
    // the exit but before the reaping: until then the zombie holds the group id, which therefore
    // cannot belong to anybody else yet.
    bool reap() noexcept
    {
        const pid_t pid = pid_.load();
        if (pid <= 0)
            return true;
        siginfo_t info{};
        int result;
        do {
            result = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | WNOHANG);
        } while (result < 0 && errno == EINTR);
        if (result == 0 && info.si_pid == 0)
            return false; // still running
        int status = -1;
        if (result == 0) {
            ::kill(-pid, SIGKILL);
            pid_t reaped;
            do {
                reaped = ::waitpid(pid, &status, WNOHANG); // it has exited: the zombie is there
            } while (reaped < 0 && errno == EINTR);
            if (reaped == 0)
                return false; // cannot happen after waitid() saw the exit; never block on it
            if (reaped != pid)
                status = -1;
        }
        // Otherwise ECHILD: something else reaped it (SIGCHLD ignored, a reaper thread) and the
        // status is lost.
        status_ = status;
        pid_ = 0;
        return true;
    }

    std::atomic<pid_t> pid_{0};
    int status_ = -1;
    milliseconds kill_wait_{0};
};

// ---------------------------------------------------------------------------------------------
// Building the command line (all before fork(): the child must not allocate)

bool is_executable_file(const std::string& path)
{
    struct stat info { };
    return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
        ::access(path.c_str(), X_OK) == 0;
}

// The Debian package that provides \p program, as a hint for people who lack it.
std::string install_hint(const std::string& program)
{
    static const std::pair<const char*, const char*> packages[] = {
        {"qemu-system-x86_64", "qemu-system-x86"},
        {"qemu-system-i386", "qemu-system-x86"},
        {"qemu-system-aarch64", "qemu-system-arm"},
        {"qemu-system-arm", "qemu-system-arm"},
        {"qemu-storage-daemon", "qemu-system-common"},
        {"qemu-img", "qemu-utils"},
        {"qemu-ga", "qemu-guest-agent"},
    };
    for (const auto& [name, package] : packages)
        if (program == name)
            return std::string("; install Debian's ") + package;
    if (program.rfind("qemu-system-", 0) == 0)
        return "; install Debian's qemu-system package for that architecture";
    return "";
}

// Resolves the program through PATH as execvp() would, but before fork(): execvp() may allocate,
// and a clear "not found" error is better than a child that exits 127.
std::string find_program(const std::string& program)
{
    if (program.empty())
        throw UsageError("qmp: MachineOptions::binary is empty");
    if (program.find('/') != std::string::npos)
        return program;
    const char* path_variable = std::getenv("PATH");
    const std::string search_path = path_variable ? path_variable : "/usr/local/bin:/usr/bin:/bin";
    std::size_t begin = 0;
    for (;;) {
        const std::size_t end = std::min(search_path.find(':', begin), search_path.size());
        std::string directory = search_path.substr(begin, end - begin);
        if (directory.empty())
            directory = "."; // an empty PATH entry means the current directory
        const std::string candidate = directory + "/" + program;
        if (is_executable_file(candidate))
            return candidate;
        if (end == search_path.size())
            break;
        begin = end + 1;
    }
    throw ConnectError("qmp: cannot find '" + program + "' in PATH" + install_hint(program));
}

void require_fits_sun_path(const std::string& socket_path)
{
    constexpr std::size_t capacity = sizeof(sockaddr_un::sun_path);
    if (socket_path.size() >= capacity)
        throw ConnectError("qmp: the monitor socket path '" + socket_path + "' is too long for a " +
            "unix socket (" + std::to_string(socket_path.size()) + " bytes, at most " +
            std::to_string(capacity - 1) + "); set TMPDIR to a shorter directory");
}

bool is_storage_daemon(const std::string& binary)
{
    return basename_of(binary).find("storage-daemon") != std::string::npos;
}

std::vector<std::string> qemu_command(
    const std::string& program, const MachineOptions& options, const std::string& socket_path)
{
    std::vector<std::string> command{program};
    command.insert(command.end(), options.args.begin(), options.args.end());
    const std::string chardev =
        "socket,id=qmp0,path=" + escape_qemu_option_value(socket_path) + ",server=on,wait=off";
    if (is_storage_daemon(options.binary)) {
        command.insert(command.end(), {"--chardev", chardev, "--monitor", "chardev=qmp0"});
    } else {
        command.insert(command.end(), {"-chardev", chardev, "-mon", "chardev=qmp0,mode=control"});
    }
    return command;
}

// ---------------------------------------------------------------------------------------------
// Starting the process

// What the child reports through the exec-status pipe when it could not become QEMU.
struct ChildFailure {
    enum Step : int { redirect_streams, exec } step;
    int error;
};

// Everything the child needs, prepared by the parent so the child only makes system calls.
struct ChildSetup {
    char* const* argv;
    char* const* envp;
    int stdin_fd;
    int output_fd;
    int report_fd;
    pid_t parent;
    bool kill_with_parent;
};

[[noreturn]] void report_and_exit(int report_fd, ChildFailure::Step step, int error) noexcept
{
    const ChildFailure failure{step, error};
    // A pipe write of fewer than PIPE_BUF bytes is atomic; nothing to do if it fails.
    [[maybe_unused]] const auto written = ::write(report_fd, &failure, sizeof failure);
    ::_exit(exec_failed_status);
}

// execve() keeps ignored signals ignored and the signal mask as it was. The host program may
// ignore SIGPIPE or block signals for its threads; QEMU must start with the defaults. The
// parent blocked every signal before fork(), so no handler of the host program runs in the
// child: dispositions are reset first, the mask cleared last.
void reset_signals() noexcept
{
    struct sigaction default_action { };
    default_action.sa_handler = SIG_DFL;
    ::sigemptyset(&default_action.sa_mask);
    for (int signal_number = 1; signal_number < NSIG; ++signal_number)
        ::sigaction(signal_number, &default_action, nullptr); // fails harmlessly for SIGKILL...
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Descriptors the host program opened without O_CLOEXEC would otherwise live on in QEMU, and
// keep, say, a peer's socket open long after the program closed it.
void close_inherited_descriptors_on_exec() noexcept
{
#ifdef CLOSE_RANGE_CLOEXEC
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC); // best effort (Linux >= 5.11)
#endif
}

// Runs in the child between fork() and execve(): async-signal-safe calls only.
[[noreturn]] void become_qemu(const ChildSetup& setup) noexcept
{
    reset_signals();
    // A process group of its own: Ctrl-C in a terminal signals the foreground group, and must
    // not kill a QEMU the program still wants to shut down cleanly. The Machine's destructor
    // and PR_SET_PDEATHSIG still end it with the program (also when a test runner kills the
    // program's group on a timeout), and the group lets cleanup kill what QEMU started.
    ::setpgid(0, 0);
    if (setup.kill_with_parent) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        // The parent may have died before prctl(): then nobody would ever kill us.
        if (::getppid() != setup.parent)
            ::_exit(exec_failed_status);
    }
    if (::dup2(setup.stdin_fd, STDIN_FILENO) < 0 || ::dup2(setup.output_fd, STDOUT_FILENO) < 0 ||
        ::dup2(setup.output_fd, STDERR_FILENO) < 0)
        report_and_exit(setup.report_fd, ChildFailure::redirect_streams, errno);
    close_inherited_descriptors_on_exec();
    ::execve(setup.argv[0], setup.argv, setup.envp);
    report_and_exit(setup.report_fd, ChildFailure::exec, errno);
}

// The files QEMU's standard streams are connected to.
struct StandardStreams {
    UniqueFd input; // /dev/null: QEMU must never read the host program's terminal
    UniqueFd output; // the log file, for stdout and stderr
    UniqueFd log_reader; // the same file, kept open so it stays readable after the directory
                         // is removed
};

StandardStreams open_standard_streams(const std::string& log_path)
{
    StandardStreams streams;
    streams.input = keep_clear_of_stdio(open_file("/dev/null", O_RDONLY));
    streams.output =
        keep_clear_of_stdio(open_file(log_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0600));
    streams.log_reader = open_file(log_path, O_RDONLY);
    return streams;
}

// Reads what the child reports through the exec-status pipe. \returns false on end-of-file
// (the exec succeeded) and, to stay within \p deadline, when nothing came in time: another
// thread's fork() can hold a copy of the pipe's write end for as long as that child lives. An
// exec that failed unnoticed shows later as an exit with status 127.
bool read_child_failure(const UniqueFd& reader, Clock::time_point deadline, ChildFailure& failure)
{
    pollfd readable{reader.get(), POLLIN, 0};
    int ready;
    do {
        const auto wait = deadline == Clock::time_point::max()
            ? -1
            : static_cast<int>(
                  std::min<milliseconds::rep>(time_left(deadline).count(), 1000 * 1000 * 1000));
        ready = ::poll(&readable, 1, wait);
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0)
        return false;
    ssize_t got;
    do {
        got = ::read(reader.get(), &failure, sizeof failure);
    } while (got < 0 && errno == EINTR);
    return got == static_cast<ssize_t>(sizeof failure);
}

// Forks and execs \p command. \returns the child, or (through \p failure) why it could not
// become QEMU; in that case the child has been reaped (or abandoned after \p kill_wait).
ChildProcess spawn(const std::vector<std::string>& command, const StandardStreams& streams,
    bool kill_with_parent, milliseconds kill_wait, Clock::time_point deadline, std::string& failure)
{
    std::vector<char*> argv;
    for (const auto& arg : command)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    // The classic self-pipe: the child's end closes on a successful execve(), so the parent
    // reads end-of-file; a failing child writes its errno first.
    int report_pipe[2];
    if (::pipe2(report_pipe, O_CLOEXEC) != 0)
        throw system_failure("cannot create a pipe", errno);
    UniqueFd report_reader(report_pipe[0]);
    UniqueFd report_writer = keep_clear_of_stdio(UniqueFd(report_pipe[1]));

    const ChildSetup setup{argv.data(), environ, streams.input.get(), streams.output.get(),
        report_writer.get(), ::getpid(), kill_with_parent};

    sigset_t all_signals, previous_mask;
    ::sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous_mask);
    const pid_t pid = ::fork();
    if (pid == 0)
        become_qemu(setup);
    const int fork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    if (pid < 0)
        throw system_failure("cannot fork to start '" + command[0] + "'", fork_error);

    ChildProcess child(pid, kill_wait);
    report_writer.reset(); // else the parent's own copy would keep the pipe from closing
    ChildFailure report{};
    if (read_child_failure(report_reader, deadline, report)) {
        child.kill_and_reap(); // it is already exiting; this only reaps
        failure = (report.step == ChildFailure::exec
                          ? "cannot execute '" + command[0] + "'"
                          : "cannot redirect the standard streams of '" + command[0] + "'") +
            ": " + error_text(report.error);
    }
    return child;
}

bool socket_exists(const std::string& path)
{
    struct stat info { };
    return ::stat(path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode);
}

// The last few KB of what QEMU wrote, for an error message.
std::string tail_of_output(const UniqueFd& log)
{
    struct stat info { };
    if (!log || ::fstat(log.get(), &info) != 0)
        return "(unavailable)";
    const off_t size = info.st_size;
    const off_t start = size > static_cast<off_t>(stderr_tail_bytes)
        ? size - static_cast<off_t>(stderr_tail_bytes)
        : 0;
    std::string text(static_cast<std::size_t>(size - start), '\0');
    const ssize_t got = ::pread(log.get(), text.data(), text.size(), start);
    text.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    if (start > 0) { // cut at a line start, and say so
        const auto newline = text.find('\n');
        text = "..." + (newline == std::string::npos ? text : text.substr(newline + 1));
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    return text.empty() ? "(nothing)" : text;
}

std::string read_whole_file(const UniqueFd& log)
{
    std::string text;
    if (!log)
        return text;
    char buffer[8192];
    for (off_t offset = 0;;) {
        const ssize_t got = ::pread(log.get(), buffer, sizeof buffer, offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(got));
        offset += got;
    }
    return text;
}

// Waits for the monitor socket, then connects. Returns the connected client, or null with the
// reason in \p failure (the process exited, or the deadline passed).
//
// The client's own retry (ClientOptions::retry_connect) is not used: a QEMU that fails after
// creating its socket (a bad -device, for instance) leaves the socket file behind, and the client
// would retry the refused connection until the deadline. Retrying here checks the process
// between attempts, so such a failure is reported at once, with its exit status.
std::unique_ptr<Client> connect_when_ready(ChildProcess& child, const std::string& program_name,
    const std::string& socket_path, const MachineOptions& options, Clock::time_point deadline,
    std::string& failure)
{
    std::string last_connect_error;
    for (;;) {
        if (child.poll_exit()) {
            failure = program_name + " " + describe_wait_status(child.status()) +
                " before its monitor was ready";
            return nullptr;
        }
        if (socket_exists(socket_path)) {
            ClientOptions client_options = options.client;
            client_options.retry_connect = false;
            client_options.connect_timeout = std::max(time_left(deadline), milliseconds(1));
            auto client = std::make_unique<Client>(client_options);
            try {
                client->connect("unix:" + socket_path);
                return client;
            } catch (const ConnectError& e) {
                last_connect_error = e.what();
            }
        }
        if (Clock::now() >= deadline) {
            const std::string limit = std::to_string(options.start_timeout.count()) + " ms";
            failure = last_connect_error.empty()
                ? program_name + " did not create its monitor socket within " + limit
                : program_name + "'s monitor did not answer within " + limit + " (" +
                    last_connect_error + ")";
            return nullptr;
        }
        pause_until_next_poll(start_poll_interval, deadline);
    }
}

ConnectError start_failure(
    const std::string& reason, const std::vector<std::string>& command, const UniqueFd& log)
{
    return ConnectError("qmp: " + reason + "; command: " + command_line_text(command) +
        "; stderr: " + tail_of_output(log));
}

} // namespace

MachineOptions MachineOptions::storage_daemon()
{
    MachineOptions options;
    options.binary = "qemu-storage-daemon";
    options.args.clear();
    return options;
}

class Machine::Impl {
public:
    explicit Impl(MachineOptions options)
        : options_(std::move(options)), logger_(detail::logger_or_null(options_.client.logger))
    {
    }

    // Bounded by twice shutdown_timeout: SIGTERM, then SIGKILL (see terminate()).
    ~Impl()
    {
        if (client_)
            client_->disconnect();
        if (process_.pid() > 0 && !process_.poll_exit())
            terminate();
        directory_.remove();
    }

    Client& start()
    {
        if (client_)
            throw UsageError("qmp: Machine::start(): already started (a Machine starts its "
                             "process once; create another Machine)");
        const auto deadline = deadline_after(options_.start_timeout);
        const std::string program = find_program(options_.binary);
        TemporaryDirectory directory = TemporaryDirectory::create();
        std::string socket_path = directory.path() + "/qmp.sock";
        require_fits_sun_path(socket_path);
        const auto command = qemu_command(program, options_, socket_path);
        StandardStreams streams = open_standard_streams(directory.path() + "/qemu.log");

        std::string failure;
        ChildProcess child = spawn(command, streams, options_.kill_with_parent,
            options_.shutdown_timeout, deadline, failure);
        if (failure.empty() && logger_->should_log(spdlog::level::debug))
            logger_->debug("qmp: started {} (pid {}): {}", options_.binary, child.pid(),
                command_line_text(command));
        std::unique_ptr<Client> client;
        if (failure.empty())
            client = connect_when_ready(
                child, options_.binary, socket_path, options_, deadline, failure);
        if (!client) {
            // Kill before quoting stderr, so the quote holds everything QEMU wrote; the
            // directory goes when `directory` goes out of scope.
            kill_and_reap(child);
            throw start_failure(failure, command, streams.log_reader);
        }

        directory_ = std::move(directory);
        socket_path_ = std::move(socket_path);
        log_ = std::move(streams.log_reader);
        process_ = std::move(child);
        client_ = std::move(client);
        return *client_;
    }

    // The Client is created by start(), because its connect_timeout is what is left of
    // start_timeout at that moment (ClientOptions are fixed at construction). Before start()
    // there is no client to return: handing out a placeholder would leave references to it
    // dangling once start() replaced it.
    Client& client()
    {
        if (!client_)
            throw UsageError("qmp: Machine::client(): call start() first");
        return *client_;
    }

    // Three stages of at most shutdown_timeout each: `quit` and the wait for the exit, then
    // SIGTERM and a wait, then SIGKILL and a wait (see terminate()).
    int shutdown()
    {
        if (process_.pid() > 0) {
            const auto deadline = deadline_after(options_.shutdown_timeout);
            request_quit(deadline);
            if (client_)
                client_->disconnect();
            if (process_.wait_exit(time_left(deadline)) || terminate())
                logger_->debug(
                    "qmp: {} {}", options_.binary, describe_wait_status(process_.status()));
            directory_.remove();
            return process_.status(); // -1 if abandoned: it was never reaped
        }
        if (client_)
            client_->disconnect();
        directory_.remove();
        return -1;
    }

    void kill(int signal_number)
    {
        if (process_.signal(signal_number) == EINVAL)
            throw UsageError(
                "qmp: Machine::kill(): invalid signal " + std::to_string(signal_number));
    }

    bool wait_exit(milliseconds timeout) { return process_.wait_exit(timeout); }
    pid_t pid() const { return process_.pid(); }
    bool running() { return !process_.poll_exit(); }
    const std::string& directory() const { return directory_.path(); }
    const std::string& socket_path() const { return socket_path_; }
    std::string stderr_output() const { return read_whole_file(log_); }

private:
    // SIGTERM and a wait of at most shutdown_timeout; then SIGKILL to the process and its group
    // and another such wait. A process that even then cannot be reaped (stuck in uninterruptible
    // sleep, or held as a zombie by a ptrace tracer) is abandoned with a warning rather than
    // waited for. \returns true if the process was reaped.
    bool terminate()
    {
        process_.signal(SIGTERM);
        if (process_.wait_exit(options_.shutdown_timeout))
            return true;
        return kill_and_reap(process_);
    }

    // ChildProcess::kill_and_reap(), bounded by shutdown_timeout, with a warning when the
    // process had to be abandoned.
    bool kill_and_reap(ChildProcess& process)
    {
        const pid_t pid = process.pid();
        if (process.kill_and_reap())
            return true;
        logger_->warn("qmp: {} (pid {}) was not reaped within {} ms of SIGKILL; abandoned",
            options_.binary, pid, options_.shutdown_timeout.count());
        return false;
    }

    // QEMU may close the connection before it replies to `quit` (DisconnectedError), so any
    // qmp::Error here is expected; the caller checks for the exit itself.
    void request_quit(Clock::time_point deadline)
    {
        if (!client_ || !client_->is_connected())
            return;
        try {
            client_->execute("quit", json::object(), time_left(deadline));
        } catch (const Error&) {
        }
    }

    MachineOptions options_;
    std::shared_ptr<spdlog::logger> logger_;
    // Declared before process_, hence destroyed after it: the process dies before its directory
    // goes.
    TemporaryDirectory directory_;
    std::string socket_path_;
    UniqueFd log_;
    ChildProcess process_;
    std::unique_ptr<Client> client_;
};

Machine::Machine() : Machine(MachineOptions{})
{
}

Machine::Machine(MachineOptions options) : impl_(std::make_unique<Impl>(std::move(options)))
{
}

Machine::~Machine() = default;

Client& Machine::start()
{
    return impl_->start();
}

Client& Machine::client()
{
    return impl_->client();
}

int Machine::shutdown()
{
    return impl_->shutdown();
}

void Machine::kill(int signal)
{
    impl_->kill(signal);
}

bool Machine::wait_exit(std::chrono::milliseconds timeout)
{
    return impl_->wait_exit(timeout);
}

pid_t Machine::pid() const
{
    return impl_->pid();
}

bool Machine::running()
{
    return impl_->running();
}

const std::string& Machine::directory() const
{
    return impl_->directory();
}

const std::string& Machine::socket_path() const
{
    return impl_->socket_path();
}

std::string Machine::stderr_output() const
{
    return impl_->stderr_output();
}

} // namespace qmp
