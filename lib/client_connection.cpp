// SPDX-License-Identifier: MIT
// A Client's connection side: connecting, accepting or taking a socket, the handshake, the
// connection state and its changes, and reconnection.
#include "client_impl.hpp"

#include <qmp/error.hpp>

#include <algorithm>
#include <cerrno>
#include <sys/socket.h>

#include "address.hpp"
#include "facade_shared.hpp"
#include "log.hpp"
#include "qmp_protocol.hpp"
#include "server_impl.hpp"
#include "text.hpp"

namespace qmp {

using detail::Clock;

namespace {

void check_options(const ClientOptions& options)
{
    const auto fail = [](const std::string& what) {
        detail::invalid_options("ClientOptions", what);
    };
    if (options.connect_timeout.count() < 0)
        fail("connect_timeout is negative");
    detail::check_shared_options("ClientOptions", options);
    if (options.retry_interval.count() <= 0)
        fail("retry_interval must be positive");
    if (options.event_queue_capacity == 0)
        fail("event_queue_capacity is 0 (qmp::unbounded for no limit)");
    if (options.tcp_keepalive.count() < 0)
        fail("tcp_keepalive is negative");
    if (options.reconnect &&
        (options.reconnect_delay.count() <= 0 ||
            options.reconnect_max_delay < options.reconnect_delay))
        fail("reconnect_delay must be positive and at most reconnect_max_delay");
}

} // namespace

Client::Impl::Impl(ClientOptions options)
    : options_((check_options(options), std::move(options))),
      shared_(std::make_shared<detail::SessionShared>(detail::logger_or_null(options_.logger))),
      events_(shared_->router.add({}, options_.event_queue_capacity, "events()")),
      dispatcher_(shared_->router, options_.event_queue_capacity, shared_->logger)
{
}

Client::Impl::~Impl()
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

void Client::Impl::connect(const std::string& text)
{
    const detail::Address address = detail::parse_address(text);
    establish(address.to_string(), options_.connect_timeout,
        [this, address](Clock::time_point deadline, detail::Canceller& cancel) {
            return detail::connect_with_retries(address, {options_.tcp_keepalive},
                options_.retry_connect ? options_.retry_interval : std::chrono::milliseconds(0),
                options_.connect_timeout, deadline, cancel);
        });
}

void Client::Impl::accept(Server& server, std::chrono::milliseconds timeout)
{
    Server::Impl* const server_impl = server.impl_.get();
    establish("accepted from " + server_impl->address(), timeout,
        [server_impl, timeout](Clock::time_point deadline, detail::Canceller& cancel) {
            try {
                return server_impl->accept(deadline, cancel);
            } catch (const detail::TransportError& e) {
                throw ConnectError("qmp: " + server_impl->address() + ": " + e.what() +
                    (e.error() == ETIMEDOUT ? " (" + detail::ms_text(timeout) + ")" : ""));
            }
        });
}

void Client::Impl::connect_fd(detail::Fd socket)
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

void Client::Impl::establish(const std::string& peer, std::chrono::milliseconds timeout,
    OpenSocket open, bool again, bool reopenable)
{
    start_supervisor(); // on_state_change hears of this attempt too
    std::lock_guard<std::mutex> one_at_a_time(connect_mutex_);
    std::shared_ptr<detail::Session> previous;
    const std::shared_ptr<detail::Canceller> cancel = detail::connect_canceller(peer);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (again && state_ != ConnectionState::reconnecting)
            throw ConnectError("qmp: reconnecting to " + peer + " was stopped");
        if (!again && state_ == ConnectionState::reconnecting)
            throw UsageError("qmp: reconnecting to " + address_ + "; call disconnect() first");
        if (session_ && session_->is_open())
            throw UsageError("qmp: already connected to " + address_ + "; call disconnect() first");
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
            detail::throw_if_cancelled(*cancel, peer);
            session_ = session; // from here on disconnect() closes it
        }
        shared_->router.reopen_all(); // events may come before the greeting
        // The handshake reads on this thread (no hop to the reader and back for the
        // greeting and the negotiation's reply); the reader takes over after it.
        Greeting greeting = detail::qmp_handshake(*session, *rules, options_, deadline, timeout);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            detail::throw_if_cancelled(*cancel, peer);
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
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (session_ == session)
                session_.reset();
            if (!again || cancel->cancelled())
                set_state_locked(ConnectionState::disconnected);
            cancel_.reset();
        }
        detail::end_failed_connect(session, *cancel, peer);
    }
    shared_->logger->debug("{}: connected (QEMU {}.{}.{})", peer, greeting_.version.major,
        greeting_.version.minor, greeting_.version.micro);
}

void Client::Impl::disconnect() noexcept
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

bool Client::Impl::is_connected() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return state_ == ConnectionState::connected && session_ && session_->is_open();
}

ConnectionState Client::Impl::state() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return state_;
}

Greeting Client::Impl::greeting() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (!has_greeting_)
        throw DisconnectedError("qmp: no greeting: the client never connected");
    return greeting_;
}

void Client::Impl::set_state_locked(ConnectionState state)
{
    if (state_ == state)
        return;
    state_ = state;
    if (options_.on_state_change)
        state_changes_.push_back(state);
    state_changed_.notify_all();
}

void Client::Impl::session_ended(const detail::Session* session, const detail::SessionEnd& end)
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (session_.get() != session || state_ != ConnectionState::connected)
        return; // a failed connect, or disconnect() already took it
    const bool again =
        options_.reconnect && reopen_ && end.kind != detail::SessionEnd::Kind::closed_by_client;
    set_state_locked(again ? ConnectionState::reconnecting : ConnectionState::disconnected);
    reconnect_pending_ = again;
}

void Client::Impl::start_supervisor()
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

void Client::Impl::supervise()
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        state_changed_.wait(
            lock, [this] { return stopping_ || !state_changes_.empty() || reconnect_pending_; });
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

void Client::Impl::reconnect()
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

} // namespace qmp
