// SPDX-License-Identifier: MIT
#include "connection.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <vector>

#include <qmp/error.hpp>

#include "event_message.hpp"
#include "framer.hpp"
#include "redact.hpp"
#include "reply_id.hpp"

namespace qmp::detail {

namespace {

// Spinning for a reply instead of sleeping: only while recent replies came back within
// spin_peer_limit on average (a peer that answers at once; QEMU takes ~190 µs for
// query-status), for at most twice that round trip plus spin_slack and never longer than
// spin_max. The average includes outliers (a fake peer's p50 of 13 µs averages ~40 µs on a
// busy machine), hence a limit well above the typical fast round trip.
constexpr std::chrono::microseconds spin_peer_limit{100};
constexpr std::chrono::microseconds spin_slack{5};
constexpr std::chrono::microseconds spin_max{50};

inline void cpu_relax()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Large enough that a 200 KB schema takes few reads, small enough not to dominate the memory
// of an idle connection (measured: 64 KB was most of it).
constexpr std::size_t read_chunk = 16 * 1024;

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
std::string make_request(
    const std::string& command, const json& arguments, const std::string& id, bool oob)
{
    std::string request;
    request.reserve(32 + command.size() + id.size());
    request += oob ? "{\"exec-oob\":" : "{\"execute\":";
    // QAPI names need no escaping; only an unusual name goes through the serializer.
    const bool plain = !command.empty() && std::all_of(command.begin(), command.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
    if (plain) {
        request += '"';
        request += command;
        request += '"';
    } else {
        request += json(command).dump();
    }
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

} // namespace

// The members the reader looks at, found in one pass over a message's (few) members rather
// than one string-compared std::map lookup each. Pointers into the message: valid while the
// message's object lives, even after the json value itself was moved.
struct Members {
    json* event = nullptr;
    json* ret = nullptr;
    json* error = nullptr;
    json* id = nullptr;
    bool greeting = false;
};

static Members members_of(json& message)
{
    Members found;
    for (auto& member : message.get_ref<json::object_t&>()) {
        const std::string& key = member.first;
        json& value = member.second;
        // The switch already matched the length.
        const auto is = [&key](const char* name) {
            return std::memcmp(key.data(), name, key.size()) == 0;
        };
        switch (key.size()) {
        case 2:
            if (is("id"))
                found.id = &value;
            break;
        case 3:
            found.greeting = found.greeting || is("QMP");
            break;
        case 5:
            if (is("event"))
                found.event = &value;
            else if (is("error"))
                found.error = &value;
            break;
        case 6:
            if (is("return"))
                found.ret = &value;
            break;
        default:
            break;
        }
    }
    return found;
}

std::string raw_command_name(const json& message)
{
    if (!message.is_object())
        return "raw";
    for (const char* key : {"execute", "exec-oob"}) {
        const auto name = message.find(key);
        if (name != message.end())
            return name->is_string() ? name->get<std::string>() : name->dump();
    }
    return "raw";
}

Connection::Connection(Fd socket, std::string peer, const ClientOptions& options,
    std::shared_ptr<SessionShared> shared)
    : socket_(std::move(socket)),
      is_unix_(peer.rfind("unix:", 0) == 0),
      peer_(std::move(peer)),
      max_message_size_(options.max_message_size),
      max_depth_(options.max_nesting_depth),
      redact_secrets_(options.redact_secrets),
      shared_(std::move(shared)),
      log_(*shared_->logger),
      greeting_future_(greeting_.get_future()) // before the reader can take the promise
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
        std::unordered_map<std::string, Slot> pending;
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
            pending_size_.store(0, std::memory_order_relaxed);
            in_band_in_flight_ = 0;
            fd_in_flight_ = false;
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
        room_.notify_all();
        writer_free_.notify_all();
        for (auto& entry : pending)
            if (!entry.second.abandoned)
                entry.second.promise.set_exception(error);
        if (fail_greeting)
            greeting.set_exception(error);
        shared_->router.close_all(error);
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
        std::unique_ptr<char[]> buffer(new char[read_chunk]); // not zero-filled: recv() fills it
        for (;;) {
            const ssize_t n = ::recv(socket_.get(), buffer.get(), read_chunk, 0);
            if (n > 0) {
                framer.feed(buffer.get(), static_cast<std::size_t>(n),
                    [this](std::string_view message) { handle_message(message); });
                flush_events();
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            flush_events(); // what arrived before the end is delivered before the queues close
            close(end_of_stream_reason(n == 0 ? 0 : errno, framer.buffered()));
            return;
        }
    } catch (const FramingError& e) {
        flush_events();
        close(e.what(), true);
    } catch (const std::exception& e) {
        flush_events();
        close(std::string("reader failed: ") + e.what(), true);
    }
}

void Connection::handle_message(std::string_view text)
{
    if (log_.should_log(spdlog::level::trace))
        log_.trace("<-- {}", text);

    if (text.size() >= caller_parse_threshold) {
        const auto id = reply_id_at_end(text);
        if (id && hand_over_text(*id, text))
            return;
    }

    // An event is validated and recorded here and its tree built by whoever takes it (see
    // event_message.hpp and EventRouter).
    MessageClass found = classify_message(text);
    if (found.kind == MessageClass::Kind::event) {
        queue_event(std::move(found.event));
        return;
    }
    if (found.kind == MessageClass::Kind::malformed)
        throw FramingError("malformed JSON from the peer (" + found.error + "): " + excerpt(text));

    json message;
    try {
        message = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) { // parse_error, or out_of_range for 1e999
        throw FramingError(
            std::string("malformed JSON from the peer (") + e.what() + "): " + excerpt(text));
    }
    if (!message.is_object())
        throw FramingError("message is not a JSON object: " + excerpt(text));

    const Members members = members_of(message);
    if (members.event && members.event->is_string()) {
        // An event with members classify_message() does not expect: its tree is built here.
        queue_event(QueuedEvent::built(event_from_message(std::move(message))));
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
    // Events that came before a reply are delivered before the reply wakes its caller: a
    // caller that sees the reply to 'stop' finds the STOP event already queued.
    flush_events();
    if (is_greeting)
        greeting.set_value(std::move(message));
    else
        route_reply(std::move(message), members);
}

// Gives a large reply's text to the thread waiting for it, which parses it; see reply_id.hpp.
// Returns false, having changed nothing, unless a caller waits for \p id: the reader then
// parses the message as any other, and reports it as usual (a dropped reply, a greeting).
bool Connection::hand_over_text(std::string_view id, std::string_view text)
{
    std::promise<ReplyMessage> waiter;
    Clock::time_point sent;
    Wake wake = Wake::none;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!greeting_done_)
            return false;
        const auto slot = pending_.find(std::string(id));
        if (slot == pending_.end() || slot->second.abandoned)
            return false;
        waiter = std::move(slot->second.promise);
        sent = slot->second.sent;
        wake = release_locked(slot->second);
        pending_.erase(slot);
        pending_size_.store(pending_.size(), std::memory_order_relaxed);
    }
    wake_room(wake);
    note_round_trip(sent);
    flush_events(); // events that came first are queued before the caller wakes, as for others
    ReplyMessage reply;
    reply.text.assign(text.data(), text.size());
    waiter.set_value(std::move(reply));
    return true;
}

void Connection::queue_event(QueuedEvent&& event)
{
    if (event_batch_.capacity() == 0)
        event_batch_.reserve(256); // not grown from 1: a 16 KiB read brings ~200 QEMU events
    event_batch_.push_back(std::move(event));
}

void Connection::flush_events()
{
    shared_->router.deliver_batch(event_batch_);
}

void Connection::route_reply(json&& message, const Members& members)
{
    const bool is_reply = members.ret || members.error;
    if (!is_reply) {
        if (members.greeting)
            log_.warn("{}: ignored a second greeting: {}", peer_, excerpt(message));
        else
            log_.warn("{}: ignored a message that is neither a reply nor an event: {}", peer_,
                excerpt(message));
        return;
    }

    const json* id = members.id;
    if (!id) {
        // Every request carries an id, so an id-less reply cannot be matched to a caller. QEMU
        // sends an id-less error when it could not parse its input at all: the stream is out of
        // step. Failing now wakes every waiter instead of leaving them to time out.
        const json* error = members.error;
        if (error && error->is_object())
            throw FramingError("the peer reported an error without an id (" +
                text_member(*error, "class", "?") + ": " + text_member(*error, "desc", "?") + ")");
        throw FramingError(
            "reply without an id (the peer does not echo request ids): " + excerpt(message));
    }

    std::promise<ReplyMessage> waiter;
    Clock::time_point sent;
    bool found = false, abandoned = false, quiet = false;
    Wake wake = Wake::none;
    if (id->is_string()) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto slot = pending_.find(id->get_ref<const std::string&>());
        if (slot != pending_.end()) {
            found = true;
            abandoned = slot->second.abandoned;
            quiet = slot->second.quiet;
            waiter = std::move(slot->second.promise);
            sent = slot->second.sent;
            wake = release_locked(slot->second);
            pending_.erase(slot);
            pending_size_.store(pending_.size(), std::memory_order_relaxed);
        }
    }
    wake_room(wake); // after unlocking: a woken thread would block on mutex_ at once
    if (found)
        note_round_trip(sent);
    if (found && !abandoned) {
        ReplyMessage reply;
        reply.parsed = std::move(message);
        waiter.set_value(std::move(reply));
        return;
    }
    if (quiet) {
        log_.debug("{}: dropped the reply to a cancelled call: {}", peer_, excerpt(message));
        return;
    }
    const auto total = ++shared_->dropped_replies;
    log_.warn("{}: dropped a reply nobody waits for ({}; {} so far): {}", peer_,
        found ? "its call timed out" : "unknown id, perhaps meant for an earlier client", total,
        excerpt(message));
}

