// SPDX-License-Identifier: MIT
// What every fake peer does around its conversations: a unix socket in a private directory, a
// thread that accepts one client at a time and serves it, and a stop that ends all of it
// promptly, and sockets handed over to be served like accepted ones.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "fd.hpp"
#include "socket_wait.hpp"
#include "temporary_directory.hpp"

namespace qmp::testing::detail {

/// Thread safety: thread-bound; stop_fd() and path() may be read from any thread.
class AcceptLoop {
public:
    /// Called on the loop's thread with each accepted connection, which it then owns; the next
    /// client is accepted once it returns. It must watch stop_fd() in its waits.
    using Serve = std::function<void(int fd)>;

    /// Creates a private directory with \p socket_name as the socket's path in it, and listens
    /// there at once. Accepted sockets are non-blocking. \throws qmp::Error.
    AcceptLoop(const std::string& socket_name, Serve serve);
    /// stop().
    ~AcceptLoop();
    AcceptLoop(const AcceptLoop&) = delete;
    AcceptLoop& operator=(const AcceptLoop&) = delete;

    /// Has the thread serve \p fd, a socket connected already, as if it had been accepted
    /// (after the connection it serves now, if any). Owns \p fd from the call on; closes it at
    /// once when stopped. \throws qmp::Error if it cannot be made non-blocking.
    void hand_over(int fd);
    /// Makes stop_fd() readable and waits for the thread to end. Idempotent.
    void stop();

    const std::string& path() const { return path_; }
    const std::string& directory() const { return directory_.path(); }
    /// Readable once stop() was called: every wait of a Serve watches it.
    int stop_fd() const { return stop_.read_end.get(); }

private:
    void run();
    /// The next handed-over socket, or -1.
    int take_handed();

    qmp::detail::TemporaryDirectory directory_;
    std::string path_;
    Serve serve_;
    qmp::detail::Fd listen_fd_;
    Pipe stop_;
    Pipe handed_; // readable while sockets wait in waiting_
    std::mutex handed_mutex_;
    std::deque<qmp::detail::Fd> waiting_;
    bool stopped_ = false; // guarded by handed_mutex_
    std::thread thread_;
};

} // namespace qmp::testing::detail
