// SPDX-License-Identifier: MIT
// The process is started with fork() + execve() rather than posix_spawn() because the child needs
// steps posix_spawn cannot express portably (PR_SET_PDEATHSIG, resetting every signal
// disposition, marking inherited descriptors close-on-exec). Between fork() and execve() the
// child runs only async-signal-safe calls: the parent is multi-threaded (every connected Client
// has a reader thread), so any lock another thread held at fork() stays locked forever in the
// child.
#include "child_process.hpp"

#include <qmp/error.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace qmp::detail {

namespace {

using std::chrono::milliseconds;

// How often wait_exit() looks for the exit: the kernel offers no notification of another
// process's exit that one could block on portably.
constexpr milliseconds exit_poll_interval{5};

// Exit status of a child that could not exec (the shell's convention).
constexpr int exec_failed_status = 127;

ConnectError system_failure(const std::string& what, int error)
{
    return ConnectError("qmp: " + what + ": " + error_text(error));
}

Fd open_file(const std::string& path, int flags, mode_t mode = 0)
{
    const int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0)
        throw system_failure("cannot open '" + path + "'", errno);
    return Fd(fd);
}

// The child dup2()s its descriptors onto 0, 1 and 2. One of them that already *is* 0, 1 or 2
// (possible when the host program closed its standard streams) would be overwritten before use,
// so every descriptor handed to the child is moved above them first.
Fd keep_clear_of_stdio(Fd fd)
{
    if (fd.get() > STDERR_FILENO)
        return fd;
    const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0)
        throw system_failure("cannot duplicate a file descriptor", errno);
    return Fd(moved);
}

// What the child reports through the exec-status pipe when it could not exec.
struct ChildFailure {
    enum Step : int { redirect_streams, inherit_descriptors, exec } step;
    int error;
};

// Everything the child needs, prepared by the parent so the child only makes system calls.
struct ChildSetup {
    char* const* argv;
    char* const* envp;
    int stdin_fd;
    int output_fd;
    int report_fd;
    const int* inherited;
    std::size_t inherited_count;
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
// keep, say, a peer's socket open long after the program closed it. Those the child is meant to
// have (the monitor's socket) are then made inheritable again: the parent created them
// close-on-exec, so that no other fork of the program gets a copy.
bool close_inherited_descriptors_on_exec(const ChildSetup& setup) noexcept
{
#ifdef CLOSE_RANGE_CLOEXEC
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC); // best effort (Linux >= 5.11)
#endif
    for (std::size_t i = 0; i < setup.inherited_count; ++i)
        if (::fcntl(setup.inherited[i], F_SETFD, 0) != 0)
            return false;
    return true;
}

// Runs in the child between fork() and execve(): async-signal-safe calls only.
[[noreturn]] void become_child(const ChildSetup& setup) noexcept
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
    if (!close_inherited_descriptors_on_exec(setup))
        report_and_exit(setup.report_fd, ChildFailure::inherit_descriptors, errno);
    ::execve(setup.argv[0], setup.argv, setup.envp);
    report_and_exit(setup.report_fd, ChildFailure::exec, errno);
}

// Reads what the child reports through the exec-status pipe. \returns false on end-of-file
// (the exec succeeded) and, to stay within \p deadline, when nothing came in time: another
// thread's fork() can hold a copy of the pipe's write end for as long as that child lives. An
// exec that failed unnoticed shows later as an exit with status 127.
bool read_child_failure(const Fd& reader, Clock::time_point deadline, ChildFailure& failure)
{
    pollfd readable{reader.get(), POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&readable, 1, poll_timeout(deadline));
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0)
        return false;
    ssize_t got;
    do {
        got = ::read(reader.get(), &failure, sizeof failure);
    } while (got < 0 && errno == EINTR);
    return got == static_cast<ssize_t>(sizeof failure);
}

} // namespace

// ---------------------------------------------------------------------------------------------
// ChildProcess

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept
{
    if (this != &other) {
        kill_and_reap();
        pid_ = other.pid_.exchange(0);
        status_ = std::exchange(other.status_, -1);
        kill_wait_ = other.kill_wait_;
    }
    return *this;
}

int ChildProcess::signal(int signal_number) noexcept
{
    const pid_t pid = pid_.load();
    if (pid <= 0)
        return 0;
    return ::kill(pid, signal_number) == 0 ? 0 : errno;
}