// ---- writing ---------------------------------------------------------------------------------

Connection::Wake Connection::release_locked(const Slot& slot)
{
    if (slot.in_band && in_band_in_flight_ > 0)
        --in_band_in_flight_;
    if (slot.carries_fd)
        fd_in_flight_ = false;
    // Wake one waiter per freed slot, not all of them: with 64 threads behind a limit of 8 a
    // notify_all cost ~57 context switches per reply. An fd slot, or fd-carrying waiters whose
    // predicate differs, need everyone to look again.
    if (room_waiters_ == 0)
        return Wake::none;
    return slot.carries_fd || fd_waiters_ > 0 ? Wake::all : Wake::one;
}

void Connection::wake_room(Wake wake)
{
    if (wake == Wake::all)
        room_.notify_all();
    else if (wake == Wake::one)
        room_.notify_one();
}

void Connection::forget(const std::string& id)
{
    Wake wake = Wake::none;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto slot = pending_.find(id);
        if (slot == pending_.end())
            return;
        wake = release_locked(slot->second);
        pending_.erase(slot);
        pending_size_.store(pending_.size(), std::memory_order_relaxed);
    }
    wake_room(wake);
}

void Connection::abandon(const Call& call, bool quiet) noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    const auto slot = pending_.find(call.id);
    if (slot != pending_.end()) {
        slot->second.abandoned = true;
        slot->second.quiet = quiet;
    }
}

