// SPDX-License-Identifier: MIT
#include "interrupt.hpp"

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <pthread.h>
#include <system_error>
#include <unistd.h>

namespace qmp_tools {

namespace {

// SIGUSR1 only ever comes from ~Interrupt() to end the watcher's sigwait().
sigset_t watched_signals()
{
    sigset_t set;
    ::sigemptyset(&set);
    ::sigaddset(&set, SIGINT);
    ::sigaddset(&set, SIGTERM);
    ::sigaddset(&set, SIGUSR1);
    return set;
}

} // namespace

Interrupt::Interrupt()
{
    if (::pipe2(pipe_, O_CLOEXEC) != 0 || ::pipe2(ctrl_c_pipe_, O_CLOEXEC | O_NONBLOCK) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe2");
    // A closed stdout (qmp-shell ... | head) must end in an error we report, not a silent death
    // that skips the destructors. QEMU gets default dispositions back from qmp::Machine.
    std::signal(SIGPIPE, SIG_IGN);
    const sigset_t set = watched_signals();
    ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
    watcher_ = std::thread([this] { watch(); });
}

Interrupt::~Interrupt()
{
    ::pthread_kill(watcher_.native_handle(), SIGUSR1);
    watcher_.join();
    ::close(pipe_[0]);
    ::close(pipe_[1]);
    ::close(ctrl_c_pipe_[0]);
    ::close(ctrl_c_pipe_[1]);
}

bool Interrupt::take_ctrl_c()
{
    bool pressed = false;
    char bytes[64];
    while (::read(ctrl_c_pipe_[0], bytes, sizeof bytes) > 0)
        pressed = true;
    return pressed;
}

void Interrupt::on_interrupt(std::function<void()> action)
{
    std::function<void()> now;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        action_ = std::move(action);
        if (requested())
            now = action_;
    }
    if (now)
        now();
}

void Interrupt::interruptible(
    const std::function<void()>& call, const std::function<void()>& cancel)
{
    std::atomic<bool> done{false};
    const std::thread::id caller = std::this_thread::get_id();
    on_interrupt([&done, &cancel, caller] {
        cancel();
        if (std::this_thread::get_id() == caller)
            return; // a signal came before: on_interrupt() runs this at once, here
        while (!done) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            cancel();
        }
    });
    struct Finish {
        Interrupt& interrupt;
        std::atomic<bool>& done;
        ~Finish()
        {
            done = true; // ends the watcher's loop, so that on_interrupt() can take the mutex
            interrupt.on_interrupt({});
        }
    } finish{*this, done};
    call();
}

void Interrupt::watch()
{
    const sigset_t set = watched_signals();
    for (;;) {
        int received = 0;
        if (::sigwait(&set, &received) != 0 || received == SIGUSR1)
            return;
        if (received == SIGINT && ctrl_c_cancels_ && signal_ == 0) {
            const char byte = 1;
            [[maybe_unused]] const auto written = ::write(ctrl_c_pipe_[1], &byte, 1);
            continue;
        }
        if (signal_.exchange(received) != 0)
            continue; // a second Ctrl-C while shutting down changes nothing
        const char byte = 1;
        [[maybe_unused]] const auto written = ::write(pipe_[1], &byte, 1);
        // Called under the mutex so that on_interrupt({}) returning means the old action is
        // no longer running: the caller may then destroy what it refers to.
        std::lock_guard<std::mutex> lock(mutex_);
        if (action_)
            action_();
    }
}

} // namespace qmp_tools
