// SPDX-License-Identifier: MIT
// The thread that reads a client's sessions, one after the other.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace qmp::detail {

class Session;

/// Reads each session a client hands it until that session ends, then waits for the next. It
/// starts with the first session and is parked between sessions, so that a new connection costs
/// no thread creation (measured: most of what connecting cost beyond the peer's own time).
///
/// Thread safety: every member is thread-safe. The destructor stops and joins the thread (or,
/// when the last owner lets go on the thread itself, lets it finish alone).
class ReaderThread {
public:
    ReaderThread() = default;
    ~ReaderThread();
    ReaderThread(const ReaderThread&) = delete;
    ReaderThread& operator=(const ReaderThread&) = delete;

    /// Reads \p session (Session::read_loop()) from now until it ends. The previous session must
    /// be done (wait_done()).
    void serve(std::shared_ptr<Session> session);

    /// Waits until the thread is done with \p session (it ended and was let go). Returns at once
    /// when called on the thread itself.
    void wait_done(const Session* session);

private:
    // Shared with the thread, which may outlive this object by a moment (see the destructor).
    struct State {
        std::mutex mutex;
        std::condition_variable changed;
        std::shared_ptr<Session> next;
        const Session* current = nullptr;
        bool stop = false;
    };
    static void run(const std::shared_ptr<State>& state);

    const std::shared_ptr<State> state_ = std::make_shared<State>();
    std::mutex thread_mutex_; // guards thread_
    std::thread thread_;
};

} // namespace qmp::detail
