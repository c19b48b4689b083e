// SPDX-License-Identifier: MIT
// Connections served by a script: the engine's side (run_script) and FakeConnection over it.
#include "scripted_link.hpp"

#include <qmp/error.hpp>
#include <qmp/testing.hpp>

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.hpp"
#include "fd.hpp"
#include "messages.hpp"
#include "socket_wait.hpp"

namespace qmp::testing::detail {

namespace {

using namespace std::chrono_literals;

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds left_until(Clock::time_point deadline)
{
    return std::max(std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()),
        std::chrono::milliseconds(0));
}

} // namespace

Engine::Outcome Engine::run_script(const FakeEndpoint::Script& script, int fd)
{
    Outcome outcome = Outcome::hang_up;
    std::string failure;
    try {
        ScriptedLink link(*this, fd);
        FakeConnection connection(link);
        script(connection);
    } catch (const ScriptInterrupted& interrupted) {
        outcome = interrupted.abrupt ? Outcome::reset : Outcome::stopping;
    } catch (const std::exception& e) {
        failure = e.what();
    } catch (...) {
        failure = "the script threw something that is not a std::exception";
    }
    {
        std::lock_guard<std::mutex> lock(*mutex_);
        ++scripts_done_;
        if (!failure.empty())
            script_failures_.push_back(failure);
    }
    changed_.notify_all();
    return outcome;
}

ScriptedLink::ScriptedLink(Engine& engine, int fd) : engine_(engine), fd_(fd)
{
}

void ScriptedLink::require_open() const
{
    if (fd_ < 0)
        throw Error("qmp: fake: the script already closed the connection");
}

bool ScriptedLink::wait_readable(std::chrono::milliseconds timeout)
{
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        switch (wait_on(fd_, POLLIN, engine_.loop_.stop_fd(), engine_.wake_.read_end.get(),
            left_until(deadline))) {
        case Woken::ready:
            return true;
        case Woken::timeout:
            return false;
        case Woken::stop:
            throw ScriptInterrupted{false};
        case Woken::wake:
            // hang_up() or reset() from another thread; other wake-ups do not concern scripts.
            if (const auto outcome = engine_.wake_up(); outcome != Engine::Outcome::go_on)
                throw ScriptInterrupted{outcome == Engine::Outcome::reset};
            break;
        }
    }
}

void ScriptedLink::send(std::string_view bytes)
{
    require_open();
    std::lock_guard<std::mutex> lock(engine_.write_mutex_);
    switch (send_all(fd_, bytes, engine_.loop_.stop_fd(), -1, send_timeout)) {
    case Woken::ready:
        return;
    case Woken::stop:
        throw ScriptInterrupted{false};
    default:
        throw Error("qmp: fake: cannot send to the client: it is gone or has not read for " +
            std::to_string(send_timeout.count()) + " ms");
    }
}

std::string ScriptedLink::terminated(const json& message) const
{
    return engine_.terminated(message);
}

json ScriptedLink::read_message(std::chrono::milliseconds timeout)
{
    require_open();
    const auto deadline = Clock::now() + timeout;
    while (received_.empty()) {
        if (!wait_readable(left_until(deadline)))
            throw Error("qmp: fake: no message from the client within " +
                std::to_string(timeout.count()) + " ms");
        char chunk[65536];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n == 0)
            throw Error("qmp: fake: the client closed the connection");
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            throw Error(
                "qmp: fake: cannot read from the client: " + qmp::detail::error_text(errno));
        }
        feed(chunk, static_cast<std::size_t>(n));
    }
    json message = std::move(received_.front());
    received_.pop_front();
    if (message.is_object() && (message.contains("execute") || message.contains("exec-oob")))
        engine_.record(message);
    return message;
}

void ScriptedLink::feed(const char* data, std::size_t size)
{
    const auto take = [this](std::string_view text) {
        json message = json::parse(text.begin(), text.end(), nullptr, false);
        if (message.is_discarded())
            throw Error("qmp: fake: the client sent something that is not JSON: " +
                std::string(text.substr(0, 200)));
        received_.push_back(std::move(message));
    };
    const char* const end = data + size;
    for (;;) {
        // To qemu-ga, byte 0xFF drops whatever came before it: the guest agent's client sends
        // it before each synchronisation.
        const char* const ff = engine_.dialect_ == Dialect::guest_agent
            ? std::find(data, end, static_cast<char>(0xFF))
            : end;
        framer_.feed(data, static_cast<std::size_t>(ff - data), take);
        if (ff == end)
            return;
        framer_.reset();
        data = ff + 1;
    }
}

bool ScriptedLink::wait_for_close(std::chrono::milliseconds timeout)
{
    require_open();
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (!wait_readable(left_until(deadline)))
            return false;
        char chunk[4096];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK))
            return true;
    }
}

void ScriptedLink::close(bool abrupt)
{
    if (fd_ < 0)
        return;
    engine_.close_now(abrupt);
    fd_ = -1;
    {
        std::lock_guard<std::mutex> lock(*engine_.mutex_);
        engine_.connected_ = false;
    }
    engine_.changed_.notify_all();
}

} // namespace qmp::testing::detail

namespace qmp::testing {

FakeConnection::FakeConnection(detail::ScriptedLink& link) : link_(link)
{
}

void FakeConnection::send(std::string_view bytes)
{
    link_.send(bytes);
}

void FakeConnection::send_message(const json& message)
{
    link_.send(link_.terminated(message));
}

void FakeConnection::send_greeting(json capabilities)
{
    send_message(FakeQemu::qemu_7_2_greeting(std::move(capabilities)));
}

void FakeConnection::send_event(const std::string& name, const json& data)
{
    send_message(detail::event_message(name, data));
}

void FakeConnection::reply(const json& command, json value)
{
    json message = {{"return", std::move(value)}};
    if (command.is_object() && command.contains("id"))
        message["id"] = command["id"];
    send_message(message);
}

void FakeConnection::reply_error(
    const json& command, const std::string& error_class, const std::string& description)
{
    const bool has_id = command.is_object() && command.contains("id");
    send_message(
        detail::error_message(error_class, description, has_id ? &command["id"] : nullptr));
}

json FakeConnection::read_message(std::chrono::milliseconds timeout)
{
    return link_.read_message(timeout);
}

json FakeConnection::answer(json value)
{
    json command = read_message();
    reply(command, std::move(value));
    return command;
}

json FakeConnection::handshake(json capabilities)
{
    send_greeting(std::move(capabilities));
    json negotiation = read_message();
    if (!negotiation.is_object() || negotiation.value("execute", "") != "qmp_capabilities")
        throw Error("qmp: fake: expected qmp_capabilities, got " + negotiation.dump());
    reply(negotiation);
    return negotiation;
}

bool FakeConnection::wait_for_close(std::chrono::milliseconds timeout)
{
    return link_.wait_for_close(timeout);
}

void FakeConnection::hang_up()
{
    link_.close(false);
}

void FakeConnection::reset()
{
    link_.close(true);
}

int FakeConnection::fd() const
{
    return link_.fd();
}

} // namespace qmp::testing
