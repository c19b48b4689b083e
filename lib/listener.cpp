// SPDX-License-Identifier: MIT
#include "listener.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <random>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::detail {

namespace {

// Whether a process listens at \p path: a stale socket file refuses connections.
bool someone_listens(const std::string& path)
{
    const sockaddr_un addr = unix_address(path);
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe)
        return false;
    return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
        errno == EAGAIN;
}

// A free-looking name for binding before the rename into \p path: in the same directory
// (rename() stays within the file system), never longer than a socket path may be, so that
// every path that fits fits with it. Bind retries on a clash.
std::string temporary_name(const std::string& path, std::random_device& random)
{
    constexpr std::size_t longest = sizeof(sockaddr_un::sun_path) - 1;
    static constexpr char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    const auto slash = path.rfind('/');
    const std::string directory = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    if (directory.size() >= longest) // only "DIR/" fills it: no name at all
        throw TransportError(EINVAL, "not a socket path (no file name): " + path);
    const std::size_t room = longest - directory.size();
    std::string name;
    do {
        name = room >= 2 ? directory + "." : directory; // hidden where there is room
        const std::size_t length = room >= 2 ? std::min<std::size_t>(12, room - 1) : room;
        for (std::size_t i = 0; i < length; ++i)
            name += alphabet[random() % (sizeof alphabet - 1)];
    } while (name == path);
    return name;
}

Listening listen_unix(const std::string& path)
{
    unix_address(path); // too long: say so, naming the path given
    struct stat existing { };
    if (::lstat(path.c_str(), &existing) == 0) {
        if (!S_ISSOCK(existing.st_mode))
            throw TransportError(EEXIST, path + " exists and is not a socket");
        if (someone_listens(path))
            throw TransportError(EADDRINUSE, "another process listens at " + path);
        ::unlink(path.c_str()); // left by a process that is gone
    }
    // Bound under a random name, made private, then renamed into place: nobody but the owner
    // can connect at any moment (a unix socket file's mode decides who may connect).
    Listening listening;
    listening.socket = stream_socket(AF_UNIX);
    std::random_device random;
    std::string temporary;
    for (int attempt = 0;; ++attempt) {
        temporary = temporary_name(path, random);
        const sockaddr_un addr = unix_address(temporary);
        if (::bind(listening.socket.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) ==
            0)
            break;
        if (errno != EADDRINUSE || attempt == 15)
            throw TransportError(errno, "cannot bind " + path + ": " + error_text(errno));
    }
    if (::chmod(temporary.c_str(), 0600) != 0 || ::listen(listening.socket.get(), 16) != 0 ||
        ::rename(temporary.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(temporary.c_str());
        throw TransportError(error, "cannot listen at " + path + ": " + error_text(error));
    }
    listening.address = "unix:" + path;
    listening.path = path;
    return listening;
}

Listening listen_tcp(const Address& address)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &found);
    if (rc != 0)
        throw TransportError(
            EHOSTUNREACH, "cannot resolve " + address.to_string() + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
    Listening listening;
    listening.socket = stream_socket(found->ai_family);
    const int one = 1;
    ::setsockopt(listening.socket.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listening.socket.get(), found->ai_addr, found->ai_addrlen) != 0 ||
        ::listen(listening.socket.get(), 16) != 0)
        throw TransportError(
            errno, "cannot listen at " + address.to_string() + ": " + error_text(errno));
    // Port 0 asks the kernel for a free one: the address says which.
    sockaddr_storage bound{};
    socklen_t size = sizeof bound;
    ::getsockname(listening.socket.get(), reinterpret_cast<sockaddr*>(&bound), &size);
    char host[INET6_ADDRSTRLEN] = {};
    char port[16] = {};
    ::getnameinfo(reinterpret_cast<sockaddr*>(&bound), size, host, sizeof host, port, sizeof port,
        NI_NUMERICHOST | NI_NUMERICSERV);
    Address resolved;
    resolved.kind = Address::Kind::tcp;
    resolved.host = host;
    resolved.port = port;
    listening.address = resolved.to_string();
    return listening;
}

// Whether the peer of a connection just accepted has already gone without sending a byte: a
// connection that waited in the backlog after its peer closed it, such as the liveness probe of
// someone_listens() run by another Server at the same path. Handing it to a Client would fail
// its accept() ("ended before the greeting") instead of waiting for the next, real peer.
bool hung_up_silently(int connection)
{
    char byte;
    const ssize_t n = ::recv(connection, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

} // namespace

Listening listen_at(const Address& address)
{
    return address.kind == Address::Kind::unix_socket ? listen_unix(address.path)
                                                      : listen_tcp(address);
}

std::optional<PeerCredentials> peer_credentials(int socket)
{
    ucred credentials{};
    socklen_t size = sizeof credentials;
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0 ||
        size != sizeof credentials)
        return std::nullopt;
    sockaddr_storage local{};
    socklen_t local_size = sizeof local;
    if (::getsockname(socket, reinterpret_cast<sockaddr*>(&local), &local_size) != 0 ||
        local.ss_family != AF_UNIX)
        return std::nullopt;
    return PeerCredentials{credentials.pid, credentials.uid};
}

Fd accept_connection(int listening, Clock::time_point deadline, Canceller& cancel)
{
    for (;;) {
        wait_or_throw(listening, POLLIN, cancel, deadline, "waiting for a connection");
        Fd connection(::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC));
        if (connection) {
            if (!hung_up_silently(connection.get()))
                return connection;
            continue;
        }
        // Gone before we took it, or interrupted: wait for the next one.
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            throw TransportError(errno, "cannot accept a connection: " + error_text(errno));
    }
}

} // namespace qmp::detail
