// SPDX-License-Identifier: MIT
#include "session.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <qmp/error.hpp>

#include "framer.hpp"
#include "request.hpp"
#include "text.hpp"

namespace qmp::detail {

namespace {

// Large enough that a 200 KB schema takes few reads, small enough not to weigh on the memory of
// an idle connection.
constexpr std::size_t read_chunk = 16 * 1024;

std::chrono::system_clock::time_point event_time(const json& stamp_member)
{
    const json* stamp = &stamp_member;
    if (!stamp->is_object())
        return {};
    const auto seconds = stamp->find("seconds");
    const auto micros = stamp->find("microseconds");
    // -1/-1: QEMU could not read its clock. Beyond what a time_point holds (the year 2262 with
    // libstdc++'s nanoseconds) or with microseconds out of range the peer lies: unknown too.
    constexpr std::int64_t last_second =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::duration::max())
            .count() -
        1;
    if (seconds == stamp->end() || micros == stamp->end() || !seconds->is_number_integer() ||
        !micros->is_number_integer())
        return {};
    const std::int64_t s = seconds->get<std::int64_t>();
    const std::int64_t us = micros->get<std::int64_t>();
    if (s < 0 || s > last_second || us < 0 || us > 999999)
        return {};
    return std::chrono::system_clock::time_point(
        std::chrono::seconds(s) + std::chrono::microseconds(us));
}

void wake(const Fd& event) noexcept
{
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(event.get(), &one, sizeof one);
}

} // namespace

Session::Session(Transport transport, SessionLimits limits, std::shared_ptr<SessionShared> shared,
    std::shared_ptr<SessionRules> rules)
    : transport_(std::move(transport)),
      limits_(limits),
      shared_(std::move(shared)),
      rules_(std::move(rules)),
      log_(*shared_->logger),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      framer_(std::make_unique<Framer>(limits_.max_message_size, limits_.max_depth))
{
    if (!wake_)
        throw ConnectError("qmp: " + peer() + ": cannot create an eventfd: " + error_text(errno));
}

Session::~Session()
{
    close_and_join("disconnected");
}

void Session::start(std::shared_ptr<ReaderThread> reader)
{
    {
        std::lock_guard<std::mutex> lock(join_mutex_);
        reader_ = reader;
    }
    reader->serve(shared_from_this());
}

bool Session::is_open() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return !end_;
}

std::optional<SessionEnd> Session::end() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return end_;
}

void Session::set_flow_control(std::size_t in_band_limit, bool oob)
{
    std::lock_guard<std::mutex> lock(mutex_);
    in_band_limit_ = in_band_limit;
    oob_ = oob;
}

// ---- ending ----------------------------------------------------------------------------------

std::exception_ptr Session::closed_error_locked(const std::string& command) const
{
    const std::string message = "qmp: '" + command + "' on " + peer() + ": " + end_->reason;
    if (end_->kind == SessionEnd::Kind::protocol_error)
        return std::make_exception_ptr(ProtocolError(message));
    return std::make_exception_ptr(DisconnectedError(message));
}

std::exception_ptr Session::closed_error_locked(const Call& call) const
{
    if (call.stage != Call::Stage::sending && call.stage != Call::Stage::sent)
        return closed_error_locked(call.command);
    // It went out: whether the peer ran it cannot be known.
    const std::string message = "qmp: '" + call.command + "' on " + peer() + ": " + end_->reason +
        " (the command was sent; whether it ran is unknown)";
    if (end_->kind == SessionEnd::Kind::protocol_error)
        return std::make_exception_ptr(ProtocolError(message));
    return std::make_exception_ptr(DisconnectedError(message));
}

void Session::close(SessionEnd::Kind kind, const std::string& reason) noexcept
{
    try {
        std::unordered_map<std::string, std::shared_ptr<Call>> pending;
        std::vector<std::exception_ptr> errors;
        SessionEnd end;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (end_)
                return;
            end_ = SessionEnd{kind, reason};
            end = *end_;
            pending.swap(pending_);
            for (const auto& entry : pending)
                errors.push_back(closed_error_locked(*entry.second));
            in_band_in_flight_ = 0;
            fd_in_flight_ = false;
        }
        if (kind == SessionEnd::Kind::protocol_error)
            log_.warn("{}: protocol error, closing: {}", peer(), reason);
        else
            log_.debug("{}: session ended: {}", peer(), reason);
        // The protocol (and through it the client's state) hears of the end before any waiter
        // wakes: a woken caller must find the client "reconnecting" or "disconnected".
        rules_->on_end(end);
        // Woken outside the lock: a woken thread may call back into this object.
        auto error = errors.begin();
        for (const auto& entry : pending)
            entry.second->fail(*error++);
        if (kind == SessionEnd::Kind::closed_by_client || !shared_->queues_stay_open) {
            const std::string message = "qmp: " + peer() + ": " + reason;
            shared_->router.close_all(kind == SessionEnd::Kind::protocol_error
                    ? std::make_exception_ptr(ProtocolError(message))
                    : std::make_exception_ptr(DisconnectedError(message)));
        }
    } catch (...) {
        // Only allocation can fail here; the shutdown below still wakes the reader.
    }
    transport_.shutdown();
}

