// SPDX-License-Identifier: MIT
// Ctrl-C and SIGTERM without exit() from a signal handler: the program must unwind so that a
// disposable QEMU (qmp::Machine) is shut down and its directory removed by its destructor.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

namespace qmp_tools {

// Blocks SIGINT and SIGTERM in the constructing thread (and so in every thread created after it,
// including the library's reader threads and QEMU's launcher, which resets the mask for QEMU),
// and receives them with sigwait() on a thread of its own. No signal handler runs at all, so
// nothing has to be async-signal-safe and no system call of another thread fails with EINTR.
//
// On a signal it records it, makes fd() readable for good and calls the on_interrupt() action,
// which typically disconnects the client: every execute() and events().pop() blocked in the main
// thread then returns with DisconnectedError, and the main thread unwinds normally.
//
// Construct it first in main(), before any other thread exists. Thread-bound, except that fd(),
// requested() and signal_number() may be read from any thread.
class Interrupt {
public:
    Interrupt();
    ~Interrupt();
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;

    // Readable (POLLIN) once a signal has arrived, and from then on.
    int fd() const { return pipe_[0]; }
    bool requested() const { return signal_ != 0; }
    int signal_number() const { return signal_; }
    // The conventional exit status of a program stopped by the signal (130 for SIGINT).
    int exit_status() const { return 128 + signal_; }

    // While on, SIGINT (Ctrl-C) does not end the program: it only makes ctrl_c_fd() readable,
    // for an interactive shell where Ctrl-C cancels the line being typed or the command
    // running. SIGTERM still ends it. Off by default.
    void set_ctrl_c_cancels(bool on) { ctrl_c_cancels_ = on; }
    int ctrl_c_fd() const { return ctrl_c_pipe_[0]; }
    // Empties ctrl_c_fd(); returns whether Ctrl-C was pressed since the last call.
    bool take_ctrl_c();

    // Runs on the watcher thread when a signal arrives (or at once if one already has).
    // Pass an empty function to remove it before what it refers to is destroyed.
    void on_interrupt(std::function<void()> action);

    // Runs \p call (a connect or accept that blocks) so that an interrupt ends it: \p cancel
    // (e.g. disconnect()) is called when a signal arrives, and again every 10 ms until \p call
    // returns, because a cancel that comes before \p call has started waiting is lost. Removes
    // any other on_interrupt() action; set it again afterwards. Exceptions of \p call pass.
    void interruptible(const std::function<void()>& call, const std::function<void()>& cancel);

private:
    void watch();

    int pipe_[2] = {-1, -1};
    int ctrl_c_pipe_[2] = {-1, -1}; // non-blocking
    std::atomic<bool> ctrl_c_cancels_{false};
    std::atomic<int> signal_{0};
    std::mutex mutex_;
    std::function<void()> action_;
    std::thread watcher_;
};

} // namespace qmp_tools
