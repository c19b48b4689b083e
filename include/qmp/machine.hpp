// SPDX-License-Identifier: MIT
/// \file
/// qmp::Machine starts a disposable QEMU process with a QMP monitor and connects a Client to it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include <qmp/client.hpp>
#include <qmp/export.hpp>
#include <qmp/options.hpp>

namespace qmp {

/// What to start and how long to wait for it.
///
/// \context \plainvalue; the Machine keeps its own copy.
struct QMP_EXPORT MachineOptions {
    /// The program: a name looked up in PATH, or a path. Its monitor arguments are chosen by name:
    /// a binary whose name contains "storage-daemon" gets `--chardev ... --monitor ...`, any
    /// other `-chardev ... -mon ...,mode=control`.
    std::string binary = "qemu-system-x86_64";

    /// How the QMP monitor is reached.
    enum class Monitor {
        /// One end of a connected socket pair is given to QEMU (`-chardev socket,id=qmp0,fd=N`;
        /// it is the only descriptor of this program that QEMU inherits), the other to the
        /// Client (Client::connect_fd(); Client::address() is "fd:N"). No file, nothing another
        /// process could connect to, no wait for a socket to appear. The monitor serves this one
        /// connection: once it ends (Client::disconnect(), for instance) nothing can connect to
        /// the monitor again, though QEMU keeps running until shutdown().
        socketpair,
        /// QEMU listens on a unix socket, Machine::socket_path(), in the private directory
        /// (`-chardev socket,id=qmp0,path=...,server=on,wait=off`); start() waits for it to
        /// appear and connects. QMP serves one client at a time: another Client or tool can
        /// connect there once the machine's client has disconnected, and the machine's client
        /// can reconnect later (Client::connect(socket_path())). The path must fit in a unix
        /// socket address (107 bytes on Linux): set TMPDIR to a short directory if need be.
        socket_path,
    };

    /// The monitor's transport; see Monitor.
    Monitor monitor = Monitor::socketpair;

    /// Arguments before the monitor's. The default suits qemu-system-*: no guest, no devices,
    /// no display, so nothing runs but the monitor.
    std::vector<std::string> args = {"-machine", "none", "-nodefaults", "-display", "none"};

    /// Options of the Client connected to the monitor. start() sets connect_timeout to what is
    /// left of start_timeout and turns retry_connect off: with Monitor::socket_path it retries by
    /// itself, checking the process between attempts.
    ClientOptions client;

    /// Bound on start(): exec, the greeting and negotiation (with Monitor::socket_path also the
    /// socket appearing and the connection).
    std::chrono::milliseconds start_timeout{std::chrono::seconds(20)};

    /// Bound on each stage of shutdown() and of the destructor: `quit` and the wait for the
    /// exit, the wait after SIGTERM, and the wait after SIGKILL. shutdown() thus takes at most
    /// three times this, the destructor twice.
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(5)};

    /// Ask the kernel to SIGKILL the process when the *thread* that called start() exits
    /// (PR_SET_PDEATHSIG), so a crashed test run leaves no QEMU behind. Turn off when starting a
    /// long-lived QEMU from a short-lived thread.
    bool kill_with_parent = true;

    /// Options for qemu-storage-daemon: no default arguments.
    static MachineOptions storage_daemon();
};

/// A QEMU process started by this program, with a Client connected to its QMP monitor, and a
/// private temporary directory (mode 0700) for its files.
///
///     qmp::Machine vm;                       // qemu-system-x86_64 -machine none ...
///     qmp::Client& client = vm.start();
///     client.execute("stop");
///     vm.shutdown();                         // or let the destructor clean up
///
/// By default the monitor is one end of a socket pair, the client holds the other
/// (MachineOptions::Monitor::socketpair); with MachineOptions::Monitor::socket_path it is a unix
/// socket in the directory that other clients can connect to as well.
///
/// QEMU's stdout and stderr go to a file in the directory; stderr_output() reads it, and start()
/// includes it in its error when QEMU fails to start. The destructor always kills the process
/// (SIGTERM, then SIGKILL after shutdown_timeout), reaps it and removes the directory.
///
/// No wait for the process is unbounded. A process that cannot be reaped within
/// shutdown_timeout even after SIGKILL (stuck in uninterruptible sleep in the kernel, for
/// instance) is given up on: a warning goes to the client's logger and the Machine forgets it,
/// leaving a zombie that nothing reaps until this program exits.
///
/// \context \threadbound, except that client() returns a thread-safe Client and pid(),
/// directory() and socket_path() may be read from any thread once start() has returned.
class QMP_EXPORT Machine {
public:
    /// A machine with default options (qemu-system-x86_64 -machine none). Nothing is started yet.
    Machine();
    /// A machine that will run what \p options say. Nothing is started yet.
    explicit Machine(MachineOptions options);
    /// Kills the process if it still runs, reaps it and removes the directory. Takes at most
    /// twice shutdown_timeout (SIGTERM and a wait, SIGKILL and a wait).
    ~Machine();

    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    /// Creates the directory, starts the process, connects to its monitor and negotiates, all
    /// within start_timeout.
    /// \returns the connected client (the same as client()).
    /// \throws ConnectError when the process cannot be started, exits early (the message names
    /// its exit status), or does not answer within start_timeout; the message quotes the command
    /// line and the end of QEMU's stderr. Everything is cleaned up in that case.
    /// \throws UsageError if already started (a Machine starts its process once; after a failed
    /// start() it may be called again).
    Client& start();

    /// The client connected to the monitor.
    /// \throws UsageError before start().
    Client& client();

    /// Sends `quit` and waits for the process to exit; after shutdown_timeout sends SIGTERM, after
    /// another shutdown_timeout SIGKILL, and waits at most a third shutdown_timeout for that.
    /// When client() is not connected (you disconnected it, or QEMU closed the monitor), SIGTERM
    /// comes at once: QEMU shuts down as cleanly on it as on `quit`.
    /// Reaps the process and removes the directory. Takes at most three times shutdown_timeout
    /// (plus scheduling delays), however the process behaves; if it could not be reaped by then
    /// it is abandoned (see the class description) and pid() is 0 afterwards.
    /// \returns the exit status as from waitpid() (see WIFEXITED etc.), or -1 if not running,
    /// already reaped, or abandoned.
    int shutdown();

    /// Sends \p signal to the process (tests use SIGKILL to simulate a crash). Does not reap.
    void kill(int signal);

    /// Waits at most \p timeout for the process to exit and reaps it.
    /// \returns true if it has exited.
    bool wait_exit(std::chrono::milliseconds timeout);

    /// The process id; 0 before start() and after it was reaped.
    pid_t pid() const;

    /// True while the process runs (started and not yet reaped).
    bool running();

    /// The private temporary directory; also the place for other sockets and files of this
    /// machine (it is removed with it).
    const std::string& directory() const;

    /// Path of the QMP monitor's unix socket with MachineOptions::Monitor::socket_path (set by a
    /// successful start()); an empty string with MachineOptions::Monitor::socketpair, where there
    /// is no socket file, and before start().
    const std::string& socket_path() const;

    /// What QEMU wrote to stdout and stderr so far.
    std::string stderr_output() const;

private:
    class QMP_NO_EXPORT Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace qmp
