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

#include <qmp/testing.hpp>

#include "framer.hpp"
#include "testing/accept_loop.hpp"
#include "testing/socket_wait.hpp"

namespace qmp::test {

namespace {

thread_local int current_stop_fd = -1; // the serving thread's stop pipe, for FakePeer waits

// Waits until \p fd is readable; false on timeout. Throws when the server is stopping.
bool wait_readable(int fd, std::chrono::milliseconds timeout)
{
    using qmp::testing::detail::Woken;
    const Woken woken = qmp::testing::detail::wait_on(
        fd, POLLIN, current_stop_fd, -1, std::max(timeout, std::chrono::milliseconds(0)));
    if (woken == Woken::stop)
        throw std::runtime_error("fake server stopping");
    return woken == Woken::ready;
}

} // namespace

json qemu_greeting(const json& capabilities)
{
    return qmp::testing::FakeQemu::qemu_7_2_greeting(capabilities);
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

FakeServer::FakeServer(Script script, bool listen_now)
    : script_(std::move(script)),
      loop_(std::make_unique<testing::detail::AcceptLoop>(
          "qmp.sock", [this](int fd) { serve(fd); }, false, listen_now))
{
}

void FakeServer::listen()
{
    loop_->listen();
}

std::string FakeServer::address() const
{
    return "unix:" + loop_->path();
}

const std::string& FakeServer::path() const
{
    return loop_->path();
}

const std::string& FakeServer::directory() const
{
    return loop_->directory();
}

void FakeServer::serve(int fd)
{
    current_stop_fd = loop_->stop_fd();
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

bool FakeServer::wait_scripts_done(int n, std::chrono::milliseconds timeout)
{
    std::unique_lock<std::mutex> lock(done_mutex_);
    return done_.wait_for(lock, timeout, [&] { return scripts_done_ >= n; });
}

FakeServer::~FakeServer()
{
    // Stopped before the pointer is cleared: the serving thread reads loop_ until it ends, and
    // reset() writes the pointer before it destroys the loop (a data race under TSan).
    loop_->stop();
    loop_.reset(); // removes the directory
    for (const auto& error : errors_)
        ADD_FAILURE() << "fake server script failed: " << error;
}

} // namespace qmp::test