void Connection::set_flow_control(std::size_t limit, bool oob)
{
    std::lock_guard<std::mutex> lock(mutex_);
    in_band_limit_ = limit;
    oob_ = oob;
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

std::string Connection::register_call(const Request& request, Call& call)
{
    const bool in_band = !request.oob;
    const bool carries_fd = request.fd >= 0;
    std::unique_lock<std::mutex> lock(mutex_);
    if (request.oob && !oob_ && !closed_)
        throw UsageError("qmp: cannot send '" + call.command + "' out-of-band to " + peer_ +
            ": OOB was not negotiated (not offered by the server, or "
            "ClientOptions::enable_oob is off)");
    // Wait for room: QEMU keeps only the latest passed fd, and with OOB it queues at most 8
    // in-band commands before it stops reading (and then exec-oob could not overtake).
    const auto has_room = [&] {
        return closed_ ||
            ((!in_band || in_band_limit_ == 0 || in_band_in_flight_ < in_band_limit_) &&
                (!carries_fd || !fd_in_flight_));
    };
    bool room = has_room();
    if (!room) {
        ++room_waiters_;
        fd_waiters_ += carries_fd;
        if (call.deadline == Clock::time_point::max()) {
            room_.wait(lock, has_room);
            room = true;
        } else {
            room = room_.wait_until(lock, call.deadline, has_room);
        }
        --room_waiters_;
        fd_waiters_ -= carries_fd;
        if (!room && in_band_limit_ > 0)
            room_.notify_one(); // pass on a wake-up this thread may have consumed in vain
    }
    if (!room)
        throw TimeoutError("qmp: '" + call.command + "' on " + peer_ + ": could not send within " +
            ms_text(call.timeout) +
            (carries_fd ? ": an earlier fd-carrying command is still unanswered"
                        : ": " + std::to_string(in_band_limit_) +
                        " in-band commands are still in flight"));
    if (closed_) {
        lock.unlock();
        throw_closed(call.command);
    }

    // A caller's id is kept as given, even "" (a string id like any other).
    std::string id;
    bool given_id = false;
    if (request.message) {
        const auto given = request.message->find("id");
        if (given != request.message->end()) {
            id = given->get<std::string>();
            given_id = true;
        }
    }
    if (!given_id) {
        do
            id = std::to_string(++next_id_);
        while (pending_.count(id) != 0);
    } else if (pending_.count(id) != 0) {
        throw UsageError("qmp: id \"" + id + "\" of '" + call.command +
            "' clashes with a command still in flight");
    }
    Slot& slot = pending_[id];
    pending_size_.store(pending_.size(), std::memory_order_relaxed);
    slot.sent = Clock::now();
    slot.in_band = in_band;
    slot.carries_fd = carries_fd;
    if (in_band)
        ++in_band_in_flight_;
    if (carries_fd)
        fd_in_flight_ = true;
    call.reply = slot.promise.get_future();
    return id;
}

void Connection::write_request(
    const std::string& request, const std::string& log_text, const Call& call, int fd)
{
    // One request on the wire at a time. A mutex with a condition variable rather than a
    // std::timed_mutex: the latter's try_lock_until is invisible to ThreadSanitizer on this libc.
    {
        std::unique_lock<std::mutex> lock(mutex_);
        const auto idle = [this] { return !writing_ || closed_; };
        if (call.deadline == Clock::time_point::max())
            writer_free_.wait(lock, idle);
        else if (!writer_free_.wait_until(lock, call.deadline, idle)) {
            lock.unlock();
            forget(call.id);
            throw TimeoutError("qmp: '" + call.command + "' on " + peer_ +
                ": could not send within " + ms_text(call.timeout) +
                ": another thread's request is stuck (is the peer reading?)");
        }
        if (closed_) {
            lock.unlock();
            forget(call.id);
            throw_closed(call.command);
        }
        writing_ = true;
    }
    struct WriteDone {
        Connection& self;
        ~WriteDone()
        {
            {
                std::lock_guard<std::mutex> lock(self.mutex_);
                self.writing_ = false;
            }
            self.writer_free_.notify_one();
        }
    } done{*this};

    if (log_.should_log(spdlog::level::trace))
        log_.trace("--> {}", log_text.empty() ? request : log_text);

    std::size_t sent = 0;
    int error = 0;
    switch (
        send_all(socket_.get(), request.data(), request.size(), call.deadline, sent, error, fd)) {
    case SendResult::done:
        return;
    case SendResult::timeout:
        forget(call.id);
        if (sent == 0)
            throw TimeoutError("qmp: '" + call.command + "' on " + peer_ +
                ": could not send within " + ms_text(call.timeout) +
                ": the peer is not reading its socket");
        // Half a request is on the wire: nothing sent after it could be understood.
        close("sending '" + call.command + "' timed out after " + std::to_string(sent) + " of " +
            std::to_string(request.size()) + " bytes; the stream cannot be resumed");
        throw_closed(call.command);
    case SendResult::failed:
        forget(call.id);
        close(error == EPIPE || error == ECONNRESET ? "connection closed by the peer"
                                                    : "cannot write: " + error_text(error));
        throw_closed(call.command);
    }
}

Call Connection::send(const Request& request)
{
    Call call;
    call.timeout = request.timeout;
    call.deadline = deadline_after(request.timeout);
    const json* arguments = request.arguments;
    bool oob = request.oob;
    if (request.message) {
        const json& message = *request.message;
        if (!message.is_object() || !(message.contains("execute") || message.contains("exec-oob")))
            throw UsageError("qmp: a raw message must be an object with \"execute\" or "
                             "\"exec-oob\", not " +
                excerpt(message));
        call.command = raw_command_name(message);
        oob = message.contains("exec-oob");
        if (message.contains("id") && !message["id"].is_string())
            throw UsageError("qmp: the id of a raw message must be a string (QEMU re-serializes "
                             "other ids, so their replies cannot be matched reliably)");
    } else {
        call.command = request.command;
        if (arguments && !arguments->is_null() && !arguments->is_object())
            throw UsageError("qmp: arguments of '" + call.command +
                "' must be a JSON object, not " + arguments->type_name());
    }
    if (request.fd >= 0 && !is_unix_)
        throw UsageError("qmp: cannot pass a file descriptor with '" + call.command + "' to " +
            peer_ + ": fd passing needs a unix socket");
    call.is_quit = call.command == "quit";

    Request effective = request;
    effective.oob = oob;
    call.id = register_call(effective, call);

    std::string text;
    try {
        if (request.message) {
            json message = *request.message;
            message["id"] = call.id;
            text = message.dump(-1, ' ', false, json::error_handler_t::strict);
        } else {
            text = make_request(call.command, arguments ? *arguments : json(), call.id, oob);
        }
    } catch (const json::exception& e) {
        forget(call.id);
        throw UsageError(
            "qmp: arguments of '" + call.command + "' cannot be serialized: " + e.what());
    }
    if (call.is_quit)
        quit_sent_ = true; // so the hang-up that follows reads as the normal end it is
    std::string log_text;
    if (redact_secrets_ && log_.should_log(spdlog::level::trace))
        log_text = request_for_log(request, call, text, oob);
    write_request(text, log_text, call, request.fd);
    return call;
}

void Connection::note_round_trip(Clock::time_point sent)
{
    const std::int64_t sample =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - sent).count();
    const std::int64_t average = recent_round_trip_ns_.load(std::memory_order_relaxed);
    // Only the reader thread stores: a plain load and store suffice.
    recent_round_trip_ns_.store(
        average < 0 ? sample : average + (sample - average) / 8, std::memory_order_relaxed);
}

