// SPDX-License-Identifier: MIT
#include <qmp/client.hpp>
#include <qmp/error.hpp>

#include <algorithm>
#include <thread>

#include "address.hpp"
#include "callback_dispatcher.hpp"
#include "connection.hpp"
#include "log.hpp"
#include "pending_call.hpp"

namespace qmp {

using detail::Clock;

namespace {

std::string ms_text(std::chrono::milliseconds timeout)
{
    return std::to_string(timeout.count()) + " ms";
}

// Connects, retrying "not there yet" failures until the deadline when asked to.
detail::Fd connect_socket(
    const detail::Address& address, const ClientOptions& options, Clock::time_point deadline)
{
    for (;;) {
        try {
            return detail::connect_stream(address, deadline);
        } catch (const detail::SocketError& e) {
            const auto now = Clock::now();
            const bool retry =
                options.retry_connect && detail::is_not_ready_error(e.error()) && now < deadline;
            if (!retry)
                throw ConnectError(std::string("qmp: ") + e.what() +
                    (options.retry_connect
                            ? " (gave up after " + ms_text(options.connect_timeout) + ")"
                            : ""));
            // The last pause ends at the deadline and one more attempt follows: giving up a
            // pause early would cut connect_timeout short and make "gave up after" untrue.
            std::this_thread::sleep_for(
                std::min<Clock::duration>(options.retry_interval, deadline - now));
        }
    }
}

Greeting parse_greeting(const json& message, const std::string& peer)
{
    const auto qmp = message.find("QMP");
    if (qmp == message.end() || !qmp->is_object() || !qmp->contains("version") ||
        !qmp->contains("capabilities") || !(*qmp)["capabilities"].is_array())
        throw ConnectError("qmp: " + peer +
            " is not a QMP monitor: expected a greeting "
            "{\"QMP\": {\"version\": ..., \"capabilities\": [...]}}, got " +
            message.dump().substr(0, 200));
    Greeting greeting;
    greeting.version = (*qmp)["version"];
    for (const auto& capability : (*qmp)["capabilities"])
        if (capability.is_string())
            greeting.capabilities.push_back(capability.get<std::string>());
    greeting.raw = message;
    return greeting;
}

} // namespace

class Client::Impl {
public:
    explicit Impl(ClientOptions options)
        : options_(std::move(options)),
          shared_(std::make_shared<detail::SessionShared>(detail::logger_or_null(options_.logger))),
          events_(shared_->router.add({}, queue_limits())),
          dispatcher_(shared_->router, queue_limits(), shared_->logger)
    {
    }

    ~Impl() { disconnect(); }

    void connect(const std::string& text)
    {
        std::lock_guard<std::mutex> connecting(connect_mutex_);
        std::shared_ptr<detail::Connection> previous;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (connection_ && connection_->is_open())
                throw UsageError(
                    "qmp: already connected to " + address_ + "; call disconnect() first");
            previous = std::move(connection_);
        }
        if (previous) // ended on its own: its reader has exited, join it
            previous->close_and_join("disconnected");

