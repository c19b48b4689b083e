// SPDX-License-Identifier: MIT
// The Client facade: the calls users make (commands, events, jobs, the schema), on the session of
// the moment. Connecting and the connection state are in client_connection.cpp.
#include "client_impl.hpp"

#include <qmp/error.hpp>

#include <algorithm>

#include "event_match_filter.hpp"
#include "facade_shared.hpp"
#include "pending_reply_state.hpp"
#include "qmp_protocol.hpp"
#include "request.hpp"
#include "text.hpp"

namespace qmp {

using detail::Clock;

json Client::Impl::execute(
    const std::string& command, const json& arguments, const ExecOptions& exec)
{
    auto [session, request] = prepare(command, &arguments, exec);
    auto call = session->submit(std::move(request));
    return detail::qmp_result(command, detail::qmp_wait(*session, *call));
}

PendingReply Client::Impl::execute_async(
    const std::string& command, const json& arguments, const ExecOptions& exec)
{
    auto [session, request] = prepare(command, &arguments, exec);
    auto call = session->submit(std::move(request));
    return PendingReply(std::make_unique<PendingReply::State>(session, std::move(call)));
}

json Client::Impl::execute_raw(const json& message, const ExecOptions& exec)
{
    auto [session, request] = prepare(detail::raw_command_name(message), nullptr, exec, false);
    request.message = &message;
    auto call = session->submit(std::move(request));
    return detail::qmp_wait(*session, *call);
}

json Client::Impl::execute_with_fd(
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

EventQueue Client::Impl::listen(detail::EventRouter::Filter filter)
{
    return EventQueue(
        shared_->router.add(std::move(filter), options_.event_queue_capacity, "a listener"));
}

Event Client::Impl::execute_and_wait(const std::string& command, const json& arguments,
    detail::EventRouter::Filter filter, const std::string& event_name,
    std::chrono::milliseconds timeout)
{
    EventQueue listener = listen(std::move(filter));
    const auto deadline = detail::deadline_after(timeout);
    ExecOptions exec;
    exec.timeout = timeout;
    execute(command, arguments, exec);
    return pop_before(listener, deadline, timeout,
        "'" + command + "' succeeded but no " + event_name + " event followed");
}

Event Client::Impl::wait_for_event(detail::EventRouter::Filter filter,
    const std::string& event_name, std::chrono::milliseconds timeout)
{
    const auto deadline = detail::deadline_after(timeout);
    EventQueue listener = listen(std::move(filter));
    return pop_before(listener, deadline, timeout, "no matching " + event_name + " event");
}

Job::State::Execute Client::Impl::job_commands(const std::string& job_id)
{
    return [alive = std::weak_ptr<Impl* const>(self_), job_id](const std::string& command,
               const json& arguments, std::optional<std::chrono::milliseconds> timeout) {
        const auto self = alive.lock();
        if (!self)
            throw DisconnectedError(
                "qmp: '" + command + "' for job '" + job_id + "': its Client was destroyed");
        ExecOptions exec;
        exec.timeout = timeout;
        return (*self)->execute(command, arguments, exec);
    };
}

std::uint64_t Client::Impl::on_event(std::function<void(const Event&)> callback)
{
    return dispatcher_.add(std::move(callback));
}

std::shared_ptr<const Schema> Client::Impl::schema()
{
    ExecOptions exec;
    const auto session = prepare("query-qmp-schema", nullptr, exec, false).first;
    return schema_of(session);
}

std::string Client::Impl::address() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return address_;
}

std::pair<std::shared_ptr<detail::Session>, detail::Request> Client::Impl::prepare(
    const std::string& command, const json* arguments, const ExecOptions& exec, bool check)
{
    detail::Request request;
    request.command = command;
    request.arguments = arguments;
    request.oob = exec.oob;
    request.timeout = exec.timeout.value_or(detail::default_timeout(options_, command));
    request.keep_waiting = "execute_async() and PendingReply::wait_for()";
    const auto deadline = detail::deadline_after(request.timeout);
    std::shared_ptr<detail::Session> session;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        const auto settled = [this] {
            return state_ != ConnectionState::connecting && state_ != ConnectionState::reconnecting;
        };
        if (!detail::wait_with_deadline(state_changed_, lock, deadline, settled))
            throw TimeoutError("qmp: '" + command + "': still " +
                (state_ == ConnectionState::reconnecting ? "reconnecting" : "connecting") + " to " +
                address_ + " after " + detail::ms_text(request.timeout));
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

std::shared_ptr<const Schema> Client::Impl::schema_of(
    const std::shared_ptr<detail::Session>& session)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (schema_ && schema_session_ == session.get())
            return schema_;
    }
    // Two threads may fetch it at once; both results are the same, the first stored wins.
    const std::string command = "query-qmp-schema";
    detail::Request request;
    request.command = command;
    request.timeout = detail::default_timeout(options_, command);
    auto call = session->submit(std::move(request));
    auto fetched = std::make_shared<const Schema>(
        detail::qmp_result(command, detail::qmp_wait(*session, *call)));
    std::lock_guard<std::mutex> lock(mutex_);
    if (!schema_ || schema_session_ != session.get()) {
        schema_ = std::move(fetched);
        schema_session_ = session.get();
    }
    return schema_;
}

