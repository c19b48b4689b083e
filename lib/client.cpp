// SPDX-License-Identifier: MIT
// The Client facade: connection state, the QMP session of the moment, and the calls users make.
#include <qmp/client.hpp>
#include <qmp/error.hpp>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <sys/socket.h>
#include <thread>

#include "address.hpp"
#include "callback_dispatcher.hpp"
#include "log.hpp"
#include "pending_reply_state.hpp"
#include "qmp_protocol.hpp"
#include "request.hpp"
#include "server_impl.hpp"
#include "session.hpp"
#include "text.hpp"

namespace qmp {

using detail::Clock;

namespace {

void check_options(const ClientOptions& options)
{
    const auto fail = [](const std::string& what) {
        throw UsageError("qmp: invalid ClientOptions: " + what);
    };
    if (options.connect_timeout.count() < 0)
        fail("connect_timeout is negative");
    if (options.command_timeout.count() <= 0)
        fail("command_timeout must be positive (qmp::wait_forever for no limit)");
    if (options.retry_interval.count() <= 0)
        fail("retry_interval must be positive");
    if (options.max_message_size == 0)
        fail("max_message_size is 0");
    if (options.max_nesting_depth == 0)
        fail("max_nesting_depth is 0 (every message is an object, at least 1 level deep)");
    if (options.event_queue_capacity == 0)
        fail("event_queue_capacity is 0 (qmp::unbounded for no limit)");
    if (options.tcp_keepalive.count() < 0)
        fail("tcp_keepalive is negative");
    if (options.reconnect &&
        (options.reconnect_delay.count() <= 0 ||
            options.reconnect_max_delay < options.reconnect_delay))
        fail("reconnect_delay must be positive and at most reconnect_max_delay");
}

// Connects the socket, retrying "not there yet" failures until the deadline when asked to.
detail::Fd connect_with_retries(const detail::Address& address, const ClientOptions& options,
    Clock::time_point deadline, detail::Canceller& cancel)
{
    const detail::TcpSettings tcp{options.tcp_keepalive};
    for (;;) {
        try {
            return detail::connect_socket(address, tcp, deadline, cancel);
        } catch (const detail::TransportError& e) {
            const auto now = Clock::now();
            const bool retry = options.retry_connect && e.error() != ECANCELED &&
                detail::is_not_ready_error(e.error()) && now < deadline;
            if (!retry)
                throw ConnectError(std::string("qmp: ") + e.what() +
                    (options.retry_connect && e.error() != ECANCELED
                            ? " (gave up after " + detail::ms_text(options.connect_timeout) + ")"
                            : ""));
            // The last pause ends at the deadline and one more attempt follows: giving up a
            // pause early would cut connect_timeout short and make "gave up after" untrue.
            if (!cancel.sleep_until(std::min(now + options.retry_interval, deadline)))
                throw ConnectError("qmp: cancelled while connecting to " + address.to_string());
        }
    }
}

} // namespace

class QMP_NO_EXPORT Client::Impl {
public:
    explicit Impl(ClientOptions options)
        : options_((check_options(options), std::move(options))),
          shared_(std::make_shared<detail::SessionShared>(detail::logger_or_null(options_.logger))),
          events_(shared_->router.add({}, options_.event_queue_capacity, "events()")),
          dispatcher_(shared_->router, options_.event_queue_capacity, shared_->logger)
    {
    }

    ~Impl()
    {
        disconnect();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        state_changed_.notify_all();
        if (supervisor_.joinable())
            supervisor_.join(); // it tells the last changes first
    }

    void connect(const std::string& text)
    {
        const detail::Address address = detail::parse_address(text);
        establish(address.to_string(), options_.connect_timeout,
            [this, address](Clock::time_point deadline, detail::Canceller& cancel) {
                return connect_with_retries(address, options_, deadline, cancel);
            });
    }