void Session::close_and_join(const std::string& reason) noexcept
{
    close(SessionEnd::Kind::closed_by_client, reason);
    std::shared_ptr<ReaderThread> reader;
    {
        std::lock_guard<std::mutex> lock(join_mutex_);
        reader = reader_;
    }
    if (reader)
        reader->wait_done(this);
}

// ---- reading ---------------------------------------------------------------------------------

void Session::read_loop() noexcept
{
    while (turn(Clock::time_point::max())) { }
}

bool Session::pump_until(const std::function<bool()>& done, Clock::time_point deadline)
{
    while (!done()) {
        if (Clock::now() >= deadline || !turn(deadline))
            return false;
    }
    return true;
}

bool Session::turn(Clock::time_point until) noexcept
{
    try {
        bool want_write;
        Clock::time_point write_deadline = Clock::time_point::max();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (end_)
                return false;
            want_write = write_blocked_;
            if (want_write && !outbox_.empty())
                write_deadline = outbox_.front().call->deadline;
        }
        const auto ready =
            transport_.wait(want_write, wake_.get(), std::min(until, write_deadline));
        if (ready.woken) {
            std::uint64_t count;
            [[maybe_unused]] const auto n = ::read(wake_.get(), &count, sizeof count);
        }
        if (ready.writable) {
            bool mine;
            {
                std::lock_guard<std::mutex> lock(mutex_);
                write_blocked_ = false;
                mine = take_writer_locked();
            }
            if (mine)
                write_queued(true);
        } else if (want_write && !ready.readable && !ready.woken &&
            Clock::now() >= write_deadline) {
            expire_blocked_write();
        }
        if (ready.readable)
            read_available(*framer_);
        return true;
    } catch (const FramingError& e) {
        flush_events();
        close(SessionEnd::Kind::protocol_error, e.what());
    } catch (const PeerError& e) {
        flush_events();
        close(SessionEnd::Kind::protocol_error, e.what());
    } catch (const std::exception& e) {
        close(SessionEnd::Kind::protocol_error, std::string("reader failed: ") + e.what());
    }
    return false;
}