bool ChildProcess::wait_exit(milliseconds timeout) noexcept
{
    const auto deadline = deadline_after(timeout);
    while (!poll_exit()) {
        if (Clock::now() >= deadline)
            return false;
        pause_until_next_poll(exit_poll_interval, deadline);
    }
    return true;
}

bool ChildProcess::kill_and_reap() noexcept
{
    if (!kill_group())
        return true;
    if (wait_exit(kill_wait_))
        return true;
    abandon();
    return false;
}

bool ChildProcess::kill_group() noexcept
{
    const pid_t pid = pid_.load();
    if (pid <= 0)
        return false;
    ::kill(-pid, SIGKILL);
    return signal(SIGKILL) == 0;
}

// become_child() made the process the leader of its own group. Whatever it left in that group
// (a wrapper script's children, a helper) must not outlive it, so the group is killed after the
// exit but before the reaping: until then the zombie holds the group id, which therefore cannot
// belong to anybody else yet.
bool ChildProcess::poll_exit() noexcept
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

// ---------------------------------------------------------------------------------------------
// Starting the process

StandardStreams open_standard_streams(const std::string& log_path)
{
    StandardStreams streams;
    streams.input = keep_clear_of_stdio(open_file("/dev/null", O_RDONLY));
    streams.output =
        keep_clear_of_stdio(open_file(log_path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND, 0600));
    streams.log_reader = open_file(log_path, O_RDONLY);
    return streams;
}

SocketPair make_socket_pair()
{
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
        throw system_failure("cannot create a socket pair", errno);
    SocketPair pair{Fd(ends[0]), Fd(ends[1])};
    pair.child = keep_clear_of_stdio(std::move(pair.child));
    return pair;
}

ChildProcess spawn(const std::vector<std::string>& command, const StandardStreams& streams,
    const std::vector<int>& inherited, bool kill_with_parent, milliseconds kill_wait,
    Clock::time_point deadline, std::string& failure)
{
    for (const int fd : inherited)
        if (fd <= STDERR_FILENO)
            throw UsageError("qmp: spawn(): descriptor " + std::to_string(fd) +
                " is a standard stream and cannot be inherited as it is");

    // Built before fork(): the child must not allocate.
    std::vector<char*> argv;
    for (const auto& arg : command)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    // The classic self-pipe: the child's end closes on a successful execve(), so the parent
    // reads end-of-file; a failing child writes its errno first.
    int report_pipe[2];
    if (::pipe2(report_pipe, O_CLOEXEC) != 0)
        throw system_failure("cannot create a pipe", errno);
    Fd report_reader(report_pipe[0]);
    Fd report_writer = keep_clear_of_stdio(Fd(report_pipe[1]));

    const ChildSetup setup{argv.data(), environ, streams.input.get(), streams.output.get(),
        report_writer.get(), inherited.data(), inherited.size(), ::getpid(), kill_with_parent};

    sigset_t all_signals, previous_mask;
    ::sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &previous_mask);
    const pid_t pid = ::fork();
    if (pid == 0)
        become_child(setup);
    const int fork_error = errno;
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    if (pid < 0)
        throw system_failure("cannot fork to start '" + command[0] + "'", fork_error);

    ChildProcess child(pid, kill_wait);
    report_writer.reset(); // else the parent's own copy would keep the pipe from closing
    ChildFailure report{};
    if (read_child_failure(report_reader, deadline, report)) {
        child.kill_and_reap(); // it is already exiting; this only reaps
        const char* what = report.step == ChildFailure::exec ? "cannot execute '"
            : report.step == ChildFailure::inherit_descriptors
            ? "cannot pass a descriptor to '"
            : "cannot redirect the standard streams of '";
        failure = what + command[0] + "': " + error_text(report.error);
    }
    return child;
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
// Reading the output back

std::string tail_of_output(const Fd& log, std::size_t max_bytes)
{
    struct stat info { };
    if (!log || ::fstat(log.get(), &info) != 0)
        return "(unavailable)";
    const off_t size = info.st_size;
    const off_t start =
        size > static_cast<off_t>(max_bytes) ? size - static_cast<off_t>(max_bytes) : 0;
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

std::string read_whole_file(const Fd& file)
{
    std::string text;
    if (!file)
        return text;
    char buffer[8192];
    for (off_t offset = 0;;) {
        const ssize_t got = ::pread(file.get(), buffer, sizeof buffer, offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        text.append(buffer, static_cast<std::size_t>(got));
        offset += got;
    }
    return text;
}

} // namespace qmp::detail