    void accept(Server& server, std::chrono::milliseconds timeout)
    {
        Server::Impl* const server_impl = server.impl_.get();
        establish("accepted from " + server_impl->address(), timeout,
            [server_impl, timeout](Clock::time_point deadline, detail::Canceller& cancel) {
                Server::Impl& listener = *server_impl;
                try {
                    return listener.accept(deadline, cancel);
                } catch (const detail::TransportError& e) {
                    throw ConnectError("qmp: " + listener.address() + ": " + e.what() +
                        (e.error() == ETIMEDOUT ? " (" + detail::ms_text(timeout) + ")" : ""));
                }
            });
    }

    void connect_fd(detail::Fd socket)
    {
        const std::string peer = "fd:" + std::to_string(socket.get());
        int type = 0;
        socklen_t size = sizeof type;
        if (::getsockopt(socket.get(), SOL_SOCKET, SO_TYPE, &type, &size) != 0) {
            const int error = errno;
            throw ConnectError("qmp: " + peer + " is not a socket: " + detail::error_text(error));
        }
        if (type != SOCK_STREAM)
            throw ConnectError("qmp: " + peer + " is not a stream socket");
        sockaddr_storage other{};
        socklen_t other_size = sizeof other;
        if (::getpeername(socket.get(), reinterpret_cast<sockaddr*>(&other), &other_size) != 0) {
            const int error = errno;
            throw ConnectError("qmp: " + peer + " is not connected: " + detail::error_text(error));
        }
        auto handed_over = std::make_shared<detail::Fd>(std::move(socket));
        establish(
            peer, options_.connect_timeout,
            [handed_over](Clock::time_point, detail::Canceller&) {
                if (!*handed_over)
                    throw ConnectError("qmp: a handed-over socket cannot be reconnected");
                return std::move(*handed_over);
            },
            false, false);
    }

