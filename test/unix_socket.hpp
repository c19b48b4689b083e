// SPDX-License-Identifier: MIT
// Plain unix stream sockets for tests that play the other side by hand: an address for
// bind()/connect(), and a connected socket. POSIX only, no qmp internals.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::test {

/// The address of the unix socket at \p path (cut to what sun_path holds).
inline sockaddr_un unix_address(const std::string& path)
{
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    return address;
}

/// A close-on-exec unix stream socket connected to \p path. \throws std::runtime_error naming
/// the path and errno's text.
inline int connect_unix(const std::string& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un address = unix_address(path);
    if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        if (fd >= 0)
            ::close(fd);
        throw std::runtime_error("connect " + path + ": " + std::strerror(error));
    }
    return fd;
}

} // namespace qmp::test