// Sleeping on the future costs the caller a thread switch to sleep and another to be woken by
// the reader thread; against a peer that answers within microseconds that doubles the latency.
// So while recent replies came back quickly and no other call is in flight, the caller spins
// briefly, polling the future without a system call, before it sleeps. With a slow peer, one CPU,
// or another caller already spinning, it goes straight to sleep.
void Connection::spin_for_reply(Call& call)
{
    static const bool several_cpus = std::thread::hardware_concurrency() > 1;
    const std::chrono::nanoseconds recent(recent_round_trip_ns_.load(std::memory_order_relaxed));
    // Only a lone call: with others in flight the reader has work queued, and a spinning
    // caller would take the CPU it and the peer need.
    if (!several_cpus || recent.count() < 0 || recent > spin_peer_limit ||
        pending_size_.load(std::memory_order_relaxed) > 1)
        return;
    if (spinning_.exchange(true, std::memory_order_acquire))
        return;
    const auto budget = std::min<std::chrono::nanoseconds>(2 * recent + spin_slack, spin_max);
    const auto until = std::min(Clock::now() + budget, call.deadline);
    for (unsigned i = 1;; ++i) {
        if (call.reply.wait_for(std::chrono::seconds(0)) == std::future_status::ready)
            break;
        cpu_relax();
        if (i % 16 == 0 && Clock::now() >= until)
            break;
    }
    spinning_.store(false, std::memory_order_release);
}