    // Opens a socket (connecting, accepting, or taking one handed over), then greeting and
    // negotiation, all within \p timeout; disconnect() from another thread ends it promptly.
    // \p again: a reconnection attempt (the state stays "reconnecting" if it fails).
    using OpenSocket = std::function<detail::Fd(Clock::time_point, detail::Canceller&)>;
    void establish(const std::string& peer, std::chrono::milliseconds timeout, OpenSocket open,
        bool again = false, bool reopenable = true)
    {
        start_supervisor(); // on_state_change hears of this attempt too
        std::lock_guard<std::mutex> one_at_a_time(connect_mutex_);
        std::shared_ptr<detail::Session> previous;
        std::shared_ptr<detail::Canceller> cancel;
        try {
            cancel = std::make_shared<detail::Canceller>();
        } catch (const detail::TransportError& e) {
            throw ConnectError("qmp: cannot connect to " + peer + ": " + e.what());
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (again && state_ != ConnectionState::reconnecting)
                throw ConnectError("qmp: reconnecting to " + peer + " was stopped");
            if (!again && state_ == ConnectionState::reconnecting)
                throw UsageError("qmp: reconnecting to " + address_ + "; call disconnect() first");
            if (session_ && session_->is_open())
                throw UsageError(
                    "qmp: already connected to " + address_ + "; call disconnect() first");
            previous = std::move(session_); // ended on its own: its reader is done with it
            if (!again)
                set_state_locked(ConnectionState::connecting);
            cancel_ = cancel;
            address_ = peer;
            schema_.reset();
        }
        if (previous)
            previous->close_and_join("disconnected");

        std::shared_ptr<detail::Session> session;
        try {
            const auto deadline = detail::deadline_after(timeout);
            detail::Fd socket = open(deadline, *cancel);
            auto ended = std::make_shared<const detail::Session*>(nullptr);
            auto rules = std::make_shared<detail::QmpRules>(shared_->logger,
                [this, ended](const detail::SessionEnd& end) { session_ended(*ended, end); });
            session = std::make_shared<detail::Session>(detail::Transport(std::move(socket), peer),
                detail::SessionLimits{
                    options_.max_message_size, options_.max_nesting_depth, options_.redact_secrets},
                shared_, rules);
            *ended = session.get();
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (cancel->cancelled())
                    throw ConnectError("qmp: cancelled while connecting to " + peer);
                session_ = session; // from here on disconnect() closes it
            }
            shared_->router.reopen_all(); // events may come before the greeting
            // The handshake reads on this thread (no hop to the reader and back for the
            // greeting and the negotiation's reply); the reader takes over after it.
            Greeting greeting =
                detail::qmp_handshake(*session, *rules, options_, deadline, timeout);
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (cancel->cancelled())
                    throw ConnectError("qmp: cancelled while connecting to " + peer);
                greeting_ = std::move(greeting);
                has_greeting_ = true;
                cancel_.reset();
                reopen_ = reopenable ? std::move(open) : OpenSocket();
                reopen_timeout_ = timeout;
                shared_->queues_stay_open = options_.reconnect;
                set_state_locked(ConnectionState::connected);
            }
            session->start(reader_);
            if (const auto end = session->end()) // it ended before it was published
                session_ended(session.get(), *end);
        } catch (...) {
            const bool cancelled = cancel->cancelled();
            {
                std::lock_guard<std::mutex> lock(mutex_);
                if (session_ == session)
                    session_.reset();
                if (!again || cancelled)
                    set_state_locked(ConnectionState::disconnected);
                cancel_.reset();
            }
            if (session)
                session->close_and_join("connect() failed");
            if (cancelled)
                throw ConnectError("qmp: connecting to " + peer + " was cancelled by disconnect()");
            throw;
        }
        shared_->logger->debug("{}: connected (QEMU {}.{}.{})", peer, greeting_.version.major,
            greeting_.version.minor, greeting_.version.micro);
    }

    void disconnect() noexcept
    {
        std::shared_ptr<detail::Session> session;
        bool close_queues = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (cancel_)
                cancel_->cancel(); // connect() sees it and fails
            session = session_;
            close_queues = shared_->queues_stay_open.exchange(false);
            if (state_ == ConnectionState::connected || state_ == ConnectionState::reconnecting) {
                session_.reset();
                set_state_locked(ConnectionState::disconnected);
            }
        }
        if (session)
            session->close_and_join("disconnected by the client");
        if (close_queues) // left open across a reconnection that now stops
            shared_->router.close_all(std::make_exception_ptr(
                DisconnectedError("qmp: " + address() + ": disconnected by the client")));
    }

    bool is_connected() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return state_ == ConnectionState::connected && session_ && session_->is_open();
    }

    ConnectionState state() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return state_;
    }

    Greeting greeting() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!has_greeting_)
            throw DisconnectedError("qmp: no greeting: the client never connected");
        return greeting_;
    }

    json execute(const std::string& command, const json& arguments, const ExecOptions& exec)
    {
        auto [session, request] = prepare(command, &arguments, exec);
        auto call = session->submit(std::move(request));
        return detail::qmp_result(command, detail::qmp_wait(*session, *call));
    }

    PendingReply execute_async(
        const std::string& command, const json& arguments, const ExecOptions& exec)
    {
        auto [session, request] = prepare(command, &arguments, exec);
        auto call = session->submit(std::move(request));
        return PendingReply(std::make_unique<PendingReply::State>(session, std::move(call)));
    }

    json execute_raw(const json& message, const ExecOptions& exec)
    {
        auto [session, request] = prepare(detail::raw_command_name(message), nullptr, exec, false);
        request.message = &message;
        auto call = session->submit(std::move(request));
        return detail::qmp_wait(*session, *call);
    }

    json execute_with_fd(
        const std::string& command, const json& arguments, int fd, const ExecOptions& exec)
    {
        if (fd < 0)
            throw UsageError(
                "qmp: '" + command + "' needs a valid file descriptor, not " + std::to_string(fd));
        auto [session, request] = prepare(command, &arguments, exec);
        request.fd = fd;
        auto call = session->submit(std::move(request));
        return detail::qmp_result(command, detail::qmp_wait(*session, *call));
    }

    EventQueue listen(detail::EventRouter::Filter filter)
    {
        return EventQueue(
            shared_->router.add(std::move(filter), options_.event_queue_capacity, "a listener"));
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
        ExecOptions exec;
        const auto session = prepare("query-qmp-schema", nullptr, exec, false).first;
        return schema_of(session);
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
    // With every change: waiters in prepare() wake, and on_state_change hears of it.
    void set_state_locked(ConnectionState state)
    {
        if (state_ == state)
            return;
        state_ = state;
        if (options_.on_state_change)
            state_changes_.push_back(state);
        state_changed_.notify_all();
    }

    // A session ended (on whichever thread ended it; no user code here).
    void session_ended(const detail::Session* session, const detail::SessionEnd& end)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (session_.get() != session || state_ != ConnectionState::connected)
            return; // a failed connect, or disconnect() already took it
        const bool again =
            options_.reconnect && reopen_ && end.kind != detail::SessionEnd::Kind::closed_by_client;
        set_state_locked(again ? ConnectionState::reconnecting : ConnectionState::disconnected);
        reconnect_pending_ = again;
    }

    // The thread that tells on_state_change and reconnects; only when either is wanted.
    void start_supervisor()
    {
        if (!options_.reconnect && !options_.on_state_change)
            return;
        std::lock_guard<std::mutex> lock(mutex_);
        if (!supervisor_.joinable())
            // Through a std::function: GCC would export std::thread's instantiation for the
            // lambda's own type (tools/check-exported-symbols).
            supervisor_ = std::thread(std::function<void()>([this] { supervise(); }));
        state_changed_.notify_all();
    }

    void supervise()
    {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            state_changed_.wait(lock,
                [this] { return stopping_ || !state_changes_.empty() || reconnect_pending_; });
            if (!state_changes_.empty()) {
                const ConnectionState state = state_changes_.front();
                state_changes_.pop_front();
                lock.unlock();
                try {
                    options_.on_state_change(state);
                } catch (const std::exception& e) {
                    shared_->logger->error("on_state_change threw: {}", e.what());
                } catch (...) {
                    shared_->logger->error("on_state_change threw");
                }
                lock.lock();
                continue;
            }
            if (stopping_)
                return;
            reconnect_pending_ = false;
            lock.unlock();
            reconnect();
            lock.lock();
        }
    }

    // Attempts with exponential backoff until one succeeds or reconnecting stops.
    void reconnect()
    {
        auto delay = options_.reconnect_delay;
        for (;;) {
            std::string peer;
            OpenSocket open;
            std::chrono::milliseconds timeout;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                const auto stopped = [this] {
                    return stopping_ || state_ != ConnectionState::reconnecting;
                };
                if (state_changed_.wait_for(lock, delay, stopped))
                    return;
                peer = address_;
                open = reopen_;
                timeout = reopen_timeout_;
            }
            try {
                establish(peer, timeout, open, true);
                return;
            } catch (const std::exception& e) {
                shared_->logger->warn("{}: reconnecting failed: {}", peer, e.what());
            }
            delay = std::min(delay * 2, options_.reconnect_max_delay);
        }
    }

    // The session to send \p command on (waiting, within the call's timeout, for a connect() in
    // progress) and the request for it; the command is checked against the schema if asked.
    std::pair<std::shared_ptr<detail::Session>, detail::Request> prepare(const std::string& command,
        const json* arguments, const ExecOptions& exec, bool check = true)
    {
        detail::Request request;
        request.command = command;
        request.arguments = arguments;
        request.oob = exec.oob;
        request.timeout = exec.timeout.value_or(options_.command_timeout);
        const auto deadline = detail::deadline_after(request.timeout);
        std::shared_ptr<detail::Session> session;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            const auto settled = [this] {
                return state_ != ConnectionState::connecting &&
                    state_ != ConnectionState::reconnecting;
            };
            if (deadline == Clock::time_point::max())
                state_changed_.wait(lock, settled);
            else if (!state_changed_.wait_until(lock, deadline, settled))
                throw TimeoutError("qmp: '" + command + "': still " +
                    (state_ == ConnectionState::reconnecting ? "reconnecting" : "connecting") +
                    " to " + address_ + " after " + detail::ms_text(request.timeout));
            if (state_ != ConnectionState::connected || !session_)
                throw DisconnectedError("qmp: '" + command + "': not connected" +
                    (address_.empty() ? std::string() : " (last connected to " + address_ + ")"));
            session = session_;
        }
        request.deadline = deadline; // what waiting for a connect() took counts against it
        if (check)
            check_command(session, command);
        return {std::move(session), request};
    }

    // The schema of \p session, fetched once and kept until the next connect().
    std::shared_ptr<const Schema> schema_of(const std::shared_ptr<detail::Session>& session)
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (schema_ && schema_session_ == session.get())
                return schema_;
        }
        // Two threads may fetch it at once; both results are the same, the first stored wins.
        detail::Request request;
        request.command = "query-qmp-schema";
        request.timeout = options_.command_timeout;
        auto call = session->submit(std::move(request));
        auto fetched = std::make_shared<const Schema>(
            detail::qmp_result(request.command, detail::qmp_wait(*session, *call)));
        std::lock_guard<std::mutex> lock(mutex_);
        if (!schema_ || schema_session_ != session.get()) {
            schema_ = std::move(fetched);
            schema_session_ = session.get();
        }
        return schema_;
    }

    // With check_commands, an unknown name fails here, as QEMU would fail it, without a
    // round trip (after the schema was fetched once).
    void check_command(const std::shared_ptr<detail::Session>& session, const std::string& command)
    {
        if (!options_.check_commands || command == "query-qmp-schema")
            return;
        const auto schema = schema_of(session);
        if (schema->has_command(command))
            return;
        const std::string suggestion = schema->suggest_command(command);
        throw ExecuteError(command, "CommandNotFound",
            "unknown command '" + command + "'" +
                (suggestion.empty() ? std::string() : "; did you mean '" + suggestion + "'?"));
    }

    static Event pop_before(EventQueue& listener, Clock::time_point deadline,
        std::chrono::milliseconds timeout, const std::string& what)
    {
        // Rounded up: rounding down would give up before the deadline (a 300 ms wait ending
        // after 299.6 ms, a 1 ms one at once).
        const auto left = deadline == Clock::time_point::max()
            ? wait_forever
            : std::max(std::chrono::milliseconds(0),
                  std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()));
        if (auto event = listener.pop(left))
            return std::move(*event);
        throw TimeoutError("qmp: " + what + " within " + detail::ms_text(timeout));
    }

    const ClientOptions options_;
    const std::shared_ptr<detail::SessionShared> shared_;
    EventQueue events_; // the default listener: every event
    // Reads each session in turn: started by the first, parked between sessions.
    const std::shared_ptr<detail::ReaderThread> reader_ = std::make_shared<detail::ReaderThread>();

    std::mutex connect_mutex_; // one connect() at a time
    mutable std::mutex mutex_; // guards the members below
    std::condition_variable state_changed_;
    ConnectionState state_ = ConnectionState::disconnected;
    std::deque<ConnectionState> state_changes_; // for on_state_change, in order
    OpenSocket reopen_; // how the current session's socket was opened, for reconnecting
    std::chrono::milliseconds reopen_timeout_{0};
    bool reconnect_pending_ = false;
    bool stopping_ = false;
    std::thread supervisor_;
    std::shared_ptr<detail::Canceller> cancel_; // while connecting
    std::shared_ptr<detail::Session> session_; // while connected (and during the handshake)
    std::string address_;
    Greeting greeting_;
    bool has_greeting_ = false;
    std::shared_ptr<const Schema> schema_;
    const detail::Session* schema_session_ = nullptr;

    // Last, so destroyed first: its destructor joins the dispatcher thread, and a callback
    // running meanwhile may still call execute() (which must then find every member above
    // alive and throw DisconnectedError). Also destroyed before shared_, whose router it uses.
    detail::CallbackDispatcher dispatcher_;
};