        const detail::Address address = detail::parse_address(text);
        const std::string peer = address.to_string();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            address_ = peer;
        }
        const auto deadline = detail::deadline_after(options_.connect_timeout);
        auto connection = std::make_shared<detail::Connection>(
            connect_socket(address, options_, deadline), peer, options_, shared_);
        shared_->router.reopen_all();
        connection->start();
        try {
            Greeting greeting = handshake(*connection, peer, deadline);
            std::lock_guard<std::mutex> lock(mutex_);
            greeting_ = std::move(greeting);
            has_greeting_ = true;
            connection_ = std::move(connection);
        } catch (...) {
            connection->close_and_join("connect() failed");
            throw;
        }
        shared_->logger->debug("{}: connected (QEMU {})", peer, greeting_.version.dump());
    }

    void disconnect() noexcept
    {
        std::shared_ptr<detail::Connection> connection;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            connection = std::move(connection_);
        }
        if (connection)
            connection->close_and_join("disconnected by the client");
    }

    bool is_connected() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return connection_ && connection_->is_open();
    }

    const Greeting& greeting() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!has_greeting_)
            throw DisconnectedError("qmp: no greeting: the client never connected");
        return greeting_;
    }

    json execute(const std::string& command, const json& arguments, const ExecOptions& exec)
    {
        auto connection = current(command);
        check_command(*connection, command);
        detail::Request request = make_request(command, &arguments, exec);
        detail::Call call = connection->send(request);
        return detail::Connection::result(call, connection->wait(call));
    }

    PendingReply execute_async(
        const std::string& command, const json& arguments, const ExecOptions& exec)
    {
        auto connection = current(command);
        check_command(*connection, command);
        detail::Call call = connection->send(make_request(command, &arguments, exec));
        return PendingReply(std::make_unique<detail::PendingCall>(connection, std::move(call)));
    }

    json execute_raw(const json& message, const ExecOptions& exec)
    {
        // The name, for the "not connected" message only; send() checks the message.
        auto connection = current(detail::raw_command_name(message));
        detail::Request request = make_request(std::string(), nullptr, exec);
        request.message = &message;
        detail::Call call = connection->send(request);
        return connection->wait(call);
    }

    json execute_with_fd(
        const std::string& command, const json& arguments, int fd, const ExecOptions& exec)
    {
        if (fd < 0)
            throw UsageError(
                "qmp: '" + command + "' needs a valid file descriptor, not " + std::to_string(fd));
        auto connection = current(command);
        check_command(*connection, command);
        detail::Request request = make_request(command, &arguments, exec);
        request.fd = fd;
        detail::Call call = connection->send(request);
        return detail::Connection::result(call, connection->wait(call));
    }

    EventQueue listen(detail::EventRouter::Filter filter)
    {
        return EventQueue(shared_->router.add(std::move(filter), queue_limits()));
    }

    Event execute_and_wait(const std::string& command, const json& arguments,
        const std::string& event_name, std::chrono::milliseconds timeout)
    {
        EventQueue listener = listen({{event_name}, nullptr});
        const auto deadline = detail::deadline_after(timeout);
        ExecOptions exec;
        exec.timeout = timeout;
        execute(command, arguments, exec);
        return pop_before(listener, deadline, timeout,
            "'" + command + "' succeeded but no " + event_name + " event followed");
    }

    Event wait_for_event(const std::string& name, std::function<bool(const Event&)> accept,
        std::chrono::milliseconds timeout)
    {
        const auto deadline = detail::deadline_after(timeout);
        EventQueue listener = listen({{name}, std::move(accept)});
        return pop_before(listener, deadline, timeout, "no matching " + name + " event");
    }

    std::uint64_t on_event(std::function<void(const Event&)> callback)
    {
        return dispatcher_.add(std::move(callback));
    }

    void remove_callback(std::uint64_t id) { dispatcher_.remove(id); }

    std::shared_ptr<const Schema> schema()
    {
        return current("query-qmp-schema")->schema(options_.command_timeout);
    }

    EventQueue& events() { return events_; }

    std::string address() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return address_;
    }

    std::uint64_t dropped_replies() const { return shared_->dropped_replies; }
    const ClientOptions& options() const { return options_; }

private:
    detail::QueueLimits queue_limits() const
    {
        return {options_.event_queue_capacity, options_.event_queue_wait};
    }

    std::shared_ptr<detail::Connection> current(const std::string& command) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!connection_)
            throw DisconnectedError("qmp: '" + command + "': not connected" +
                (address_.empty() ? std::string() : " (last connected to " + address_ + ")"));
        return connection_;
    }

    detail::Request make_request(
        const std::string& command, const json* arguments, const ExecOptions& exec) const
    {
        detail::Request request;
        request.command = command;
        request.arguments = arguments;
        request.oob = exec.oob;
        request.timeout = exec.timeout.value_or(options_.command_timeout);
        return request;
    }

    // With check_commands, an unknown name fails here, as QEMU would fail it, without a
    // round trip (after the schema was fetched once).
    void check_command(detail::Connection& connection, const std::string& command) const
    {
        if (!options_.check_commands || command == "query-qmp-schema")
            return;
        const auto schema = connection.schema(options_.command_timeout);
        if (schema->has_command(command))
            return;
        const std::string suggestion = schema->suggest_command(command);
        throw ExecuteError(command, "CommandNotFound",
            "unknown command '" + command + "'" +
                (suggestion.empty() ? std::string() : "; did you mean '" + suggestion + "'?"));
    }

    static Event pop_before(EventQueue& listener, detail::Clock::time_point deadline,
        std::chrono::milliseconds timeout, const std::string& what)
    {
        // Rounded up: rounding down would give up before the deadline (a 300 ms wait ending
        // after 299.6 ms, a 1 ms one at once).
        const auto left = deadline == detail::Clock::time_point::max()
            ? wait_forever
            : std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(deadline - detail::Clock::now()));
        if (auto event = listener.pop(left))
            return std::move(*event);
        throw TimeoutError("qmp: " + what + " within " + std::to_string(timeout.count()) + " ms");
    }

    Greeting handshake(
        detail::Connection& connection, const std::string& peer, Clock::time_point deadline)
    {
        json message;
        try {
            message = connection.wait_greeting(deadline);
        } catch (const DisconnectedError& e) {
            throw ConnectError(
                "qmp: " + peer + ": the connection ended before the greeting: " + e.what());
        }
        if (message.is_null())
            throw ConnectError("qmp: no greeting from " + peer + " within " +
                ms_text(options_.connect_timeout) +
                ": is another client connected to this monitor (QMP serves one "
                "client at a time), or is it not a QMP server?");
        Greeting greeting = parse_greeting(message, peer);

        const bool offered_oob =
            std::find(greeting.capabilities.begin(), greeting.capabilities.end(), "oob") !=
            greeting.capabilities.end();
        greeting.oob_enabled = offered_oob && options_.enable_oob;
        const json arguments =
            greeting.oob_enabled ? json{{"enable", json::array({"oob"})}} : json::object();
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline == Clock::time_point::max() ? wait_forever : deadline - Clock::now());
        try {
            connection.execute(
                "qmp_capabilities", arguments, std::max(left, std::chrono::milliseconds(1)));
        } catch (const Error& e) {
            throw ConnectError(
                "qmp: capabilities negotiation with " + peer + " failed: " + e.what());
        }
        connection.set_flow_control(
            greeting.oob_enabled ? options_.oob_in_band_limit : 0, greeting.oob_enabled);
        return greeting;
    }

    const ClientOptions options_;
    const std::shared_ptr<detail::SessionShared> shared_;
    EventQueue events_; // the default listener: every event

    std::mutex connect_mutex_; // one connect() at a time
    mutable std::mutex mutex_; // guards the members below
    std::shared_ptr<detail::Connection> connection_;
    std::string address_;
    Greeting greeting_;
    bool has_greeting_ = false;

    // Last, so destroyed first: its destructor joins the dispatcher thread, and a callback
    // running meanwhile may still call execute() (which must then find every member above
    // alive and throw DisconnectedError). Also destroyed before shared_, whose router it uses.
    detail::CallbackDispatcher dispatcher_;
};

