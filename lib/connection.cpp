// SPDX-License-Identifier: MIT
#include "connection.hpp"

#include <cerrno>
#include <sys/socket.h>
#include <vector>

#include <qmp/error.hpp>

#include "framer.hpp"

namespace qmp::detail {

namespace {

constexpr std::size_t read_chunk = 64 * 1024;

// A message cut to a length that fits in a log line or an error message.
std::string excerpt(std::string_view text, std::size_t limit = 200)
{
    if (text.size() <= limit)
        return std::string(text);
    return std::string(text.substr(0, limit)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string excerpt(const json& value)
{
    const std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
    return excerpt(std::string_view(text));
}

std::string ms_text(std::chrono::milliseconds timeout)
{
    return std::to_string(timeout.count()) + " ms";
}

// Serializes a request without building a JSON object for it; ids are short decimal strings.
std::string make_request(const std::string& command, const json& arguments, const std::string& id)
{
    std::string request;
    request.reserve(32 + command.size() + id.size());
    request += "{\"execute\":";
    request += json(command).dump();
    if (arguments.is_object() && !arguments.empty()) {
        request += ",\"arguments\":";
        request += arguments.dump(-1, ' ', false, json::error_handler_t::strict);
    }
    request += ",\"id\":\"";
    request += id;
    request += "\"}";
    return request;
}

// A string member of an object, or \p fallback when absent or not a string (peers can lie).
std::string text_member(const json& object, const char* key, const char* fallback)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::chrono::system_clock::time_point event_time(const json& message)
{
    const auto ts = message.find("timestamp");
    if (ts == message.end() || !ts->is_object())
        return {};
    const auto seconds = ts->value("seconds", json(-1));
    const auto micros = ts->value("microseconds", json(0));
    if (!seconds.is_number_integer() || !micros.is_number_integer() || seconds.get<long long>() < 0)
        return {};
    return std::chrono::system_clock::time_point(
        std::chrono::seconds(seconds.get<long long>()) +
        std::chrono::microseconds(micros.get<long long>()));
}

}  // namespace

Connection::Connection(Fd socket, std::string peer, const ClientOptions& options,
                       std::shared_ptr<SessionShared> shared)
    : socket_(std::move(socket)),
      peer_(std::move(peer)),
      max_message_size_(options.max_message_size),
      max_depth_(options.max_nesting_depth),
      shared_(std::move(shared)),
      log_(*shared_->logger),
      greeting_future_(greeting_.get_future())  // before the reader can take the promise
{
}

Connection::~Connection()
{
    close_and_join("disconnected");
}

void Connection::start()
{
    reader_ = std::thread([this] { read_loop(); });
}

bool Connection::is_open() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return !closed_;
}

json Connection::wait_greeting(Clock::time_point deadline)
{
    std::future<json> greeting = std::move(greeting_future_);
    if (deadline != Clock::time_point::max() &&
        greeting.wait_until(deadline) == std::future_status::timeout)
        return nullptr;
    return greeting.get();
}

void Connection::close(const std::string& reason, bool protocol_error) noexcept
{
    try {
        std::unordered_map<std::string, std::promise<json>> pending;
        std::promise<json> greeting;
        bool fail_greeting = false;
        std::exception_ptr error;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (closed_)
                return;
            closed_ = true;
            closed_by_protocol_error_ = protocol_error;
            close_reason_ = reason;
            const std::string message = "qmp: " + peer_ + ": " + reason;
            error = protocol_error ? std::make_exception_ptr(ProtocolError(message))
                                   : std::make_exception_ptr(DisconnectedError(message));
            pending.swap(pending_);
            if (!greeting_done_) {
                greeting_done_ = true;
                fail_greeting = true;
                greeting = std::move(greeting_);
            }
        }
        if (protocol_error)
            log_.warn("{}: protocol error, closing: {}", peer_, reason);
        else
            log_.debug("{}: connection ended: {}", peer_, reason);
        // Wake everyone outside the lock: a woken thread may call back into this object.
        for (auto& entry : pending)
            entry.second.set_exception(error);
        if (fail_greeting)
            greeting.set_exception(error);
        shared_->events->close(error);
    } catch (...) {
        // Only allocation can fail here; the shutdown below still wakes the reader.
    }
    shutdown_socket(socket_.get());
}

void Connection::close_and_join(const std::string& reason) noexcept
{
    close(reason);
    std::lock_guard<std::mutex> lock(join_mutex_);
    if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id())
        reader_.join();
}