Client::Impl& Client::impl() const
{
    if (!impl_)
        throw DisconnectedError("qmp: this Client was moved from; use the one it was moved to");
    return *impl_;
}

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
    impl().connect(address);
}

void Client::accept(Server& server)
{
    impl().accept(server, impl().options().connect_timeout);
}

void Client::accept(Server& server, std::chrono::milliseconds timeout)
{
    impl().accept(server, timeout);
}

void Client::connect_fd(int fd)
{
    detail::Fd socket(fd); // ours from here on, closed also when this throws
    impl().connect_fd(std::move(socket));
}

void Client::disconnect() noexcept
{
    if (impl_)
        impl().disconnect();
}

bool Client::is_connected() const
{
    return impl_ && impl().is_connected();
}

ConnectionState Client::state() const
{
    return impl_ ? impl().state() : ConnectionState::disconnected;
}

Greeting Client::greeting() const
{
    return impl().greeting();
}

json Client::execute(const std::string& command, const json& arguments)
{
    return impl().execute(command, arguments, ExecOptions{});
}

json Client::execute(
    const std::string& command, const json& arguments, std::chrono::milliseconds timeout)
{
    ExecOptions exec;
    exec.timeout = timeout;
    return impl().execute(command, arguments, exec);
}

json Client::execute(const std::string& command, const json& arguments, const ExecOptions& options)
{
    return impl().execute(command, arguments, options);
}

