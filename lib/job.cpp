// SPDX-License-Identifier: MIT
// qmp::Job: a QEMU job followed through its events, and the commands that steer it.
#include <qmp/error.hpp>
#include <qmp/job.hpp>

#include <algorithm>
#include <array>
#include <cstring>

#include "job_state.hpp"
#include "text.hpp"

namespace qmp {

namespace {

constexpr std::array<const char*, 10> status_names = {"created", "running", "paused", "ready",
    "standby", "waiting", "pending", "aborting", "concluded", "null"};

std::optional<JobStatus> status_named(const std::string& name)
{
    for (std::size_t i = 0; i < status_names.size(); ++i)
        if (name == status_names[i])
            return static_cast<JobStatus>(i);
    return std::nullopt;
}

// The commands that start block jobs: QEMU dismisses them by itself unless told otherwise.
bool is_block_job_command(const std::string& command)
{
    static const std::array<const char*, 6> names = {"blockdev-mirror", "blockdev-backup",
        "block-commit", "block-stream", "drive-mirror", "drive-backup"};
    return std::any_of(
        names.begin(), names.end(), [&](const char* name) { return command == name; });
}

} // namespace

const char* to_string(JobStatus status) noexcept
{
    const auto index = static_cast<std::size_t>(status);
    return index < status_names.size() ? status_names[index] : "unknown";
}

namespace detail {

JobStart job_start(const std::string& command, const json& arguments)
{
    const auto id = arguments.is_object() ? arguments.find("job-id") : json::const_iterator();
    if (!arguments.is_object() || id == arguments.end() || !id->is_string() ||
        id->get_ref<const std::string&>().empty())
        throw UsageError("qmp: start_job('" + command +
            "') needs a string \"job-id\" in its arguments to follow the job (without one QEMU "
            "names some jobs after their device, and others cannot start); nothing was sent");
    JobStart start;
    start.id = id->get<std::string>();
    const auto dismiss = arguments.find("auto-dismiss");
    start.auto_dismiss = is_block_job_command(command) &&
        (dismiss == arguments.end() || !dismiss->is_boolean() || dismiss->get<bool>());
    const json by_id = {{"id", start.id}};
    const json by_device = {{"device", start.id}};
    start.matches = {EventMatch("JOB_STATUS_CHANGE", by_id),
        EventMatch("BLOCK_JOB_COMPLETED", by_device), EventMatch("BLOCK_JOB_CANCELLED", by_device),
        EventMatch("BLOCK_JOB_READY", by_device), EventMatch("BLOCK_JOB_ERROR", by_device)};
    return start;
}

} // namespace detail

Job::State::State(detail::JobStart start, EventQueue events, Execute execute)
    : id(std::move(start.id)),
      auto_dismiss_(start.auto_dismiss),
      events_(std::move(events)),
      execute_(std::move(execute))
{
}

void Job::State::take(const Event& event)
{
    if (event.name == "JOB_STATUS_CHANGE") {
        const auto found = event.data.find("status");
        if (found == event.data.end() || !found->is_string())
            return;
        if (const auto next = status_named(found->get<std::string>())) {
            status = *next;
            history.push_back(*next);
        }
    } else if (event.name == "BLOCK_JOB_COMPLETED") {
        const auto found = event.data.find("error");
        if (found != event.data.end() && found->is_string())
            error_ = found->get<std::string>();
    } else if (event.name == "BLOCK_JOB_CANCELLED") {
        cancelled_ = true;
    }
}

void Job::State::drain()
{
    while (auto event = events_.try_pop())
        take(*event);
}

bool Job::State::next(detail::Clock::time_point deadline)
{
    // Throws DisconnectedError once the connection ended.
    auto event = events_.pop(detail::wait_left(deadline, std::chrono::milliseconds(0)));
    if (!event)
        return false;
    take(*event);
    return true;
}

bool Job::State::reached(JobStatus wanted) const
{
    const auto since = history.begin() + static_cast<std::ptrdiff_t>(since_command_);
    return std::find(since, history.end(), wanted) != history.end();
}

std::optional<std::chrono::milliseconds> Job::State::left(detail::Clock::time_point deadline) const
{
    if (deadline == detail::Clock::time_point::max())
        return std::nullopt; // the command's own default
    return detail::wait_left(deadline, std::chrono::milliseconds(1));
}

void Job::State::timed_out(const std::string& what, std::chrono::milliseconds timeout) const
{
    throw TimeoutError("qmp: job '" + id + "' " + what + " within " + detail::ms_text(timeout) +
        " (its status is " + to_string(status) + "; the job is left as it is)");
}

bool Job::State::read_kept_error(detail::Clock::time_point deadline)
{
    const json jobs = execute_("query-jobs", json(), left(deadline));
    if (!jobs.is_array())
        return false;
    for (const json& job : jobs) {
        if (!job.is_object() || job.value("id", json()) != id)
            continue;
        const auto found = job.find("error");
        if (found != job.end() && found->is_string() && !error_)
            error_ = found->get<std::string>();
        if (error_ && cancel_requested_)
            cancelled_ = true;
        return true;
    }
    return false;
}

std::string Job::State::outcome() const
{
    if (error_)
        return *error_;
    if (cancelled_)
        return "cancelled";
    return std::string(to_string(status));
}

void Job::State::wait_until(JobStatus wanted, std::chrono::milliseconds timeout)
{
    const auto deadline = detail::deadline_after(timeout);
    drain();
    for (;;) {
        if (reached(wanted))
            return;
        // A concluded job that QEMU keeps may still be dismissed by someone: only then is
        // `null` out of reach.
        const bool out_of_reach = status == JobStatus::null ||
            (status == JobStatus::concluded && wanted != JobStatus::null);
        if (out_of_reach) {
            if (status == JobStatus::concluded && !auto_dismiss_ && !error_)
                read_kept_error(deadline);
            const std::string how = cancelled_ ? "was cancelled" : error_ ? "failed" : "ended";
            throw JobError(id, outcome(), cancelled_,
                "qmp: job '" + id + "' " + how + " without reaching " + to_string(wanted) +
                    (error_ ? ": " + *error_ : std::string()));
        }
        if (!next(deadline))
            timed_out(std::string("did not reach ") + to_string(wanted), timeout);
    }
}

void Job::State::wait(std::chrono::milliseconds timeout)
{
    const auto deadline = detail::deadline_after(timeout);
    drain();
    while (status != JobStatus::null) {
        if (status == JobStatus::concluded && !auto_dismiss_) {
            // QEMU keeps the job, and its error, until it is dismissed.
            if (read_kept_error(deadline))
                execute_("job-dismiss", {{"id", id}}, left(deadline));
            drain(); // its `null` came before the reply
            break;
        }
        if (!next(deadline))
            timed_out("did not end", timeout);
    }
    if (cancelled_ || error_)
        throw JobError(id, outcome(), cancelled_);
}

void Job::State::command(const char* name)
{
    if (std::strcmp(name, "job-cancel") == 0)
        cancel_requested_ = true;
    drain(); // what came before the command does not answer a wait_until() after it
    since_command_ = history.size();
    execute_(name, {{"id", id}}, std::nullopt);
    drain(); // what the command caused came before its reply
}

Job::Job(std::unique_ptr<State> state) : state_(std::move(state))
{
}

Job::Job(Job&&) noexcept = default;
Job& Job::operator=(Job&&) noexcept = default;
Job::~Job() = default;

Job::State& Job::state() const
{
    if (!state_)
        throw UsageError("qmp: this Job was moved from; use the one it was moved to");
    return *state_;
}

const std::string& Job::id() const noexcept
{
    static const std::string none;
    return state_ ? state_->id : none;
}

JobStatus Job::status()
{
    if (!state_)
        return JobStatus::null;
    state_->drain();
    return state_->status;
}

std::vector<JobStatus> Job::history()
{
    if (!state_)
        return {};
    state_->drain();
    return state_->history;
}

void Job::wait_until(JobStatus status, std::chrono::milliseconds timeout)
{
    state().wait_until(status, timeout);
}

void Job::wait(std::chrono::milliseconds timeout)
{
    state().wait(timeout);
}

void Job::complete()
{
    state().command("job-complete");
}

void Job::cancel()
{
    state().command("job-cancel");
}

void Job::pause()
{
    state().command("job-pause");
}

void Job::resume()
{
    state().command("job-resume");
}

void Job::finalize()
{
    state().command("job-finalize");
}

void Job::dismiss()
{
    state().command("job-dismiss");
}

} // namespace qmp
