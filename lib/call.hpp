// SPDX-License-Identifier: MIT
// One command from the moment it is submitted until its caller has the outcome.
#pragma once

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <string>

#include <qmp/json.hpp>

#include "deadline.hpp"

namespace qmp::detail {

/// What a request is: a command with arguments, or a whole message (execute_raw()).
struct Request {
    std::string command;
    const json* arguments = nullptr; ///< null, or a json null or object
    const json* message = nullptr; ///< a whole message instead of command + arguments
    bool oob = false; ///< send as exec-oob
    int fd = -1; ///< pass a duplicate of this fd with SCM_RIGHTS
    std::string prefix; ///< bytes sent just before the message (the guest agent's 0xFF)
    std::chrono::milliseconds timeout{0}; ///< the bound the caller asked for (for messages)
    /// When the bound ends; now + timeout when unset.
    std::optional<Clock::time_point> deadline;
    /// How to keep waiting for a reply instead (the facade's API), for the TimeoutError of a
    /// sent request; null: nothing to say.
    const char* keep_waiting = nullptr;
};

/// The slot a caller waits on. The session completes it exactly once: with the reply message,
/// or with the error that ended it.
///
/// Thread safety: every member function is thread-safe; the plain members are set before the
/// call is shared and never change.
class Call {
public:
    std::string id;
    std::string command;
    Clock::time_point deadline;
    std::chrono::milliseconds timeout{0};
    const char* keep_waiting = nullptr; ///< see Request::keep_waiting
    bool in_band = true;
    bool carries_fd = false;

    // Where the request is; guarded by the session's mutex, not by this object.
    enum class Stage { waiting, queued, sending, sent };
    Stage stage = Stage::waiting; ///< waiting: no room yet; queued: to be written
    bool holds_room = false; ///< counts against the in-band or fd limit until answered
    bool abandoned = false; ///< timed out or cancelled: a late reply is dropped
    bool quiet = false; ///< cancelled on purpose: drop the late reply without a warning

    /// Completes the call; later completions are ignored. \returns whether this one counted.
    bool complete(json reply);
    bool fail(std::exception_ptr error);

    /// Waits until completed or \p until passes; true when completed.
    bool wait_until(Clock::time_point until) const;
    bool done() const;

    /// The reply message; rethrows the error. Only after done().
    json take();

    /// Waits until completed or \p until passes; when completed, moves the reply into \p reply
    /// (or rethrows the error) and returns true.
    bool wait_and_take(Clock::time_point until, json& reply);

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable completed_;
    bool done_ = false;
    json reply_;
    std::exception_ptr error_;
};

} // namespace qmp::detail
