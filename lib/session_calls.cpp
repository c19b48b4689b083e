// SPDX-License-Identifier: MIT
// A session's calls: submitting a request, flow control (the in-band limit, one fd in flight),
// writing in order by whichever thread has the writer role, waiting and abandoning.
#include "session.hpp"

#include <cerrno>
#include <fcntl.h>

#include <qmp/error.hpp>

#include "request.hpp"
#include "text.hpp"

namespace qmp::detail {

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
    out.bytes = serialize_request(request, call->command, call->id);
    if (call->carries_fd) {
        out.fd = Fd(::fcntl(request.fd, F_DUPFD_CLOEXEC, 0));
        if (!out.fd)
            throw UsageError("qmp: cannot pass fd " + std::to_string(request.fd) + " with '" +
                call->command + "': " + error_text(errno));
    }
    if (log_.should_log(spdlog::level::trace))
        log_.trace("--> {}",
            limits_.redact_secrets ? request_for_log(request, call->command, call->id) : out.bytes);

    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (end_)
            std::rethrow_exception(closed_error_locked(*call)); // not sent yet
        if (oob && !oob_)
            throw UsageError("qmp: cannot send '" + call->command + "' out-of-band to " + peer() +
                ": OOB was not negotiated (not offered by the server, or "
                "ClientOptions::enable_oob is off)");
        while (!pending_.try_emplace(call->id, call).second) {
            if (given_id)
                throw UsageError("qmp: id \"" + call->id + "\" of '" + call->command +
                    "' clashes with a command still in flight");
            // A raw message in flight took this id itself: take the next one (rare).
            call->id = std::to_string(++shared_->next_id);
            out.bytes = serialize_request(request, call->command, call->id);
        }
        // exec-oob overtakes on purpose; in-band requests keep their order.
        if (oob || (waiting_.empty() && has_room_locked(*call)))
            admit_locked(std::move(out));
        else
            waiting_.push_back(std::move(out));
        if (take_writer_locked())
            write_queued(lock, false); // still under the lock: one lock for the whole request
    }
    return call;
}

// Writes the outbox in order, as long as the socket takes bytes at once. The caller holds the
// writer's role (take_writer_locked()); it is given back here.
void Session::write_queued(bool reading_role)
{
    std::unique_lock<std::mutex> lock(mutex_);
    write_queued(lock, reading_role);
}

void Session::write_queued(std::unique_lock<std::mutex>& lock, bool reading_role)
{
    for (;;) {
        while (!outbox_.empty() && outbox_.front().sent == 0 && outbox_.front().call->abandoned) {
            // Never sent, and now never will be. Kept alive past pop_front(): its caller may
            // have gone, leaving the outbox the last owner.
            const std::shared_ptr<Call> dropped = std::move(outbox_.front().call);
            pending_.erase(dropped->id);
            outbox_.pop_front();
            release_locked(*dropped); // may admit more; this thread keeps writing them
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
            // The reading role polls for POLLOUT from its next round on; anyone else wakes the
            // reader thread to take over (a caller leaving the role wakes it too: read_for()).
            if (!reading_role)
                signal_eventfd(wake_);
            return;
        }
        if (out.sent == 0)
            out.call->stage = Call::Stage::queued; // nothing of it reached the peer
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
            partial = cut_short(out);
        }
    }
    if (!partial.empty())
        close(SessionEnd::Kind::io_error, partial);
    else if (write)
        write_queued(true);
}

std::string Session::cut_short(const Outgoing& out)
{
    return "sending '" + out.call->command + "' timed out after " + std::to_string(out.sent) +
        " of " + std::to_string(out.bytes.size()) + " bytes; the stream cannot be resumed";
}

// ---- waiting ---------------------------------------------------------------------------------

json Session::wait(Call& call)
{
    read_for(call);
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
                    partial = cut_short(outbox_.front());
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

void Session::forget_abandoned()
{
    bool write = false;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto entry = pending_.begin(); entry != pending_.end();) {
            Call& call = *entry->second;
            if (call.abandoned && call.stage == Call::Stage::sent) {
                write = release_locked(call) || write;
                entry = pending_.erase(entry);
            } else {
                ++entry;
            }
        }
    }
    if (write)
        write_queued(false);
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