PendingReply Client::execute_async(
    const std::string& command, const json& arguments, const ExecOptions& options)
{
    return impl().execute_async(command, arguments, options);
}

json Client::execute_raw(const json& message, const ExecOptions& options)
{
    return impl().execute_raw(message, options);
}

json Client::execute_with_fd(
    const std::string& command, const json& arguments, int fd, const ExecOptions& options)
{
    return impl().execute_with_fd(command, arguments, fd, options);
}

EventQueue Client::listen(std::vector<std::string> names)
{
    std::sort(names.begin(), names.end()); // empty: every event
    return impl().listen({std::move(names), nullptr});
}

EventQueue Client::listen(std::function<bool(const Event&)> accept)
{
    if (!accept)
        throw UsageError("qmp: listen() needs a predicate");
    return impl().listen({{}, std::move(accept)});
}

Event Client::execute_and_wait(const std::string& command, const json& arguments,
    const std::string& event_name, std::chrono::milliseconds timeout)
{
    return impl().execute_and_wait(command, arguments, event_name, timeout);
}

Event Client::wait_for_event(const std::string& name, std::function<bool(const Event&)> accept,
    std::chrono::milliseconds timeout)
{
    return impl().wait_for_event(name, std::move(accept), timeout);
}

Client::CallbackId Client::on_event(std::function<void(const Event&)> callback)
{
    if (!callback)
        throw UsageError("qmp: on_event() needs a callback");
    return impl().on_event(std::move(callback));
}

void Client::remove_callback(CallbackId id)
{
    impl().remove_callback(id);
}

std::shared_ptr<const Schema> Client::schema()
{
    return impl().schema();
}

EventQueue& Client::events()
{
    return impl().events();
}

std::string Client::address() const
{
    return impl_ ? impl().address() : std::string();
}

std::uint64_t Client::dropped_replies() const
{
    return impl_ ? impl().dropped_replies() : 0;
}

const ClientOptions& Client::options() const
{
    return impl().options();
}

} // namespace qmp