Client::Client() : Client(ClientOptions{})
{
}
Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options)))
{
}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::connect(const std::string& address)
{
    impl_->connect(address);
}

void Client::disconnect() noexcept
{
    impl_->disconnect();
}

bool Client::is_connected() const
{
    return impl_->is_connected();
}

const Greeting& Client::greeting() const
{
    return impl_->greeting();
}

json Client::execute(const std::string& command, const json& arguments)
{
    return impl_->execute(command, arguments, ExecOptions{});
}

json Client::execute(
    const std::string& command, const json& arguments, std::chrono::milliseconds timeout)
{
    ExecOptions exec;
    exec.timeout = timeout;
    return impl_->execute(command, arguments, exec);
}

json Client::execute(const std::string& command, const json& arguments, const ExecOptions& options)
{
    return impl_->execute(command, arguments, options);
}

PendingReply Client::execute_async(
    const std::string& command, const json& arguments, const ExecOptions& options)
{
    return impl_->execute_async(command, arguments, options);
}

json Client::execute_raw(const json& message, const ExecOptions& options)
{
    return impl_->execute_raw(message, options);
}

json Client::execute_with_fd(
    const std::string& command, const json& arguments, int fd, const ExecOptions& options)
{
    return impl_->execute_with_fd(command, arguments, fd, options);
}

EventQueue Client::listen(std::vector<std::string> names)
{
    std::sort(names.begin(), names.end()); // empty: every event
    return impl_->listen({std::move(names), nullptr});
}

EventQueue Client::listen(std::function<bool(const Event&)> accept)
{
    if (!accept)
        throw UsageError("qmp: listen() needs a predicate");
    return impl_->listen({{}, std::move(accept)});
}

Event Client::execute_and_wait(const std::string& command, const json& arguments,
    const std::string& event_name, std::chrono::milliseconds timeout)
{
    return impl_->execute_and_wait(command, arguments, event_name, timeout);
}

Event Client::wait_for_event(const std::string& name, std::function<bool(const Event&)> accept,
    std::chrono::milliseconds timeout)
{
    return impl_->wait_for_event(name, std::move(accept), timeout);
}

Client::CallbackId Client::on_event(std::function<void(const Event&)> callback)
{
    if (!callback)
        throw UsageError("qmp: on_event() needs a callback");
    return impl_->on_event(std::move(callback));
}

void Client::remove_callback(CallbackId id)
{
    impl_->remove_callback(id);
}

std::shared_ptr<const Schema> Client::schema()
{
    return impl_->schema();
}

EventQueue& Client::events()
{
    return impl_->events();
}

std::string Client::address() const
{
    return impl_->address();
}

std::uint64_t Client::dropped_replies() const
{
    return impl_->dropped_replies();
}

const ClientOptions& Client::options() const
{
    return impl_->options();
}

} // namespace qmp
