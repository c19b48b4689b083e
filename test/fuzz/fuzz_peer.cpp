// SPDX-License-Identifier: MIT
#include "fuzz_peer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace qmp::fuzz {

void wait_readable(int fd, const char* what)
{
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(peer_patience.count() * 1000));
        if (n > 0)
            return;
        if (n < 0 && errno == EINTR)
            continue;
        fail(std::string("fuzz peer: nothing from the client while waiting for ") + what);
    }
}

void wait_for_close(int fd)
{
    for (;;) {
        wait_readable(fd, "the client to close the connection");
        char chunk[4096];
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EINTR))
            return;
    }
}

void send_all(int fd, std::string_view bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // the client closed first (e.g. after a protocol error)
        sent += static_cast<std::size_t>(n);
    }
}

void fail(const std::string& what)
{
    std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s\n", what.c_str());
    std::fflush(stderr);
    std::abort();
}

PeerConnection::~PeerConnection()
{
    ::close(fd_);
}

void PeerConnection::send(std::string_view bytes)
{
    send_all(fd_, bytes);
}

json PeerConnection::read_message()
{
    while (received_.empty()) {
        wait_readable(fd_, "a request");
        char chunk[4096];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EINTR))
            return nullptr;
        if (n > 0)
            framer_.feed(chunk, static_cast<std::size_t>(n),
                [this](std::string_view text) { received_.push_back(json::parse(text)); });
    }
    json message = std::move(received_.front());
    received_.pop_front();
    return message;
}

void PeerConnection::shut_down_writing()
{
    ::shutdown(fd_, SHUT_WR);
}

void PeerConnection::wait_for_close()
{
    fuzz::wait_for_close(fd_);
}

PeerListener::PeerListener(const std::string& socket_name)
{
    std::string tmpl = std::filesystem::temp_directory_path() / "qmp-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
        fail("mkdtemp failed");
    directory_ = tmpl;
    const std::string path = directory_ + "/" + socket_name;
    address_ = "unix:" + path;
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 4) != 0)
        fail(std::string("cannot listen: ") + std::strerror(errno));
}

PeerListener::~PeerListener()
{
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
}

int PeerListener::accept_one()
{
    wait_readable(fd_, "a connection");
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
        fail(std::string("accept failed: ") + std::strerror(errno));
    return fd;
}

std::thread PeerListener::serve_one(std::function<void(PeerConnection&)> script)
{
    return std::thread([this, script = std::move(script)] {
        try {
            PeerConnection connection(accept_one());
            script(connection);
        } catch (const std::exception& e) {
            fail(std::string("fuzz peer script threw: ") + e.what());
        }
    });
}

} // namespace qmp::fuzz
