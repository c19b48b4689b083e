// SPDX-License-Identifier: MIT
#include "socket_wait.hpp"

#include <qmp/error.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::testing::detail {

using Clock = std::chrono::steady_clock;

Pipe::Pipe()
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw Error("qmp: fake: pipe: " + qmp::detail::error_text(errno));
    read_end = qmp::detail::Fd(fds[0]);
    write_end = qmp::detail::Fd(fds[1]);
}

Woken wait_on(int fd, short events, int stop_fd, int wake_fd, std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        int wait_ms = -1;
        if (timeout.count() >= 0) {
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            // Round up, so that a wait never ends before its deadline.
            wait_ms = static_cast<int>(std::max<long long>(left.count() + 1, 0));
            if (left.count() < 0)
                wait_ms = 0;
        }
        pollfd fds[3] = {{fd, events, 0}, {stop_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        const int n = ::poll(fds, 3, wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return Woken::stop; // cannot wait: give up rather than spin
        }
        if (stop_fd >= 0 && fds[1].revents)
            return Woken::stop;
        if (wake_fd >= 0 && fds[2].revents)
            return Woken::wake;
        if (fd >= 0 && fds[0].revents)
            return Woken::ready;
        if (n == 0 && timeout.count() >= 0 && Clock::now() >= deadline)
            return Woken::timeout;
    }
}

qmp::detail::Fd listen_unix(const std::string& path)
{
    sockaddr_un address{};
    if (path.size() >= sizeof address.sun_path)
        throw Error("qmp: fake: socket path too long for a unix socket (set TMPDIR to a "
                    "shorter directory): " +
            path);
    qmp::detail::Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd)
        throw Error("qmp: fake: socket: " + qmp::detail::error_text(errno));
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd.get(), 16) != 0)
        throw Error("qmp: fake: cannot listen on " + path + ": " + qmp::detail::error_text(errno));
    return fd;
}

Woken send_all(
    int fd, std::string_view bytes, int stop_fd, int wake_fd, std::chrono::milliseconds timeout)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n =
            ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return Woken::timeout; // the peer is gone
        const Woken woken = wait_on(fd, POLLOUT, stop_fd, wake_fd, timeout);
        if (woken != Woken::ready)
            return woken;
    }
    return Woken::ready;
}

} // namespace qmp::testing::detail
