// SPDX-License-Identifier: MIT
// What every fake peer does around its conversations: a unix socket in a private directory, a
// thread that accepts one client at a time and serves it, and a stop that ends all of it
// promptly. Used by the Engine behind qmp::testing's fakes and by qmp's own scripted test peer.
#pragma once

#include <functional>
#include <string>
#include <thread>

#include "fd.hpp"
#include "temporary_directory.hpp"

namespace qmp::testing::detail {

/// Thread safety: thread-bound; stop_fd() and path() may be read from any thread.
class AcceptLoop {
public:
    /// Called on the loop's thread with each accepted connection, which it then owns; the next
    /// client is accepted once it returns. It must watch stop_fd() in its waits.
    using Serve = std::function<void(int fd)>;

    /// Creates a private directory with \p socket_name as the socket's path in it, and listens
    /// there at once unless \p listen_now is false (see listen()). Accepted sockets are
    /// non-blocking if \p non_blocking. \throws qmp::Error.
    AcceptLoop(
        const std::string& socket_name, Serve serve, bool non_blocking, bool listen_now = true);
    /// stop().
    ~AcceptLoop();
    AcceptLoop(const AcceptLoop&) = delete;
    AcceptLoop& operator=(const AcceptLoop&) = delete;

    /// Starts listening and accepting (once). \throws qmp::Error.
    void listen();
    /// Makes stop_fd() readable and waits for the thread to end. Idempotent.
    void stop();

    const std::string& path() const { return path_; }
    const std::string& directory() const { return directory_.path(); }
    /// Readable once stop() was called: every wait of a Serve watches it.
    int stop_fd() const { return stop_read_.get(); }

private:
    void run();

    qmp::detail::TemporaryDirectory directory_;
    std::string path_;
    Serve serve_;
    bool non_blocking_;
    qmp::detail::Fd listen_fd_;
    qmp::detail::Fd stop_read_, stop_write_;
    std::thread thread_;
};

} // namespace qmp::testing::detail
