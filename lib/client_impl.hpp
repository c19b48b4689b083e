// SPDX-License-Identifier: MIT
// What a qmp::Client is inside. Its connection side (connecting, accepting, the state,
// reconnection) is in client_connection.cpp; the calls users make in client.cpp.
#pragma once

#include <qmp/client.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "callback_dispatcher.hpp"
#include "job_state.hpp"
#include "session.hpp"

namespace qmp {

class QMP_NO_EXPORT Client::Impl {
public:
    // Connecting and the connection state (client_connection.cpp).
    explicit Impl(ClientOptions options);
    ~Impl();
    void connect(const std::string& text);
    void accept(Server& server, std::chrono::milliseconds timeout);
    void connect_fd(detail::Fd socket);

    // Opens a socket (connecting, accepting, or taking one handed over), then greeting and
    // negotiation, all within \p timeout; disconnect() from another thread ends it promptly.
    // \p again: a reconnection attempt (the state stays "reconnecting" if it fails).
    using OpenSocket = std::function<detail::Fd(detail::Clock::time_point, detail::Canceller&)>;
    void establish(const std::string& peer, std::chrono::milliseconds timeout, OpenSocket open,
        bool again = false, bool reopenable = true);
    void disconnect() noexcept;
    bool is_connected() const;
    ConnectionState state() const;
    Greeting greeting() const;

    // The calls (client.cpp).
    json execute(const std::string& command, const json& arguments, const ExecOptions& exec);
    PendingReply execute_async(
        const std::string& command, const json& arguments, const ExecOptions& exec);
    json execute_raw(const json& message, const ExecOptions& exec);
    json execute_with_fd(
        const std::string& command, const json& arguments, int fd, const ExecOptions& exec);
    EventQueue listen(detail::EventRouter::Filter filter);
    Event execute_and_wait(const std::string& command, const json& arguments,
        detail::EventRouter::Filter filter, const std::string& event_name,
        std::chrono::milliseconds timeout);
    Event wait_for_event(detail::EventRouter::Filter filter, const std::string& event_name,
        std::chrono::milliseconds timeout);

    // Sends commands for a Job: through this client while it exists, DisconnectedError after.
    Job::State::Execute job_commands(const std::string& job_id);
    std::uint64_t on_event(std::function<void(const Event&)> callback);
    void remove_callback(std::uint64_t id) { dispatcher_.remove(id); }

    std::shared_ptr<const Schema> schema();
    EventQueue& events() { return events_; }

    std::string address() const;
    std::uint64_t dropped_replies() const { return shared_->dropped_replies; }
    const ClientOptions& options() const { return options_; }

private:
    // With every change: waiters in prepare() wake, and on_state_change hears of it.
    void set_state_locked(ConnectionState state);

    // A session ended (on whichever thread ended it; no user code here).
    void session_ended(const detail::Session* session, const detail::SessionEnd& end);

    // The thread that tells on_state_change and reconnects; only when either is wanted.
    void start_supervisor();
    void supervise();

    // Attempts with exponential backoff until one succeeds or reconnecting stops.
    void reconnect();

    // The session to send \p command on (waiting, within the call's timeout, for a connect() in
    // progress) and the request for it; the command is checked against the schema if asked.
    std::pair<std::shared_ptr<detail::Session>, detail::Request> prepare(const std::string& command,
        const json* arguments, const ExecOptions& exec, bool check = true);

    // The schema of \p session, fetched once and kept until the next connect().
    std::shared_ptr<const Schema> schema_of(const std::shared_ptr<detail::Session>& session);

    // With check_commands, an unknown name fails here, as QEMU would fail it, without a
    // round trip (after the schema was fetched once).
    void check_command(const std::shared_ptr<detail::Session>& session, const std::string& command);
    static Event pop_before(EventQueue& listener, detail::Clock::time_point deadline,
        std::chrono::milliseconds timeout, const std::string& what);

    const ClientOptions options_;
    const std::shared_ptr<detail::SessionShared> shared_;
    EventQueue events_; // the default listener: every event
    // Reads each session in turn: started by the first, parked between sessions.
    const std::shared_ptr<detail::ReaderThread> reader_ = std::make_shared<detail::ReaderThread>();
    // What a Job holds to reach this client; gone with it.
    const std::shared_ptr<Impl* const> self_ = std::make_shared<Impl* const>(this);
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

} // namespace qmp
