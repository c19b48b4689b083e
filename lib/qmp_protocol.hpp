// SPDX-License-Identifier: MIT
// The QMP protocol over a session: the greeting, capabilities negotiation, and what to make of
// a message that is neither an event nor a reply to a call.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>

#include <qmp/event.hpp>
#include <qmp/options.hpp>

#include "session.hpp"

namespace qmp::detail {

/// QMP's rules for a session: the first unrouted message is the greeting; an error without an id
/// means the peer could not parse its input, so the stream is out of step and the session ends.
///
/// Thread safety: every member is thread-safe.
class QmpRules : public SessionRules {
public:
    /// \p ended, if set, is told how the session ended (on whichever thread ended it).
    explicit QmpRules(std::shared_ptr<spdlog::logger> logger,
        std::function<void(const SessionEnd&)> ended = nullptr)
        : logger_(std::move(logger)), ended_(std::move(ended))
    {
    }

    void on_unrouted(json&& message, std::string_view text) override;
    void on_end(const SessionEnd& end) noexcept override;

    /// Whether the greeting (or what came instead) is there.
    bool greeted();

    /// Waits for the greeting (the first unrouted message) until \p deadline.
    /// \returns the message, and its text in \p text; std::nullopt on timeout.
    /// \throws ConnectError when the session ended first.
    std::optional<json> wait_greeting(
        const std::string& peer, Clock::time_point deadline, std::string& text);

private:
    const std::shared_ptr<spdlog::logger> logger_;
    const std::function<void(const SessionEnd&)> ended_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool greeted_ = false;
    std::optional<json> greeting_;
    std::string greeting_text_; // for messages: a deep tree is not serialised again
    std::optional<SessionEnd> end_;
};

/// Reads the greeting and negotiates capabilities (with "oob" when offered and wanted), all
/// before \p deadline (\p timeout after the start, for messages), then sets the session's flow
/// control. On a session not started yet, the calling thread does the reading
/// (Session::pump_until()); start it afterwards.
/// \throws ConnectError (one "qmp:" prefix, one cause).
Greeting qmp_handshake(Session& session, QmpRules& rules, const ClientOptions& options,
    Clock::time_point deadline, std::chrono::milliseconds timeout);

/// Waits for \p call's reply message. 'quit' succeeds when the peer ends the session instead of
/// replying (QEMU may close first), but not when the client or a protocol error ended it.
/// \throws as Session::wait().
json qmp_wait(Session& session, Call& call);

/// The "return" member of \p reply, or ExecuteError for an error reply.
json qmp_result(const std::string& command, json&& reply);

} // namespace qmp::detail
