// SPDX-License-Identifier: MIT
#include "transport.hpp"

#include <cerrno>
#include <cstring>
#include <memory>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace qmp::detail {

namespace {

void set_tcp_options(int fd, const TcpSettings& tcp)
{
    const int one = 1; // requests are small and latency matters
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tcp.keepalive.count() <= 0)
        return;
    // A peer that vanishes without FIN or RST (a host that lost power, a dropped route) is
    // noticed after about 2x keepalive: probes after keepalive idle, then 3 more, and written
    // data unacknowledged for as long fails the socket (TCP_USER_TIMEOUT).
    const int idle = static_cast<int>(tcp.keepalive.count());
    const int interval = idle / 3 > 0 ? idle / 3 : 1;
    const int count = 3;
    const unsigned user_timeout = static_cast<unsigned>(2 * idle) * 1000u;
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
}

Fd connect_one(const sockaddr* addr, socklen_t len, int family, const TcpSettings& tcp,
    Clock::time_point deadline, Canceller& cancel, const std::string& what)
{
    Fd fd = stream_socket(family);
    if (family != AF_UNIX)
        set_tcp_options(fd.get(), tcp);
    if (::connect(fd.get(), addr, len) == 0)
        return fd;
    if (family == AF_UNIX && errno == EAGAIN)
        // Not "in progress": a unix connect either completes or fails at once, and EAGAIN means
        // the listener's accept queue is full (it is not accepting, or not fast enough).
        throw TransportError(
            EAGAIN, "cannot connect to " + what + ": the listener's backlog is full");
    if (errno != EINPROGRESS && errno != EINTR)
        throw TransportError(errno, "cannot connect to " + what + ": " + error_text(errno));
    wait_or_throw(fd.get(), POLLOUT, cancel, deadline, "connecting to " + what);
    int error = 0;
    socklen_t size = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0)
        throw TransportError(error, "cannot connect to " + what + ": " + error_text(error));
    return fd;
}

using AddressList = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

// A name lookup on a thread of its own, so that the caller can give up at its deadline:
// getaddrinfo() itself has no timeout. The thread owns its share of this and finishes alone.
struct Lookup {
    std::string host, port;
    Fd done = make_eventfd();
    int rc = 0;
    addrinfo* found = nullptr;
    ~Lookup()
    {
        if (found)
            ::freeaddrinfo(found);
    }
};

AddressList resolve(
    const Address& address, Clock::time_point deadline, Canceller& cancel, const std::string& what)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV; // an IP address needs no lookup
    addrinfo* found = nullptr;
    if (::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &found) == 0)
        return AddressList(found, &::freeaddrinfo);

    auto lookup = std::make_shared<Lookup>();
    lookup->host = address.host;
    lookup->port = address.port;
    hints.ai_flags = 0;
    std::thread([lookup, hints] {
        lookup->rc =
            ::getaddrinfo(lookup->host.c_str(), lookup->port.c_str(), &hints, &lookup->found);
        signal_eventfd(lookup->done);
    }).detach();
    wait_or_throw(lookup->done.get(), POLLIN, cancel, deadline, "resolving " + what);
    if (lookup->rc != 0)
        throw TransportError(
            EHOSTUNREACH, "cannot resolve " + what + ": " + ::gai_strerror(lookup->rc));
    found = lookup->found;
    lookup->found = nullptr; // the eventfd's write ordered the thread's stores before our read
    return AddressList(found, &::freeaddrinfo);
}

} // namespace

Fd make_eventfd()
{
    Fd event(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!event)
        throw TransportError(errno, "cannot create an eventfd: " + error_text(errno));
    return event;
}

void signal_eventfd(const Fd& event) noexcept
{
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(event.get(), &one, sizeof one);
}

Fd stream_socket(int family)
{
    Fd socket(::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!socket)
        throw TransportError(errno, "cannot create a socket: " + error_text(errno));
    return socket;
}

sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        throw TransportError(ENAMETOOLONG,
            "socket path is longer than " + std::to_string(sizeof addr.sun_path - 1) +
                " bytes: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

Canceller::Canceller() : event_(make_eventfd())
{
}

void Canceller::cancel() noexcept
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        cancelled_ = true;
    }
    signal_eventfd(event_);
    wake_.notify_all();
}

bool Canceller::cancelled() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return cancelled_;
}

bool Canceller::sleep_until(Clock::time_point deadline)
{
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_until(lock, deadline, [this] { return cancelled_; });
    return !cancelled_;
}

void wait_or_throw(int fd, short events, const Canceller& cancel, Clock::time_point deadline,
    const std::string& what)
{
    for (;;) {
        pollfd fds[2] = {{fd, events, 0}, {cancel.fd(), POLLIN, 0}};
        const int n = ::poll(fds, 2, poll_timeout(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (fds[1].revents != 0)
            throw TransportError(ECANCELED, "cancelled while " + what);
        if (n == 0)
            throw TransportError(ETIMEDOUT, "timed out " + what);
        return; // ready, or an error the following call reports
    }
}

bool is_not_ready_error(int error)
{
    return error == ENOENT || error == ECONNREFUSED || error == EAGAIN;
}

Fd connect_socket(
    const Address& address, const TcpSettings& tcp, Clock::time_point deadline, Canceller& cancel)
{
    const std::string what = address.to_string();
    if (address.kind == Address::Kind::unix_socket) {
        sockaddr_un addr = unix_address(address.path);
        return connect_one(
            reinterpret_cast<sockaddr*>(&addr), sizeof addr, AF_UNIX, tcp, deadline, cancel, what);
    }
    const AddressList list = resolve(address, deadline, cancel, what);
    TransportError last(ECONNREFUSED, "cannot connect to " + what);
    for (const addrinfo* ai = list.get(); ai; ai = ai->ai_next) {
        try {
            return connect_one(
                ai->ai_addr, ai->ai_addrlen, ai->ai_family, tcp, deadline, cancel, what);
        } catch (const TransportError& e) {
            last = e;
            if (e.error() == ETIMEDOUT || e.error() == ECANCELED)
                break;
        }
    }
    throw last;
}

// ---- a connected socket ----------------------------------------------------------------------

Transport::Transport(Fd socket, std::string peer)
    : socket_(std::move(socket)), peer_(std::move(peer)), is_unix_(false)
{
    sockaddr_storage local{};
    socklen_t size = sizeof local;
    if (::getsockname(socket_.get(), reinterpret_cast<sockaddr*>(&local), &size) == 0)
        is_unix_ = local.ss_family == AF_UNIX;
}

Transport::Ready Transport::wait(bool want_write, int wake_fd, Clock::time_point deadline) const
{
    for (;;) {
        pollfd fds[2] = {
            {socket_.get(), static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0},
            {wake_fd, POLLIN, 0}};
        const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, poll_timeout(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        Ready ready;
        // An error or hang-up is "readable": the next receive() tells which.
        ready.readable = (fds[0].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
        ready.writable = (fds[0].revents & POLLOUT) != 0;
        ready.woken = wake_fd >= 0 && fds[1].revents != 0;
        return ready;
    }
}

ssize_t Transport::receive(char* buffer, std::size_t size)
{
    for (;;) {
        const ssize_t n = ::recv(socket_.get(), buffer, size, MSG_DONTWAIT);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

ssize_t Transport::send_some(const char* data, std::size_t size, int pass_fd)
{
    iovec iov{const_cast<char*>(data), size};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(header), &pass_fd, sizeof(int));
    }
    for (;;) {
        const ssize_t n = ::sendmsg(socket_.get(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

void Transport::shutdown() noexcept
{
    ::shutdown(socket_.get(), SHUT_RDWR);
}

} // namespace qmp::detail
