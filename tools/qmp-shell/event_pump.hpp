// SPDX-License-Identifier: MIT
// Turns the client's blocking event queue into something poll() can wait on, so the interactive
// loop can wait for keystrokes, events and Ctrl-C at once.
#pragma once

#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <qmp/qmp.hpp>

namespace qmp_shell {

// A thread that pops events from the client and queues them here, making fd() readable.
// When the connection ends it records why and makes fd() readable too.
// Thread safety: fd(), take() and ended() are for the thread that owns the pump.
class EventPump {
public:
    explicit EventPump(qmp::Client& client);
    // Joins the thread: disconnect the client first (or let it end), or this waits for that.
    ~EventPump();
    EventPump(const EventPump&) = delete;
    EventPump& operator=(const EventPump&) = delete;

    int fd() const { return pipe_[0]; }
    // Every event received so far, oldest first; clears fd()'s readiness.
    std::deque<qmp::Event> take();
    // Why the connection ended, once it has.
    std::optional<std::string> ended();

private:
    void run();
    void notify();

    qmp::Client& client_;
    int pipe_[2] = {-1, -1};
    std::mutex mutex_;
    std::deque<qmp::Event> events_;
    std::optional<std::string> ended_;
    std::thread thread_;
};

} // namespace qmp_shell