// ---- reading ---------------------------------------------------------------------------------

std::string Connection::end_of_stream_reason(int error, std::size_t unread) const
{
    std::string reason;
    if (error == 0 || error == ECONNRESET) {
        if (quit_sent_)
            reason = "connection closed after 'quit'";
        else if (error == 0)
            reason = "connection closed by the peer (EOF)";
        else
            reason = "connection reset by the peer";
    } else {
        reason = "cannot read from the socket: " + error_text(error);
    }
    if (unread > 0 && !quit_sent_)
        reason += " in the middle of a message (" + std::to_string(unread) + " bytes unread)";
    return reason;
}

void Connection::read_loop() noexcept
{
    try {
        Framer framer(max_message_size_, max_depth_);
        std::vector<char> buffer(read_chunk);
        for (;;) {
            const ssize_t n = ::recv(socket_.get(), buffer.data(), buffer.size(), 0);
            if (n > 0) {
                framer.feed(buffer.data(), static_cast<std::size_t>(n),
                            [this](std::string_view message) { handle_message(message); });
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            close(end_of_stream_reason(n == 0 ? 0 : errno, framer.buffered()));
            return;
        }
    } catch (const FramingError& e) {
        close(e.what(), true);
    } catch (const std::exception& e) {
        close(std::string("reader failed: ") + e.what(), true);
    }
}

void Connection::handle_message(std::string_view text)
{
    if (log_.should_log(spdlog::level::trace))
        log_.trace("<-- {}", text);

    json message;
    try {
        message = json::parse(text.begin(), text.end());
    } catch (const json::parse_error& e) {
        throw FramingError(std::string("malformed JSON from the peer (") + e.what() +
                           "): " + excerpt(text));
    }
    if (!message.is_object())
        throw FramingError("message is not a JSON object: " + excerpt(text));

    const auto event = message.find("event");
    if (event != message.end() && event->is_string()) {
        deliver_event(std::move(message));
        return;
    }

    // The first other message is the greeting (or whatever the peer sends instead of one:
    // connect() checks it).
    std::promise<json> greeting;
    bool is_greeting = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!greeting_done_) {
            greeting_done_ = is_greeting = true;
            greeting = std::move(greeting_);
        }
    }
    if (is_greeting)
        greeting.set_value(std::move(message));
    else
        route_reply(std::move(message));
}

void Connection::deliver_event(json&& message)
{
    Event event;
    event.name = message["event"].get<std::string>();
    const auto data = message.find("data");
    if (data != message.end())
        event.data = *data;
    event.timestamp = event_time(message);
    event.raw = std::move(message);
    shared_->events->push(std::move(event));
}

void Connection::route_reply(json&& message)
{
    const bool is_reply = message.contains("return") || message.contains("error");
    if (!is_reply) {
        if (message.contains("QMP"))
            log_.warn("{}: ignored a second greeting: {}", peer_, excerpt(message));
        else
            log_.warn("{}: ignored a message that is neither a reply nor an event: {}", peer_,
                      excerpt(message));
        return;
    }

    const auto id = message.find("id");
    if (id == message.end()) {
        // Every request carries an id, so an id-less reply cannot be matched to a caller. QEMU
        // sends an id-less error when it could not parse its input at all: the stream is out of
        // step. Failing now wakes every waiter instead of leaving them to time out.
        const auto error = message.find("error");
        if (error != message.end() && error->is_object())
            throw FramingError("the peer reported an error without an id (" +
                               text_member(*error, "class", "?") + ": " +
                               text_member(*error, "desc", "?") + ")");
        throw FramingError("reply without an id (the peer does not echo request ids): " +
                           excerpt(message));
    }

    std::promise<json> waiter;
    bool found = false;
    if (id->is_string()) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto slot = pending_.find(id->get_ref<const std::string&>());
        if (slot != pending_.end()) {
            waiter = std::move(slot->second);
            pending_.erase(slot);
            found = true;
        }
    }
    if (!found) {
        const auto total = ++shared_->dropped_replies;
        log_.warn("{}: dropped a reply nobody waits for (late, or meant for an earlier client; "
                  "{} so far): {}",
                  peer_, total, excerpt(message));
        return;
    }
    waiter.set_value(std::move(message));
}

