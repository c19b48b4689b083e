// SPDX-License-Identifier: MIT
// A session's reading: the reader's turn (read, frame, parse once), then routing each message to
// its call, to the event router or to the protocol's rules.
#include "session.hpp"

#include <cerrno>
#include <optional>
#include <unistd.h>

#include <qmp/error.hpp>

#include "framer.hpp"
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

} // namespace

void Session::read_loop() noexcept
{
    while (turn(Clock::time_point::max(), nullptr)) { }
}

bool Session::pump_until(const std::function<bool()>& done, Clock::time_point deadline)
{
    while (!done()) {
        if (Clock::now() >= deadline || !turn(deadline, nullptr))
            return false;
    }
    return true;
}

namespace {

// The session whose reading role this thread holds: a listen() predicate that calls back into
// the client while it runs must not try to take the role again.
thread_local const Session* role_held = nullptr;

// Holds a session's reading role (its mutex) and marks this thread as the holder.
class ReadingRole {
public:
    ReadingRole(std::mutex& role, const Session* session, bool wait) : lock_(role, std::defer_lock)
    {
        if (role_held == session)
            return; // already this thread's: not held a second time
        if (wait)
            lock_.lock();
        else if (!lock_.try_lock())
            return;
        role_held = session;
    }
    ~ReadingRole() { unlock(); }
    ReadingRole(const ReadingRole&) = delete;
    ReadingRole& operator=(const ReadingRole&) = delete;

    bool held() const { return lock_.owns_lock(); }
    void unlock()
    {
        if (!lock_.owns_lock())
            return;
        role_held = nullptr;
        lock_.unlock();
    }

private:
    std::unique_lock<std::mutex> lock_;
};

} // namespace

void Session::read_for(const Call& call)
{
    if (call.done())
        return;
    ReadingRole role(reading_, this, false);
    if (!role.held())
        return; // another thread reads (or this one, in a predicate): it completes the call
    while (!call.done() && Clock::now() < call.deadline && turn(call.deadline, &call)) { }
    // A write left for the reading role to finish (write_blocked_) needs the reader thread, which
    // may be waiting in poll() for readability alone: this thread may have taken its wake-up.
    bool wake;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        wake = write_blocked_;
    }
    role.unlock();
    if (wake)
        signal_eventfd(wake_);
}

bool Session::turn(Clock::time_point until, const Call* reading_for) noexcept
{
    std::optional<ReadingRole> role;
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
        if (!reading_for) // waits while a caller reads for itself: it does this work meanwhile
            role.emplace(reading_, this, true);
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
            read_available(*framer_, reading_for);
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

void Session::read_available(Framer& framer, const Call* reading_for)
{
    char buffer[read_chunk];
    for (;;) {
        const ssize_t n = transport_.receive(buffer, sizeof buffer);
        if (n > 0) {
            feed(framer, buffer, static_cast<std::size_t>(n));
            flush_events();
            if (static_cast<std::size_t>(n) < sizeof buffer)
                return; // most likely all there was: wait again rather than read EAGAIN
            // A caller with its reply goes back to its program: a flood of events behind the
            // reply is the reader thread's to read, or the caller would not return until it ends.
            if (reading_for && reading_for->done())
                return;
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
    bool write = false, answered = false, quiet = false;
    if (members.id->is_string()) {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto found = pending_.find(members.id->get_ref<const std::string&>());
        if (found != pending_.end()) {
            if (members.is_reply) {
                call = std::move(found->second);
                pending_.erase(found);
                write = release_locked(*call);
                quiet = call->quiet;
                // Completed under the lock that wait() and abandon() take to give up: the
                // reply either reaches its caller or is counted as dropped, never neither.
                answered = !call->abandoned && call->complete(std::move(message));
            } else {
                call = found->second;
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
    if (answered)
        return;
    if (!quiet) {
        ++shared_->dropped_replies;
        log_.warn("{}: dropped the late reply to '{}' (its caller gave up)", peer(), call->command);
    }
}

} // namespace qmp::detail