void Session::read_available(Framer& framer)
{
    char buffer[read_chunk];
    for (;;) {
        const ssize_t n = transport_.receive(buffer, sizeof buffer);
        if (n > 0) {
            feed(framer, buffer, static_cast<std::size_t>(n));
            flush_events();
            if (static_cast<std::size_t>(n) < sizeof buffer)
                return; // most likely all there was: wait again rather than read EAGAIN
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        const int error = n == 0 ? 0 : errno;
        flush_events(); // what came before the end is delivered before the queues close
        std::string reason = error == 0 ? "connection closed by the peer (EOF)"
            : error == ECONNRESET       ? "connection reset by the peer"
                                        : "cannot read from the socket: " + error_text(error);
        if (framer.buffered() > 0)
            reason += " in the middle of a message (" + std::to_string(framer.buffered()) +
                " bytes unread)";
        close(error == 0              ? SessionEnd::Kind::peer_closed
                : error == ECONNRESET ? SessionEnd::Kind::peer_reset
                                      : SessionEnd::Kind::io_error,
            reason);
        return;
    }
}

void Session::feed(Framer& framer, const char* data, std::size_t size)
{
    const auto deliver = [this](std::string_view message) { handle_message(message); };
    if (!limits_.delimiter_resets) {
        framer.feed(data, size, deliver);
        return;
    }
    const char* const end = data + size;
    while (data != end) {
        const auto* delimiter = static_cast<const char*>(
            std::memchr(data, static_cast<unsigned char>(sync_delimiter), end - data));
        if (!discarding_.load(std::memory_order_acquire))
            framer.feed(data, (delimiter ? delimiter : end) - data, deliver);
        if (!delimiter)
            return;
        // Whatever came before the delimiter is over: a partial message, the error the agent
        // sends for our own 0xFF, stale replies of an earlier synchronisation.
        framer.reset();
        discarding_.store(false, std::memory_order_release);
        data = delimiter + 1;
    }
}

void Session::discard_until_delimiter()
{
    discarding_.store(true, std::memory_order_release);
}

// The members the session looks at, found in one pass over a message's few members instead of
// one string-compared map lookup each. Pointers into the message.
struct Session::Members {
    const json* event = nullptr;
    const json* id = nullptr;
    const json* data = nullptr;
    const json* timestamp = nullptr;
    bool is_reply = false; // has "return" or "error"
};

namespace {

Session::Members members_of(const json& message)
{
    Session::Members found;
    for (const auto& [key, value] : message.get_ref<const json::object_t&>()) {
        // The switch matched the length: comparing the bytes is enough.
        const auto is = [&key = key](const char* name) {
            return std::char_traits<char>::compare(key.data(), name, key.size()) == 0;
        };
        switch (key.size()) {
        case 2:
            if (is("id"))
                found.id = &value;
            break;
        case 4:
            if (is("data"))
                found.data = &value;
            break;
        case 5:
            if (is("event"))
                found.event = &value;
            else if (is("error"))
                found.is_reply = true;
            break;
        case 6:
            found.is_reply = found.is_reply || is("return");
            break;
        case 9:
            if (is("timestamp"))
                found.timestamp = &value;
            break;
        default:
            break;
        }
    }
    return found;
}

} // namespace

void Session::handle_message(std::string_view text)
{
    if (log_.should_log(spdlog::level::trace))
        log_.trace("<-- {}", text);
    json message;
    try {
        message = json::parse(text.begin(), text.end());
    } catch (const json::exception& e) { // parse_error, or out_of_range for 1e999
        throw PeerError(
            std::string("malformed JSON from the peer (") + e.what() + "): " + excerpt(text));
    }
    if (!message.is_object())
        throw PeerError("message is not a JSON object: " + excerpt(text));
    const Members members = members_of(message);
    if (members.event && members.event->is_string())
        deliver_event(std::move(message), members);
    else
        route(std::move(message), members, text);
}

void Session::deliver_event(json&& message, const Members& members)
{
    Event event;
    event.name = members.event->get_ref<const std::string&>();
    if (members.data)
        event.data = *members.data;
    if (members.timestamp)
        event.timestamp = event_time(*members.timestamp);
    event.raw = std::move(message);
    event.sequence = shared_->router.next_sequence();
    if (event_batch_.capacity() == 0)
        event_batch_.reserve(256); // not grown from 1: a 16 KiB read brings ~200 QEMU events
    event_batch_.push_back(std::move(event));
}

// The events of one read go to the queues together: one lock and one wake-up per queue for a
// burst instead of one per event. Called before anything else leaves the reader (a reply,
// the end), so that events keep their place before it.
void Session::flush_events()
{
    if (!event_batch_.empty())
        shared_->router.deliver(event_batch_);
}

void Session::route(json&& message, const Members& members, std::string_view text)
{
    flush_events(); // a caller that sees the reply to 'stop' finds STOP queued
    if (!members.id) {
        rules_->on_unrouted(std::move(message), text);
        return;
    }
    std::shared_ptr<Call> call;
    bool write = false, abandoned = false, quiet = false;
    if (members.id->is_string()) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = pending_.find(members.id->get_ref<const std::string&>());
        if (found != pending_.end()) {
            call = found->second;
            if (members.is_reply) {
                pending_.erase(found);
                write = release_locked(*call);
                abandoned = call->abandoned;
                quiet = call->quiet;
            }
        }
    }
    if (call && !members.is_reply)
        throw PeerError("a message with the id of '" + call->command +
            "' is neither a reply nor an event: " + excerpt(text));
    if (write)
        write_queued(true);
    if (!call) {
        if (!members.is_reply) {
            rules_->on_unrouted(std::move(message), text);
            return;
        }
        ++shared_->dropped_replies;
        log_.warn("{}: dropped a reply nobody waits for (a stale reply meant for an earlier "
                  "client of the monitor?): {}",
            peer(), excerpt(text));
        return;
    }
    if (!abandoned && call->complete(std::move(message)))
        return;
    if (!quiet) {
        ++shared_->dropped_replies;
        log_.warn("{}: dropped the late reply to '{}' (its caller gave up)", peer(), call->command);
    }
}

// ---- writing ---------------------------------------------------------------------------------

bool Session::has_room_locked(const Call& call) const
{
    if (call.carries_fd && fd_in_flight_)
        return false;
    return !call.in_band || in_band_limit_ == 0 || in_band_in_flight_ < in_band_limit_;
}