void Client::Impl::check_command(
    const std::shared_ptr<detail::Session>& session, const std::string& command)
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

Event Client::Impl::pop_before(EventQueue& listener, Clock::time_point deadline,
    std::chrono::milliseconds timeout, const std::string& what)
{
    if (auto event = listener.pop(detail::wait_left(deadline, std::chrono::milliseconds(0))))
        return std::move(*event);
    throw TimeoutError("qmp: " + what + " within " + detail::ms_text(timeout));
}

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

EventQueue Client::listen(std::initializer_list<std::string> names)
{
    return listen(std::vector<std::string>(names));
}

EventQueue Client::listen(const EventMatch& match)
{
    return impl().listen(detail::match_filter({match}));
}

Event Client::execute_and_wait(const std::string& command, const json& arguments,
    const std::string& event_name, std::chrono::milliseconds timeout)
{
    return impl().execute_and_wait(
        command, arguments, {{event_name}, nullptr}, event_name, timeout);
}

Event Client::execute_and_wait(const std::string& command, const json& arguments,
    const EventMatch& match, std::chrono::milliseconds timeout)
{
    return execute_and_wait(command, arguments, std::vector<EventMatch>{match}, timeout);
}

Event Client::execute_and_wait(const std::string& command, const json& arguments,
    const std::vector<EventMatch>& matches, std::chrono::milliseconds timeout)
{
    return impl().execute_and_wait(
        command, arguments, detail::match_filter(matches), detail::describe(matches), timeout);
}

Event Client::wait_for_event(const std::string& name, std::function<bool(const Event&)> accept,
    std::chrono::milliseconds timeout)
{
    return impl().wait_for_event({{name}, std::move(accept)}, name, timeout);
}

Event Client::wait_for_event(const EventMatch& match, std::chrono::milliseconds timeout)
{
    return wait_for_event(std::vector<EventMatch>{match}, timeout);
}

Event Client::wait_for_event(
    const std::vector<EventMatch>& matches, std::chrono::milliseconds timeout)
{
    return impl().wait_for_event(detail::match_filter(matches), detail::describe(matches), timeout);
}

Job Client::start_job(const std::string& command, const json& arguments, const ExecOptions& options)
{
    detail::JobStart start = detail::job_start(command, arguments);
    EventQueue events = impl().listen(detail::match_filter(start.matches));
    impl().execute(command, arguments, options);
    auto execute = impl().job_commands(start.id);
    return Job(
        std::make_unique<Job::State>(std::move(start), std::move(events), std::move(execute)));
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
