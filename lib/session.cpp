// SPDX-License-Identifier: MIT
// A session's life: construction, hand-over to the reader thread, and its end (every call failed
// with one cause, exactly once). Reading is in session_reading.cpp, calls in session_calls.cpp.
#include "session.hpp"

#include <qmp/error.hpp>

#include "framer.hpp"

namespace qmp::detail {

namespace {

Fd wake_fd(const std::string& peer)
{
    try {
        return make_eventfd();
    } catch (const TransportError& e) {
        throw ConnectError("qmp: " + peer + ": " + e.what());
    }
}

// What a session's end throws at its waiters: a ProtocolError when the peer broke the protocol.
std::exception_ptr end_error(SessionEnd::Kind kind, const std::string& message)
{
    if (kind == SessionEnd::Kind::protocol_error)
        return std::make_exception_ptr(ProtocolError(message));
    return std::make_exception_ptr(DisconnectedError(message));
}

} // namespace

Session::Session(Transport transport, SessionLimits limits, std::shared_ptr<SessionShared> shared,
    std::shared_ptr<SessionRules> rules)
    : transport_(std::move(transport)),
      limits_(limits),
      shared_(std::move(shared)),
      rules_(std::move(rules)),
      log_(*shared_->logger),
      wake_(wake_fd(peer())),
      framer_(std::make_unique<Framer>(limits_.max_message_size, limits_.max_depth))
{
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

std::exception_ptr Session::closed_error_locked(const Call& call) const
{
    std::string message = "qmp: '" + call.command + "' on " + peer() + ": " + end_->reason;
    if (call.stage == Call::Stage::sending || call.stage == Call::Stage::sent)
        message += " (the command was sent; whether it ran is unknown)";
    else
        message += " (the command was not sent)";
    return end_error(end_->kind, message);
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
            shared_->router.close_all(end_error(kind, "qmp: " + peer() + ": " + reason));
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

} // namespace qmp::detail
