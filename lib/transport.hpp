// SPDX-License-Identifier: MIT
// The transport layer: a connected byte stream (unix or TCP socket) and how one is made.
// Everything above it sees bytes, a way to pass a file descriptor, and a way to wake a reader.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>
#include <sys/types.h>
#include <sys/un.h>

#include "address.hpp"
#include "deadline.hpp"
#include "fd.hpp"

namespace qmp::detail {

/// A failed connection attempt. The message has no "qmp:" prefix (the caller adds one); errno
/// tells "not there yet" apart from the rest.
class TransportError : public std::runtime_error {
public:
    TransportError(int error, const std::string& message)
        : std::runtime_error(message), error_(error)
    {
    }
    int error() const { return error_; }

private:
    int error_;
};

/// A non-blocking, close-on-exec eventfd: a way to wake a thread in poll().
/// \throws TransportError
Fd make_eventfd();
/// Makes the eventfd \p event readable.
void signal_eventfd(const Fd& event) noexcept;

/// A non-blocking, close-on-exec stream socket of \p family.
/// \throws TransportError
Fd stream_socket(int family);

/// The address of the unix socket at \p path.
/// \throws TransportError (ENAMETOOLONG) when the path does not fit.
sockaddr_un unix_address(const std::string& path);

/// Lets one thread end another's connection attempt at once: every wait of connect_socket()
/// and wait_or_throw() also watches it.
///
/// Thread safety: every member is thread-safe.
class Canceller {
public:
    Canceller();
    void cancel() noexcept;
    bool cancelled() const;
    /// Becomes readable once cancelled, for poll().
    int fd() const { return event_.get(); }
    /// Sleeps until \p deadline; false when cancelled first.
    bool sleep_until(Clock::time_point deadline);

private:
    Fd event_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool cancelled_ = false;
};

/// TCP settings of a connection; unix sockets ignore them.
struct TcpSettings {
    /// Idle time before keepalive probes start (0: no keepalive and no user timeout).
    std::chrono::seconds keepalive{0};
};

/// Connects a stream socket to \p address before \p deadline, host name resolution included.
/// \throws TransportError (ETIMEDOUT when the deadline passed, ECANCELED when cancelled,
/// EAGAIN when a unix listener's backlog is full).
Fd connect_socket(
    const Address& address, const TcpSettings& tcp, Clock::time_point deadline, Canceller& cancel);

/// Waits until \p fd has \p events, \p cancel is cancelled, or \p deadline passes.
/// \throws TransportError (ETIMEDOUT, ECANCELED) naming \p what ("connecting to X").
void wait_or_throw(int fd, short events, const Canceller& cancel, Clock::time_point deadline,
    const std::string& what);

/// Whether a connect failure means "the server is not there yet" (worth retrying).
bool is_not_ready_error(int error);

/// A connected stream socket: unix or TCP, found from the socket itself.
///
/// Thread safety: receive() is used by one thread (the reader), send_some() by one thread at a
/// time; shutdown() may be called from any thread at any time and wakes both.
class Transport {
public:
    Transport(Fd socket, std::string peer);

    /// Waits until the socket is readable, \p wake_fd is readable, \p want_write and the socket
    /// is writable, or \p deadline passes. Retries EINTR.
    struct Ready {
        bool readable = false;
        bool writable = false;
        bool woken = false;
    };
    Ready wait(bool want_write, int wake_fd, Clock::time_point deadline) const;

    /// Reads what is there without waiting: > 0 bytes, 0 at the end of the stream, -1 with errno
    /// (EAGAIN: nothing yet).
    ssize_t receive(char* buffer, std::size_t size);

    /// Writes what fits without waiting; \p pass_fd (>= 0) travels with the first byte
    /// (SCM_RIGHTS). \returns the bytes written, or -1 with errno (EAGAIN: no room).
    ssize_t send_some(const char* data, std::size_t size, int pass_fd);

    /// Wakes every thread blocked on the socket; it is closed only by the destructor, so its
    /// number cannot be reused under a thread still using it.
    void shutdown() noexcept;

    bool can_pass_fds() const { return is_unix_; }
    const std::string& peer() const { return peer_; }

private:
    Fd socket_;
    std::string peer_;
    bool is_unix_;
};

} // namespace qmp::detail
