// SPDX-License-Identifier: MIT
#include "engine.hpp"

#include <qmp/error.hpp>

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

#include "framer.hpp"
#include "messages.hpp"
#include "socket_wait.hpp"

namespace qmp::testing::detail {

namespace {

using namespace std::chrono_literals;

// How long hang_up() waits for the serving thread to close the connection (it may be waiting
// to write to a client that does not read). Long enough for a loaded machine under valgrind.
constexpr std::chrono::milliseconds close_timeout = 10s;

} // namespace

Engine::Engine(Dialect dialect)
    : dialect_(dialect),
      mutex_(std::make_shared<std::mutex>()),
      greeting_(dialect == Dialect::qmp ? std::optional<json>(FakeQemu::qemu_7_2_greeting())
                                        : std::nullopt),
      loop_(dialect == Dialect::qmp ? "qmp.sock" : "qga.sock", [this](int fd) { serve(fd); })
{
}

Engine::~Engine()
{
    loop_.stop(); // before the members its thread uses go
}

Rule Engine::add_rule(std::string command, std::optional<json> arguments, bool on_connect)
{
    auto state = std::make_shared<RuleState>();
    state->mutex = mutex_;
    state->command = std::move(command);
    state->arguments = std::move(arguments);
    state->on_connect = on_connect;
    std::lock_guard<std::mutex> lock(*mutex_);
    rules_.push_back(state);
    return Rule(state);
}

void Engine::record(const json& message)
{
    {
        std::lock_guard<std::mutex> lock(*mutex_);
        messages_.push_back(message);
    }
    changed_.notify_all();
}

std::vector<json> Engine::received(const std::string& command) const
{
    std::lock_guard<std::mutex> lock(*mutex_);
    std::vector<json> result;
    for (const json& message : messages_)
        if (message.value("execute", message.value("exec-oob", "")) == command)
            result.push_back(message.value("arguments", json::object()));
    return result;
}

std::vector<json> Engine::messages() const
{
    std::lock_guard<std::mutex> lock(*mutex_);
    return messages_;
}

std::vector<json> Engine::unexpected() const
{
    std::lock_guard<std::mutex> lock(*mutex_);
    return unexpected_;
}

bool Engine::wait_for(
    const std::string& command, std::chrono::milliseconds timeout, std::size_t count) const
{
    std::unique_lock<std::mutex> lock(*mutex_);
    return changed_.wait_for(lock, timeout, [&] {
        const auto n = std::count_if(messages_.begin(), messages_.end(),
            [&](const json& m) { return m.value("execute", m.value("exec-oob", "")) == command; });
        return static_cast<std::size_t>(n) >= count;
    });
}

bool Engine::wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const
{
    std::unique_lock<std::mutex> lock(*mutex_);
    return changed_.wait_for(lock, timeout, [&] { return connections_ >= count; });
}

bool Engine::wait_for_disconnect(std::chrono::milliseconds timeout) const
{
    std::unique_lock<std::mutex> lock(*mutex_);
    return changed_.wait_for(lock, timeout, [&] { return !connected_; });
}

std::size_t Engine::connections() const
{
    std::lock_guard<std::mutex> lock(*mutex_);
    return connections_;
}

bool Engine::is_connected() const
{
    std::lock_guard<std::mutex> lock(*mutex_);
    return connected_;
}

void Engine::close_connection(bool abrupt)
{
    std::unique_lock<std::mutex> lock(*mutex_);
    if (!connected_)
        return;
    const std::uint64_t request = ++close_requested_;
    close_abrupt_ = abrupt;
    if (::write(wake_.write_end.get(), "w", 1) < 0) {
        // The pipe is full: the serving thread has wake-ups pending already.
    }
    changed_.wait_for(lock, close_timeout, [&] { return close_done_ >= request; });
}

bool Engine::emit(const std::string& name, const json& data)
{
    const std::string bytes = terminated(event_message(name, data));
    std::lock_guard<std::mutex> lock(write_mutex_);
    if (!connection_)
        return false;
    return send_all(connection_.get(), bytes, loop_.stop_fd(), -1, send_timeout) == Woken::ready;
}

void Engine::set_greeting(std::optional<json> greeting)
{
    std::lock_guard<std::mutex> lock(*mutex_);
    greeting_ = std::move(greeting);
}

void Engine::use_schema(std::shared_ptr<const SchemaChecker> schema)
{
    std::lock_guard<std::mutex> lock(*mutex_);
    schema_ = std::move(schema);
}

void Engine::serve_with(FakeEndpoint::Script script)
{
    std::lock_guard<std::mutex> lock(*mutex_);
    script_ = std::move(script);
}

bool Engine::wait_for_scripts(std::size_t count, std::chrono::milliseconds timeout) const
{
    std::unique_lock<std::mutex> lock(*mutex_);
    return changed_.wait_for(lock, timeout, [&] { return scripts_done_ >= count; });
}

std::vector<std::string> Engine::script_failures() const
{
    std::lock_guard<std::mutex> lock(*mutex_);
    return script_failures_;
}

std::string Engine::terminated(const json& message) const
{
    // QEMU ends each message with "\r\n", qemu-ga with "\n".
    return message.dump() + (dialect_ == Dialect::qmp ? "\r\n" : "\n");
}

Engine::Outcome Engine::serve(int fd)
{
    std::optional<json> greeting;
    FakeEndpoint::Script script;
    {
        std::lock_guard<std::mutex> lock(write_mutex_);
        connection_ = qmp::detail::Fd(fd);
    }
    {
        std::lock_guard<std::mutex> lock(*mutex_);
        ++connections_;
        connected_ = true;
        greeting = greeting_;
        script = script_;
        // A close requested before this client came does not concern it.
        close_done_ = close_requested_;
    }
    changed_.notify_all();

    const Outcome outcome = script ? run_script(script, fd) : converse(fd, greeting);
    close_now(outcome == Outcome::reset);
    {
        std::lock_guard<std::mutex> lock(*mutex_);
        connected_ = false;
        close_done_ = close_requested_;
    }
    changed_.notify_all();
    return outcome;
}

void Engine::close_now(bool abrupt)
{
    std::lock_guard<std::mutex> lock(write_mutex_);
    if (!connection_)
        return;
    if (abrupt) {
        linger hard{1, 0};
        ::setsockopt(connection_.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    }
    connection_.reset();
}

Engine::Outcome Engine::wake_up()
{
    char drained[64];
    while (::read(wake_.read_end.get(), drained, sizeof drained) > 0) { }
    std::lock_guard<std::mutex> lock(*mutex_);
    if (close_done_ >= close_requested_)
        return Outcome::go_on;
    return close_abrupt_ ? Outcome::reset : Outcome::hang_up;
}

Engine::Outcome Engine::write(const std::string& bytes)
{
    std::lock_guard<std::mutex> lock(write_mutex_);
    const Woken woken = send_all(connection_.get(), bytes, loop_.stop_fd(), -1, send_timeout);
    if (woken == Woken::stop)
        return Outcome::stopping;
    return woken == Woken::ready ? Outcome::go_on : Outcome::peer_gone;
}

} // namespace qmp::testing::detail
