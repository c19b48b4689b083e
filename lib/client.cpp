// SPDX-License-Identifier: MIT
#include <qmp/client.hpp>
#include <qmp/error.hpp>

#include <thread>

#include "address.hpp"
#include "connection.hpp"
#include "log.hpp"

namespace qmp {

using detail::Clock;

namespace {

std::string ms_text(std::chrono::milliseconds timeout)
{
    return std::to_string(timeout.count()) + " ms";
}

// Connects, retrying "not there yet" failures until the deadline when asked to.
detail::Fd connect_socket(const detail::Address& address, const ClientOptions& options,
                          Clock::time_point deadline)
{
    for (;;) {
        try {
            return detail::connect_stream(address, deadline);
        } catch (const detail::SocketError& e) {
            const bool retry = options.retry_connect && detail::is_not_ready_error(e.error()) &&
                               Clock::now() + options.retry_interval < deadline;
            if (!retry)
                throw ConnectError(std::string("qmp: ") + e.what() +
                                   (options.retry_connect ? " (gave up after " +
                                                                ms_text(options.connect_timeout) +
                                                                ")"
                                                          : ""));
            std::this_thread::sleep_for(options.retry_interval);
        }
    }
}

Greeting parse_greeting(const json& message, const std::string& peer)
{
    const auto qmp = message.find("QMP");
    if (qmp == message.end() || !qmp->is_object() || !qmp->contains("version") ||
        !qmp->contains("capabilities") || !(*qmp)["capabilities"].is_array())
        throw ConnectError("qmp: " + peer + " is not a QMP monitor: expected a greeting "
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

}  // namespace

class Client::Impl {
public:
    explicit Impl(ClientOptions options)
        : options_(std::move(options)),
          shared_(std::make_shared<detail::SessionShared>()),
          events_(nullptr)
    {
        shared_->logger = detail::logger_or_null(options_.logger);
        shared_->events = std::make_shared<detail::EventQueueState>(options_.event_queue_capacity,
                                                                    shared_->logger);
        events_ = std::make_unique<EventQueue>(shared_->events);
    }

    ~Impl() { disconnect(); }

    void connect(const std::string& text)
    {
        std::lock_guard<std::mutex> connecting(connect_mutex_);
        std::shared_ptr<detail::Connection> previous;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (connection_ && connection_->is_open())
                throw UsageError("qmp: already connected to " + address_ +
                                 "; call disconnect() first");
            previous = std::move(connection_);
        }
        if (previous)  // ended on its own: its reader has exited, join it
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
        shared_->events->reopen();
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

    json execute(const std::string& command, const json& arguments,
                 std::chrono::milliseconds timeout)
    {
        std::shared_ptr<detail::Connection> connection;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            connection = connection_;
            if (!connection)
                throw DisconnectedError("qmp: '" + command + "': not connected" +
                                        (address_.empty() ? std::string()
                                                          : " (last connected to " + address_ +
                                                                ")"));
        }
        return connection->execute(command, arguments, timeout);
    }

    EventQueue& events() { return *events_; }

    std::string address() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return address_;
    }

    std::uint64_t dropped_replies() const { return shared_->dropped_replies; }
    const ClientOptions& options() const { return options_; }

private:
    Greeting handshake(detail::Connection& connection, const std::string& peer,
                       Clock::time_point deadline)
    {
        json message;
        try {
            message = connection.wait_greeting(deadline);
        } catch (const DisconnectedError& e) {
            throw ConnectError("qmp: " + peer + ": the connection ended before the greeting: " +
                               e.what());
        }
        if (message.is_null())
            throw ConnectError("qmp: no greeting from " + peer + " within " +
                               ms_text(options_.connect_timeout) +
                               ": is another client connected to this monitor (QMP serves one "
                               "client at a time), or is it not a QMP server?");
        Greeting greeting = parse_greeting(message, peer);

        const bool offered_oob = std::find(greeting.capabilities.begin(),
                                           greeting.capabilities.end(),
                                           "oob") != greeting.capabilities.end();
        greeting.oob_enabled = offered_oob && options_.enable_oob;
        const json arguments =
            greeting.oob_enabled ? json{{"enable", json::array({"oob"})}} : json::object();
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline == Clock::time_point::max() ? wait_forever : deadline - Clock::now());
        try {
            connection.execute("qmp_capabilities", arguments,
                               std::max(left, std::chrono::milliseconds(1)));
        } catch (const Error& e) {
            throw ConnectError("qmp: capabilities negotiation with " + peer +
                               " failed: " + e.what());
        }
        return greeting;
    }

    const ClientOptions options_;
    const std::shared_ptr<detail::SessionShared> shared_;
    std::unique_ptr<EventQueue> events_;

    std::mutex connect_mutex_;  // one connect() at a time
    mutable std::mutex mutex_;  // guards the members below
    std::shared_ptr<detail::Connection> connection_;
    std::string address_;
    Greeting greeting_;
    bool has_greeting_ = false;
};

Client::Client() : Client(ClientOptions{}) {}
Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
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
    return impl_->execute(command, arguments, impl_->options().command_timeout);
}

json Client::execute(const std::string& command, const json& arguments,
                     std::chrono::milliseconds timeout)
{
    return impl_->execute(command, arguments, timeout);
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

}  // namespace qmp