// The request as the trace log shows it: with secrets redacted, or empty when it holds none
// (the log then shows the text sent).
std::string Connection::request_for_log(
    const Request& request, const Call& call, const std::string& text, bool oob) const
{
    try {
        if (request.message) {
            json message = *request.message;
            const auto arguments = message.find("arguments");
            if (arguments == message.end() || !redact_secrets(call.command, *arguments))
                return {};
            message["id"] = call.id;
            return message.dump(-1, ' ', false, json::error_handler_t::replace);
        }
        if (!request.arguments || !request.arguments->is_object())
            return {};
        json arguments = *request.arguments;
        if (!redact_secrets(call.command, arguments))
            return {};
        return make_request(call.command, arguments, call.id, oob);
    } catch (const std::exception&) {
        return text.substr(0, text.find("\"arguments\"")) + "...}"; // never the secret itself
    }
}

json Connection::wait(Call& call)
{
    spin_for_reply(call);
    if (call.deadline == Clock::time_point::max()) {
        call.reply.wait();
    } else if (call.reply.wait_until(call.deadline) == std::future_status::timeout) {
        bool still_pending = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            const auto slot = pending_.find(call.id);
            if (slot != pending_.end() && !slot->second.abandoned) {
                slot->second.abandoned = true; // its late reply is dropped and counted
                still_pending = true;
            }
        }
        if (still_pending) // else the reply arrived just now: take it
            throw TimeoutError("qmp: '" + call.command + "' on " + peer_ + ": no reply within " +
                ms_text(call.timeout) + " (a late reply will be dropped)");
    }
    ReplyMessage reply;
    try {
        reply = call.reply.get();
    } catch (const DisconnectedError&) {
        if (call.is_quit) // QEMU may close before replying to 'quit': that is success
            return json{{"return", json::object()}};
        throw_closed(call.command);
    }
    if (reply.text.empty())
        return std::move(reply.parsed);
    try {
        return json::parse(reply.text);
    } catch (const json::exception& e) { // parse_error, or out_of_range for 1e999
        // What the reader would have found: the stream cannot be trusted any further.
        const std::string reason = "malformed JSON from the peer (" + std::string(e.what()) +
            "): " + excerpt(std::string_view(reply.text));
        close(reason, true);
        throw ProtocolError("qmp: '" + call.command + "' on " + peer_ + ": " + reason);
    }
}

json Connection::result(const Call& call, json&& message)
{
    const auto error = message.find("error");
    if (error != message.end()) {
        if (!error->is_object())
            throw ExecuteError(call.command, "GenericError", excerpt(*error));
        throw ExecuteError(call.command, text_member(*error, "class", "GenericError"),
            text_member(*error, "desc", ""));
    }
    return std::move(message["return"]);
}

json Connection::execute(
    const std::string& command, const json& arguments, std::chrono::milliseconds timeout)
{
    Request request;
    request.command = command;
    request.arguments = &arguments;
    request.timeout = timeout;
    Call call = send(request);
    return result(call, wait(call));
}

std::shared_ptr<const Schema> Connection::schema(std::chrono::milliseconds timeout)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (schema_)
            return schema_;
    }
    // Two threads may fetch it at once; both results are the same, the first stored wins.
    auto fetched = std::make_shared<const Schema>(execute("query-qmp-schema", json(), timeout));
    std::lock_guard<std::mutex> lock(mutex_);
    if (!schema_)
        schema_ = std::move(fetched);
    return schema_;
}

} // namespace qmp::detail