// Takes room for \p out and queues it for writing.
void Session::admit_locked(Outgoing&& out)
{
    Call& call = *out.call;
    call.holds_room = (call.in_band && in_band_limit_ > 0) || call.carries_fd;
    in_band_in_flight_ += call.in_band && in_band_limit_ > 0;
    fd_in_flight_ = fd_in_flight_ || call.carries_fd;
    call.stage = Call::Stage::queued;
    outbox_.push_back(std::move(out));
}

// Gives back \p call's room and admits what waited for it. \returns whether this thread should
// now write the outbox (write_queued()).
bool Session::release_locked(Call& call)
{
    if (call.holds_room) {
        call.holds_room = false;
        if (call.in_band && in_band_in_flight_ > 0)
            --in_band_in_flight_;
        if (call.carries_fd)
            fd_in_flight_ = false;
    }
    while (!waiting_.empty()) {
        Outgoing& next = waiting_.front();
        if (next.call->abandoned) { // timed out or cancelled before it could be sent
            pending_.erase(next.call->id);
            waiting_.pop_front();
            continue;
        }
        if (!has_room_locked(*next.call))
            break;
        admit_locked(std::move(next));
        waiting_.pop_front();
    }
    return take_writer_locked();
}

bool Session::take_writer_locked()
{
    if (writer_busy_ || write_blocked_ || outbox_.empty() || end_)
        return false;
    writer_busy_ = true;
    return true;
}

std::shared_ptr<Call> Session::submit(Request request)
{
    check_request(request);
    auto call = std::make_shared<Call>();
    call->command =
        request.message ? raw_command_name(*request.message) : std::move(request.command);
    call->timeout = request.timeout;
    call->keep_waiting = request.keep_waiting;
    call->deadline = request.deadline ? *request.deadline : deadline_after(request.timeout);
    const bool oob = request.message ? request.message->contains("exec-oob") : request.oob;
    call->in_band = !oob;
    call->carries_fd = request.fd >= 0;
    if (call->carries_fd && !transport_.can_pass_fds())
        throw UsageError("qmp: cannot pass a file descriptor with '" + call->command + "' to " +
            peer() + ": fd passing needs a unix socket");
    const bool given_id = request.message && request.message->contains("id");
    if (given_id)
        call->id = request.message->at("id").get<std::string>(); // a caller's id is kept as given
    else
        call->id = std::to_string(++shared_->next_id); // unique for the client's whole life

    Outgoing out;
    out.call = call;
    out.bytes = request.prefix + serialize_request(request, call->command, call->id);
    if (call->carries_fd) {
        out.fd = Fd(::fcntl(request.fd, F_DUPFD_CLOEXEC, 0));
        if (!out.fd)
            throw UsageError("qmp: cannot pass fd " + std::to_string(request.fd) + " with '" +
                call->command + "': " + error_text(errno));
    }
    if (log_.should_log(spdlog::level::trace))
        log_.trace("--> {}",
            limits_.redact_secrets ? request_for_log(request, call->command, call->id) : out.bytes);

    bool write;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (end_)
            std::rethrow_exception(closed_error_locked(call->command));
        if (oob && !oob_)
            throw UsageError("qmp: cannot send '" + call->command + "' out-of-band to " + peer() +
                ": OOB was not negotiated (not offered by the server, or "
                "ClientOptions::enable_oob is off)");
        while (!given_id && pending_.count(call->id) != 0) {
            // A raw message in flight took this id itself: take the next one (rare).
            call->id = std::to_string(++shared_->next_id);
            out.bytes = request.prefix + serialize_request(request, call->command, call->id);
        }
        if (!pending_.emplace(call->id, call).second)
            throw UsageError("qmp: id \"" + call->id + "\" of '" + call->command +
                "' clashes with a command still in flight");
        // exec-oob overtakes on purpose; in-band requests keep their order.
        if (oob || (waiting_.empty() && has_room_locked(*call)))
            admit_locked(std::move(out));
        else
            waiting_.push_back(std::move(out));
        write = take_writer_locked();
    }
    if (write)
        write_queued(false);
    return call;
}

