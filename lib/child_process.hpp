// SPDX-License-Identifier: MIT
// Running a child program: fork() + execve() with a clean start and its output in a file, and a
// bounded wait for its end. What a Machine uses to run QEMU.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "deadline.hpp"
#include "fd.hpp"

namespace qmp::detail {

/// A child process; kills and reaps it on destruction unless it was reaped (or abandoned) first.
/// No wait for it is unbounded: after SIGKILL it waits at most \p kill_wait for the exit and
/// abandons a process that does not go (see kill_and_reap()).
///
/// Thread safety: thread-bound, except pid(), which may be read from any thread.
class ChildProcess {
public:
    ChildProcess() = default;
    ChildProcess(pid_t pid, std::chrono::milliseconds kill_wait) noexcept
        : pid_(pid), kill_wait_(kill_wait)
    {
    }
    ~ChildProcess() { kill_and_reap(); }
    ChildProcess(ChildProcess&& other) noexcept
        : pid_(other.pid_.exchange(0)),
          status_(std::exchange(other.status_, -1)),
          kill_wait_(other.kill_wait_)
    {
    }
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    /// 0 when there is no process: never started, reaped or abandoned. Atomic because
    /// Machine::pid() may be read from other threads while the owner reaps.
    pid_t pid() const noexcept { return pid_.load(); }

    /// The waitpid() status of the reaped process; -1 if there is none.
    int status() const noexcept { return status_; }

    /// Signals the process unless it was reaped: once reaped, its pid may belong to a stranger.
    /// \returns 0 or the errno of kill().
    int signal(int signal_number) noexcept;

    /// Reaps the process if it has exited; never waits. \returns true when there is no process
    /// left.
    bool poll_exit() noexcept;

    /// Waits at most \p timeout for the exit and reaps the process. \returns poll_exit().
    bool wait_exit(std::chrono::milliseconds timeout) noexcept;

    /// Kills the process and whatever is left in its process group, then waits at most
    /// kill_wait for the exit and reaps it. A killed process normally exits at once, but one
    /// stuck in uninterruptible sleep (or held as a zombie by a ptrace tracer) cannot be reaped:
    /// it is abandoned rather than waited for. \returns false if it was abandoned.
    bool kill_and_reap() noexcept;

    /// SIGKILL to the process and its group. \returns false when there is no process.
    bool kill_group() noexcept;

    /// Forgets a process that did not die in time, so that destruction does not block on it.
    void abandon() noexcept { pid_ = 0; }

private:
    std::atomic<pid_t> pid_{0};
    int status_ = -1;
    std::chrono::milliseconds kill_wait_{0};
};

/// The files a child's standard streams are connected to.
struct StandardStreams {
    Fd input; ///< /dev/null: the child must never read the host program's terminal
    Fd output; ///< the log file, for stdout and stderr
    Fd log_reader; ///< the same file, kept open so it stays readable after its directory is gone
};

/// Opens /dev/null and creates \p log_path (mode 0600; it must not exist yet).
/// \throws ConnectError if either cannot be opened.
StandardStreams open_standard_streams(const std::string& log_path);

/// Two connected unix stream sockets, both close-on-exec (no other fork of the program inherits
/// them); the child's end is numbered above the standard streams, so spawn() can hand it on.
struct SocketPair {
    Fd parent; ///< this program's end
    Fd child; ///< for spawn()'s \p inherited; close it once the child runs
};

/// \throws ConnectError if socketpair() fails.
SocketPair make_socket_pair();

/// Forks and execs \p command (command[0] a path) with \p streams, default signal dispositions
/// and a process group of its own; with \p kill_with_parent, SIGKILL when the calling thread
/// exits (PR_SET_PDEATHSIG). Of the program's other descriptors the child keeps only
/// \p inherited (each above 2, e.g. SocketPair::child), at the same numbers; everything else is
/// closed on exec. Waits for the outcome of execve() until \p deadline at most.
/// \returns the child, or (through \p failure) why it could not exec; in that case the child
/// has been reaped (or abandoned after \p kill_wait).
/// \throws ConnectError if the pipe or the fork fails; UsageError if an inherited descriptor
/// is one of the standard streams.
ChildProcess spawn(const std::vector<std::string>& command, const StandardStreams& streams,
    const std::vector<int>& inherited, bool kill_with_parent, std::chrono::milliseconds kill_wait,
    Clock::time_point deadline, std::string& failure);

/// "exited with status 1", "was killed by signal 9".
std::string describe_wait_status(int status);

/// The last \p max_bytes or fewer of \p log, starting at a line, trailing white space removed;
/// "(nothing)" or "(unavailable)" instead of an empty text.
std::string tail_of_output(const Fd& log, std::size_t max_bytes);

/// Everything in \p file, read from its start; empty if there is no file.
std::string read_whole_file(const Fd& file);

} // namespace qmp::detail
