// SPDX-License-Identifier: MIT
#include "accept_loop.hpp"

#include <qmp/error.hpp>

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

#include "socket_wait.hpp"

namespace qmp::testing::detail {

AcceptLoop::AcceptLoop(
    const std::string& socket_name, Serve serve, bool non_blocking, bool listen_now)
    : directory_(qmp::detail::TemporaryDirectory::create()),
      path_(directory_.path() + "/" + socket_name),
      serve_(std::move(serve)),
      non_blocking_(non_blocking)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw Error("qmp: fake: pipe: " + qmp::detail::error_text(errno));
    stop_read_ = qmp::detail::Fd(fds[0]);
    stop_write_ = qmp::detail::Fd(fds[1]);
    if (listen_now)
        listen();
}

AcceptLoop::~AcceptLoop()
{
    stop();
}

void AcceptLoop::listen()
{
    if (listen_fd_)
        return;
    listen_fd_ = listen_unix(path_);
    thread_ = std::thread([this] { run(); });
}

void AcceptLoop::stop()
{
    if (::write(stop_write_.get(), "s", 1) < 0) {
        // Full: stopped already. Nothing else can be done in a destructor anyway.
    }
    if (thread_.joinable())
        thread_.join();
}

void AcceptLoop::run()
{
    const std::chrono::milliseconds forever{-1};
    for (;;) {
        if (wait_on(listen_fd_.get(), POLLIN, stop_fd(), -1, forever) == Woken::stop)
            return;
        const int fd = ::accept4(
            listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | (non_blocking_ ? SOCK_NONBLOCK : 0));
        if (fd < 0)
            continue;
        serve_(fd);
        pollfd stopped{stop_fd(), POLLIN, 0};
        if (::poll(&stopped, 1, 0) > 0)
            return;
    }
}

} // namespace qmp::testing::detail
