// SPDX-License-Identifier: MIT
// The fakes' socket plumbing: a unix listener in a private directory, and waits on a socket
// that a stop pipe (the destructor) and a wake pipe (hang_up()) can interrupt.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "fd.hpp"

namespace qmp::testing::detail {

/// How long a fake waits for room to write to a client that does not read. Long enough for a
/// loaded machine under valgrind.
constexpr std::chrono::milliseconds send_timeout{5000};
/// No timeout, for waits only a stop or a wake-up ends.
constexpr std::chrono::milliseconds forever{-1};

/// A non-blocking, close-on-exec pipe, for waking up a fake's thread.
struct Pipe {
    /// \throws qmp::Error.
    Pipe();
    qmp::detail::Fd read_end, write_end;
};

/// How a wait ended.
enum class Woken { ready, timeout, stop, wake };

/// Waits until \p fd (unless -1) has \p events, \p stop_fd (unless -1) or \p wake_fd (unless -1)
/// is readable, or \p timeout passes (negative: no timeout; only for waits \p stop_fd ends).
/// Stop wins over wake, wake over ready.
Woken wait_on(int fd, short events, int stop_fd, int wake_fd, std::chrono::milliseconds timeout);

/// A unix socket listening at \p path (non-blocking, close-on-exec).
/// \throws qmp::Error when it cannot listen.
qmp::detail::Fd listen_unix(const std::string& path);

/// Writes all of \p bytes to the non-blocking socket \p fd, waiting at most \p timeout for room
/// each time the socket is full. \return Woken::ready when written, otherwise why it stopped
/// (timeout also when the peer is gone).
Woken send_all(
    int fd, std::string_view bytes, int stop_fd, int wake_fd, std::chrono::milliseconds timeout);

} // namespace qmp::testing::detail
