// SPDX-License-Identifier: MIT
// What a qmp::Job knows: its listener, the statuses seen, how it ended, how to send commands.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <qmp/event_match.hpp>
#include <qmp/event_queue.hpp>
#include <qmp/job.hpp>
#include <qmp/json.hpp>

#include "deadline.hpp"

namespace qmp::detail {

/// What start_job() learns from a job's command before sending it.
struct JobStart {
    std::string id;
    bool auto_dismiss = false; ///< QEMU dismisses it by itself (a block job's default)
    std::vector<EventMatch> matches; ///< the events that concern it
};

/// Reads the job id and kind from \p command's \p arguments.
/// \throws UsageError if there is no string "job-id" (nothing is sent then).
JobStart job_start(const std::string& command, const json& arguments);

} // namespace qmp::detail

namespace qmp {

class Job::State {
public:
    /// Sends a command through the client; the timeout is the call's (the client's default
    /// for the command when unset).
    using Execute = std::function<json(const std::string& command, const json& arguments,
        std::optional<std::chrono::milliseconds>)>;

    State(detail::JobStart start, EventQueue events, Execute execute);

    /// Takes every event received so far.
    void drain();
    /// Waits for one more event until \p deadline; false on timeout.
    /// \throws DisconnectedError when the connection ended.
    bool next(detail::Clock::time_point deadline);

    void wait_until(JobStatus status, std::chrono::milliseconds timeout);
    void wait(std::chrono::milliseconds timeout);
    void command(const char* name);

    const std::string id;
    JobStatus status = JobStatus::created;
    std::vector<JobStatus> history;

private:
    void take(const Event& event);
    bool reached(JobStatus wanted) const;
    // Reads the error of a concluded job that QEMU keeps; \returns whether QEMU still lists it.
    bool read_kept_error(detail::Clock::time_point deadline);
    std::optional<std::chrono::milliseconds> left(detail::Clock::time_point deadline) const;
    [[noreturn]] void timed_out(const std::string& what, std::chrono::milliseconds timeout) const;
    std::string outcome() const;

    const bool auto_dismiss_;
    EventQueue events_;
    Execute execute_;
    std::optional<std::string> error_; // QEMU's error text once known
    bool cancelled_ = false; // BLOCK_JOB_CANCELLED, or cancel() and then an error
    bool cancel_requested_ = false;
    std::size_t since_command_ = 0; // history before the last command does not count
};

} // namespace qmp