// ---- writing ---------------------------------------------------------------------------------

void Connection::forget(const std::string& id)
{
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.erase(id);
}

void Connection::throw_closed(const std::string& command)
{
    std::string message;
    bool protocol_error;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        message = "qmp: '" + command + "' on " + peer_ + ": " + close_reason_;
        protocol_error = closed_by_protocol_error_;
    }
    if (protocol_error)
        throw ProtocolError(message);
    throw DisconnectedError(message);
}

void Connection::send_request(const std::string& request, const std::string& command,
                              const std::string& id, Clock::time_point deadline,
                              std::chrono::milliseconds timeout)
{
    std::unique_lock<std::timed_mutex> lock(write_mutex_, std::defer_lock);
    if (deadline == Clock::time_point::max())
        lock.lock();
    else if (!lock.try_lock_until(deadline)) {
        forget(id);
        throw TimeoutError("qmp: '" + command + "' on " + peer_ + ": could not send within " +
                           ms_text(timeout) +
                           ": another thread's request is stuck (is the peer reading?)");
    }

    if (log_.should_log(spdlog::level::trace))
        log_.trace("--> {}", request);

    std::size_t sent = 0;
    int error = 0;
    switch (send_all(socket_.get(), request.data(), request.size(), deadline, sent, error)) {
    case SendResult::done:
        return;
    case SendResult::timeout:
        forget(id);
        if (sent == 0)
            throw TimeoutError("qmp: '" + command + "' on " + peer_ + ": could not send within " +
                               ms_text(timeout) + ": the peer is not reading its socket");
        // Half a request is on the wire: nothing sent after it could be understood.
        close("sending '" + command + "' timed out after " + std::to_string(sent) + " of " +
              std::to_string(request.size()) + " bytes; the stream cannot be resumed");
        throw_closed(command);
    case SendResult::failed:
        forget(id);
        close(error == EPIPE || error == ECONNRESET ? "connection closed by the peer"
                                                    : "cannot write: " + error_text(error));
        throw_closed(command);
    }
}

json Connection::execute(const std::string& command, const json& arguments,
                         std::chrono::milliseconds timeout)
{
    if (!arguments.is_null() && !arguments.is_object())
        throw UsageError("qmp: arguments of '" + command + "' must be a JSON object, not " +
                         arguments.type_name());
    const auto deadline = deadline_after(timeout);
    const std::string id = std::to_string(++next_id_);
    std::string request;
    try {
        request = make_request(command, arguments, id);
    } catch (const json::type_error& e) {
        throw UsageError("qmp: arguments of '" + command + "' cannot be serialized: " + e.what());
    }

    std::future<json> reply;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (closed_) {
            lock.unlock();
            throw_closed(command);
        }
        reply = pending_[id].get_future();
    }

    const bool is_quit = command == "quit";
    if (is_quit)
        quit_sent_ = true;  // so the hang-up that follows reads as the normal end it is
    send_request(request, command, id, deadline, timeout);

    if (deadline == Clock::time_point::max()) {
        reply.wait();
    } else if (reply.wait_until(deadline) == std::future_status::timeout) {
        bool still_pending;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            still_pending = pending_.erase(id) > 0;
        }
        if (still_pending)  // else the reply arrived just now: take it
            throw TimeoutError("qmp: '" + command + "' on " + peer_ + ": no reply within " +
                               ms_text(timeout) + " (a late reply will be dropped)");
    }

    json message;
    try {
        message = reply.get();
    } catch (const DisconnectedError&) {
        if (is_quit)  // QEMU may close before replying to 'quit': that is success
            return json::object();
        throw_closed(command);
    }

    const auto error = message.find("error");
    if (error != message.end()) {
        if (!error->is_object())
            throw ExecuteError(command, "GenericError", excerpt(*error));
        throw ExecuteError(command, text_member(*error, "class", "GenericError"),
                           text_member(*error, "desc", ""));
    }
    return std::move(message["return"]);
}

}  // namespace qmp::detail