// Writes the outbox in order, as long as the socket takes bytes at once. The caller holds the
// writer's role (take_writer_locked()); it is given back here.
void Session::write_queued(bool on_reader)
{
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        while (!outbox_.empty() && outbox_.front().sent == 0 && outbox_.front().call->abandoned) {
            // Never sent, and now never will be.
            Call& dropped = *outbox_.front().call;
            pending_.erase(dropped.id);
            outbox_.pop_front();
            release_locked(dropped); // may admit more; this thread keeps writing them
        }
        if (outbox_.empty() || end_) {
            writer_busy_ = false;
            return;
        }
        // Written under the lock: the send never waits (it takes what fits at once), and one
        // lock per request costs less than letting go and taking it again.
        Outgoing& out = outbox_.front();
        out.call->stage = Call::Stage::sending;
        const ssize_t n = transport_.send_some(out.bytes.data() + out.sent,
            out.bytes.size() - out.sent, out.sent == 0 ? out.fd.get() : -1);
        const int error = errno;
        if (n > 0) {
            out.sent += static_cast<std::size_t>(n);
            out.fd.reset(); // went with the first byte
            if (out.sent == out.bytes.size()) {
                out.call->stage = Call::Stage::sent;
                outbox_.pop_front();
            }
            continue;
        }
        writer_busy_ = false;
        if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) {
            if (out.sent == 0)
                out.call->stage = Call::Stage::queued;
            write_blocked_ = true;
            lock.unlock();
            if (!on_reader)
                wake(wake_); // the reader takes over when the socket drains
            return;
        }
        lock.unlock();
        const bool reset = error == EPIPE || error == ECONNRESET;
        close(reset ? SessionEnd::Kind::peer_reset : SessionEnd::Kind::io_error,
            reset ? "connection closed by the peer" : "cannot write: " + error_text(error));
        return;
    }
}

// The socket stayed full until the first queued request's deadline.
void Session::expire_blocked_write()
{
    std::string partial;
    bool write = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (outbox_.empty() || outbox_.front().call->deadline > Clock::now())
            return;
        Outgoing& out = outbox_.front();
        if (out.sent == 0) {
            // Nothing of it went out: it fails alone (wait() says the peer is not reading), and
            // write_queued() drops it.
            out.call->abandoned = out.call->quiet = true;
            write_blocked_ = false;
            write = take_writer_locked();
        } else {
            partial = "sending '" + out.call->command + "' timed out after " +
                std::to_string(out.sent) + " of " + std::to_string(out.bytes.size()) +
                " bytes; the stream cannot be resumed";
        }
    }
    if (!partial.empty())
        close(SessionEnd::Kind::io_error, partial);
    else if (write)
        write_queued(true);
}

// ---- waiting ---------------------------------------------------------------------------------

json Session::wait(Call& call)
{
    json reply;
    if (call.wait_and_take(call.deadline, reply))
        return reply;
    // Timed out: why, as far as this call got.
    std::string why, partial;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!call.done()) {
            call.abandoned = true;
            switch (call.stage) {
            case Call::Stage::waiting:
                call.quiet = true;
                why = call.carries_fd && fd_in_flight_
                    ? "could not send within " + ms_text(call.timeout) +
                        ": an earlier fd-carrying command is still unanswered"
                    : "could not send within " + ms_text(call.timeout) + ": " +
                        std::to_string(in_band_in_flight_) +
                        " in-band commands are still in flight";
                break;
            case Call::Stage::queued:
                call.quiet = true;
                why = "could not send within " + ms_text(call.timeout) +
                    ": the peer is not reading its socket";
                break;
            case Call::Stage::sending:
                if (write_blocked_ && !outbox_.empty() && outbox_.front().call.get() == &call &&
                    outbox_.front().sent > 0) {
                    // Half a request is on the wire: nothing sent after it could be
                    // understood, so the session cannot go on.
                    partial = "sending '" + call.command + "' timed out after " +
                        std::to_string(outbox_.front().sent) + " of " +
                        std::to_string(outbox_.front().bytes.size()) +
                        " bytes; the stream cannot be resumed";
                    break;
                }
                [[fallthrough]];
            case Call::Stage::sent:
                why = "no reply within " + ms_text(call.timeout) +
                    ". The command may still complete in the peer; its late reply will be "
                    "dropped and counted as a dropped reply" +
                    (call.keep_waiting
                            ? std::string(". To keep waiting instead, use ") + call.keep_waiting
                            : std::string());
            }
        }
    }
    if (!partial.empty())
        close(SessionEnd::Kind::io_error, partial); // fails the call too
    else if (!why.empty())
        throw TimeoutError("qmp: '" + call.command + "' on " + peer() + ": " + why);
    return call.take();
}

void Session::abandon(Call& call, bool quiet) noexcept
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (call.done())
        return;
    call.abandoned = true;
    call.quiet = quiet;
}

} // namespace qmp::detail
