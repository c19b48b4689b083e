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

namespace {

void make_pipe(qmp::detail::Fd& read_end, qmp::detail::Fd& write_end)
{
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0)
        throw Error("qmp: fake: pipe: " + qmp::detail::error_text(errno));
    read_end = qmp::detail::Fd(fds[0]);
    write_end = qmp::detail::Fd(fds[1]);
}

} // namespace

AcceptLoop::AcceptLoop(const std::string& socket_name, Serve serve)
    : directory_(qmp::detail::TemporaryDirectory::create()),
      path_(directory_.path() + "/" + socket_name),
      serve_(std::move(serve))
{
    make_pipe(stop_read_, stop_write_);
    make_pipe(handed_read_, handed_write_);
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
    handed_.push_back(std::move(owned));
    if (::write(handed_write_.get(), "h", 1) < 0) {
        // Full: the thread has wake-ups pending already.
    }
}

int AcceptLoop::take_handed()
{
    std::lock_guard<std::mutex> lock(handed_mutex_);
    if (handed_.empty()) {
        char drained[64];
        while (::read(handed_read_.get(), drained, sizeof drained) > 0) { }
        return -1;
    }
    const int fd = handed_.front().release();
    handed_.pop_front();
    return fd;
}

void AcceptLoop::stop()
{
    {
        std::lock_guard<std::mutex> lock(handed_mutex_);
        stopped_ = true;
        handed_.clear();
    }
    if (::write(stop_write_.get(), "s", 1) < 0) {
        // Full: stopped already. Nothing else can be done in a destructor anyway.
    }
    if (thread_.joinable())
        thread_.join();
    std::lock_guard<std::mutex> lock(handed_mutex_);
    handed_.clear(); // handed over while the thread ended
}

void AcceptLoop::run()
{
    const std::chrono::milliseconds forever{-1};
    for (;;) {
        const Woken woken =
            wait_on(listen_fd_.get(), POLLIN, stop_fd(), handed_read_.get(), forever);
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
