// SPDX-License-Identifier: MIT
#include "fake_server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "framer.hpp"

namespace qmp::test {

namespace {

thread_local int current_stop_fd = -1; // the serving thread's stop pipe, for FakePeer waits

// Waits until \p fd is readable; false on timeout. Throws when the server is stopping.
// A signal (EINTR) resumes the wait with what is left of the timeout.
bool wait_readable(int fd, std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd fds[2] = {{fd, POLLIN, 0}, {current_stop_fd, POLLIN, 0}};
        const int n = ::poll(fds, current_stop_fd >= 0 ? 2 : 1,
            static_cast<int>(std::max<long long>(left.count(), 0)));
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0 && current_stop_fd >= 0 && (fds[1].revents & POLLIN))
            throw std::runtime_error("fake server stopping");
        return n > 0;
    }
}

} // namespace

json qemu_greeting(const json& capabilities)
{
    return {{"QMP",
        {{"version",
             {{"qemu", {{"micro", 22}, {"minor", 2}, {"major", 7}}},
                 {"package", "Debian 1:7.2+dfsg-7+deb12u18+b3"}}},
            {"capabilities", capabilities}}}};
}

FakePeer::FakePeer(int fd)
    : fd_(fd), framer_(std::make_unique<detail::Framer>(64 * 1024 * 1024, 100000))
{
}

FakePeer::~FakePeer()
{
    if (fd_ >= 0)
        ::close(fd_);
}

void FakePeer::send(std::string_view bytes)
{
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw std::runtime_error(
                std::string("fake peer: send failed: ") + std::strerror(errno));
        }
        sent += static_cast<std::size_t>(n);
    }
}

void FakePeer::send_json(const json& message)
{
    send(message.dump() + "\r\n");
}

void FakePeer::send_greeting(const json& capabilities)
{
    send_json(qemu_greeting(capabilities));
}

void FakePeer::send_event(const std::string& name, const json& data)
{
    json event = {
        {"event", name}, {"timestamp", {{"seconds", 1700000000}, {"microseconds", 123456}}}};
    if (!data.is_null())
        event["data"] = data;
    send_json(event);
}

json FakePeer::read_message(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (received_.empty()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !wait_readable(fd_, left))
            throw std::runtime_error("fake peer: no message from the client in time");
        char chunk[65536];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n == 0)
            throw std::runtime_error("fake peer: the client closed the connection");
        if (n < 0 && errno != EINTR)
            throw std::runtime_error(
                std::string("fake peer: recv failed: ") + std::strerror(errno));
        if (n > 0)
            framer_->feed(chunk, static_cast<std::size_t>(n),
                [this](std::string_view text) { received_.push_back(json::parse(text)); });
    }
    json message = std::move(received_.front());
    received_.pop_front();
    return message;
}

void FakePeer::reply(const json& command, const json& value)
{
    json message = {{"return", value}};
    if (command.contains("id"))
        message["id"] = command["id"];
    send_json(message);
}

json FakePeer::answer(const json& value)
{
    json command = read_message();
    reply(command, value);
    return command;
}

json FakePeer::handshake(const json& capabilities)
{
    send_greeting(capabilities);
    json negotiation = read_message();
    if (negotiation.value("execute", "") != "qmp_capabilities")
        throw std::runtime_error("fake peer: expected qmp_capabilities, got " + negotiation.dump());
    reply(negotiation);
    return negotiation;
}

bool FakePeer::wait_for_close(std::chrono::milliseconds timeout)
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || !wait_readable(fd_, left))
            return false;
        char chunk[4096];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

void FakePeer::close()
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

void FakePeer::reset()
{
    // A unix socket has no RST: closing with unread data makes the client's recv() fail with
    // ECONNRESET, which is what a reset looks like to it.
    linger hard{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close();
}

FakeServer::FakeServer(Script script, bool listen_now) : script_(std::move(script))
{
    std::string tmpl = std::filesystem::temp_directory_path() / "qmp-fake-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
        throw std::runtime_error("mkdtemp failed");
    directory_ = tmpl;
    path_ = directory_ + "/qmp.sock";
    if (::pipe2(stop_pipe_, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe2 failed");
    if (listen_now)
        listen();
}

void FakeServer::listen()
{
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 16) != 0)
        throw std::runtime_error(
            std::string("fake server: cannot listen: ") + std::strerror(errno));
    thread_ = std::thread([this] { serve(); });
}

void FakeServer::serve()
{
    current_stop_fd = stop_pipe_[0];
    for (;;) {
        pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 && errno == EINTR)
            continue;
        if (fds[1].revents & POLLIN)
            return;
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        ++connections_;
        try {
            FakePeer peer(fd);
            script_(peer);
        } catch (const std::exception& e) {
            if (std::string(e.what()) != "fake server stopping") {
                std::lock_guard<std::mutex> lock(errors_mutex_);
                errors_.push_back(e.what());
            }
        }
        {
            std::lock_guard<std::mutex> lock(done_mutex_);
            ++scripts_done_;
        }
        done_.notify_all();
    }
}

bool FakeServer::wait_scripts_done(int n, std::chrono::milliseconds timeout)
{
    std::unique_lock<std::mutex> lock(done_mutex_);
    return done_.wait_for(lock, timeout, [&] { return scripts_done_ >= n; });
}

FakeServer::~FakeServer()
{
    if (::write(stop_pipe_[1], "x", 1) < 0) { }
    if (thread_.joinable())
        thread_.join();
    if (listen_fd_ >= 0)
        ::close(listen_fd_);
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
    for (const auto& error : errors_)
        ADD_FAILURE() << "fake server script failed: " << error;
}

} // namespace qmp::test
