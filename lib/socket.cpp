// SPDX-License-Identifier: MIT
#include "socket.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::detail {

Fd& Fd::operator=(Fd&& other) noexcept
{
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

int Fd::release() noexcept
{
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void Fd::reset() noexcept
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

std::string error_text(int error)
{
    char buffer[256];
    // GNU strerror_r returns a pointer that may or may not be `buffer`.
    return ::strerror_r(error, buffer, sizeof buffer);
}

namespace {

int remaining_ms(Clock::time_point deadline)
{
    if (deadline == Clock::time_point::max())
        return -1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
        return 0;
    return left.count() > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left.count());
}

// Waits for \p events on \p fd until \p deadline; false on timeout. Retries EINTR.
bool wait_for(int fd, short events, Clock::time_point deadline)
{
    for (;;) {
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, remaining_ms(deadline));
        if (n > 0)
            return true;
        if (n == 0)
            return false;
        if (errno != EINTR)
            return true; // let the following call report the real error
    }
}

void set_blocking(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

Fd connect_one(const sockaddr* addr, socklen_t len, int family, Clock::time_point deadline,
    const std::string& what)
{
    Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd)
        throw SocketError(errno, "cannot create a socket: " + error_text(errno));
    if (family != AF_UNIX) {
        const int one = 1; // requests are small and latency matters
        ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    if (::connect(fd.get(), addr, len) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR)
            throw SocketError(errno, "cannot connect to " + what + ": " + error_text(errno));
        if (!wait_for(fd.get(), POLLOUT, deadline))
            throw SocketError(ETIMEDOUT, "timed out connecting to " + what);
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0)
            throw SocketError(error, "cannot connect to " + what + ": " + error_text(error));
    }
    set_blocking(fd.get());
    return fd;
}

} // namespace

bool is_not_ready_error(int error)
{
    return error == ENOENT || error == ECONNREFUSED || error == EAGAIN;
}

Fd connect_stream(const Address& address, Clock::time_point deadline)
{
    const std::string what = address.to_string();
    if (address.kind == Address::Kind::unix_socket) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (address.path.size() >= sizeof addr.sun_path)
            throw SocketError(ENAMETOOLONG,
                "socket path is longer than " + std::to_string(sizeof addr.sun_path - 1) +
                    " bytes: " + address.path);
        std::memcpy(addr.sun_path, address.path.c_str(), address.path.size() + 1);
        return connect_one(
            reinterpret_cast<sockaddr*>(&addr), sizeof addr, AF_UNIX, deadline, what);
    }

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &found);
    if (rc != 0)
        throw SocketError(EHOSTUNREACH, "cannot resolve " + what + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
    SocketError last(ECONNREFUSED, "cannot connect to " + what);
    for (const addrinfo* ai = found; ai; ai = ai->ai_next) {
        try {
            return connect_one(ai->ai_addr, ai->ai_addrlen, ai->ai_family, deadline, what);
        } catch (const SocketError& e) {
            last = e;
            if (e.error() == ETIMEDOUT)
                break;
        }
    }
    throw last;
}

namespace {

// The first bytes of a request, with \p pass_fd attached as ancillary data.
ssize_t send_with_fd(int fd, const char* data, std::size_t size, int pass_fd)
{
    iovec iov{const_cast<char*>(data), size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(header), &pass_fd, sizeof(int));
    return ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
}

} // namespace

SendResult send_all(int fd, const char* data, std::size_t size, Clock::time_point deadline,
    std::size_t& sent, int& error, int pass_fd)
{
    sent = 0;
    while (sent < size) {
        const ssize_t n = sent == 0 && pass_fd >= 0
            ? send_with_fd(fd, data, size, pass_fd)
            : ::send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            error = errno;
            return SendResult::failed;
        }
        if (!wait_for(fd, POLLOUT, deadline))
            return SendResult::timeout;
    }
    return SendResult::done;
}

void shutdown_socket(int fd) noexcept
{
    if (fd >= 0)
        ::shutdown(fd, SHUT_RDWR);
}

} // namespace qmp::detail
