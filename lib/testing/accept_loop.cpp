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

AcceptLoop::AcceptLoop(const std::string& socket_name, Serve serve)
    : directory_(qmp::detail::TemporaryDirectory::create()),
      path_(directory_.path() + "/" + socket_name),
      serve_(std::move(serve))
{
    listen_fd_ = listen_unix(path_);
    thread_ = std::thread([this] { run(); });
}

AcceptLoop::~AcceptLoop()
{
    stop();
}

void AcceptLoop::hand_over(int fd)
{
    qmp::detail::Fd owned(fd);
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        throw Error(
            "qmp: fake: cannot use the socket handed over: " + qmp::detail::error_text(errno));
    std::lock_guard<std::mutex> lock(handed_mutex_);
    if (stopped_)
        return; // closes it
    waiting_.push_back(std::move(owned));
    if (::write(handed_.write_end.get(), "h", 1) < 0) {
        // Full: the thread has wake-ups pending already.
    }
}

int AcceptLoop::take_handed()
{
    std::lock_guard<std::mutex> lock(handed_mutex_);
    if (waiting_.empty()) {
        char drained[64];
        while (::read(handed_.read_end.get(), drained, sizeof drained) > 0) { }
        return -1;
    }
    const int fd = waiting_.front().release();
    waiting_.pop_front();
    return fd;
}

void AcceptLoop::stop()
{
    {
        std::lock_guard<std::mutex> lock(handed_mutex_);
        stopped_ = true;
        waiting_.clear();
    }
    if (::write(stop_.write_end.get(), "s", 1) < 0) {
        // Full: stopped already. Nothing else can be done in a destructor anyway.
    }
    if (thread_.joinable())
        thread_.join();
    std::lock_guard<std::mutex> lock(handed_mutex_);
    waiting_.clear(); // handed over while the thread ended
}

void AcceptLoop::run()
{
    for (;;) {
        const Woken woken =
            wait_on(listen_fd_.get(), POLLIN, stop_fd(), handed_.read_end.get(), forever);
        if (woken == Woken::stop)
            return;
        int fd = -1;
        if (woken == Woken::wake)
            fd = take_handed();
        else
            fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;
        serve_(fd);
        pollfd stopped{stop_fd(), POLLIN, 0};
        if (::poll(&stopped, 1, 0) > 0)
            return;
    }
}

} // namespace qmp::testing::detail
