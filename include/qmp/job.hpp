// SPDX-License-Identifier: MIT
/// \file
/// qmp::Job, a QEMU job (block mirror, backup, commit, stream; snapshot-save/-load/-delete,
/// blockdev-create) watched from before its command is sent.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <qmp/export.hpp>

namespace qmp {

/// The statuses of a QEMU job, as JOB_STATUS_CHANGE and query-jobs name them.
enum class JobStatus {
    created, ///< made, not started yet
    running, ///< working
    paused, ///< paused by job-pause (or by an error with on-error=stop)
    ready, ///< a mirror or commit in sync, waiting for complete() (or cancel())
    standby, ///< paused while ready
    waiting, ///< done, waiting for the other jobs of its transaction
    pending, ///< done, waiting to be finalized (job-finalize, unless auto-finalize)
    aborting, ///< failed or cancelled, cleaning up
    concluded, ///< ended; QEMU keeps it (and its error) until job-dismiss, unless auto-dismiss
    null, ///< gone: dismissed
};

/// QEMU's name of \p status ("ready", "concluded", ...).
QMP_EXPORT const char* to_string(JobStatus status) noexcept;

/// A job started by Client::start_job(): its status and the commands that steer it.
///
///     qmp::Job job = client.start_job("blockdev-mirror",
///         {{"job-id", "m0"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"}});
///     job.wait_until(qmp::JobStatus::ready, std::chrono::seconds(30));
///     job.complete();
///     job.wait(std::chrono::minutes(5));  // qmp::JobError if it failed or was cancelled
///
/// The job is watched through its events (JOB_STATUS_CHANGE by "id", BLOCK_JOB_COMPLETED,
/// BLOCK_JOB_CANCELLED, BLOCK_JOB_READY, BLOCK_JOB_ERROR by "device"), received by a listener
/// that exists from before the command was sent, so no status is missed; events received
/// before that (an earlier job with the same id) never count. The events are read when a
/// member is called, so status() is as of the call.
///
/// Two kinds of jobs end differently, and wait() handles both. Block jobs (blockdev-mirror,
/// blockdev-backup, block-commit, block-stream, drive-mirror, drive-backup) are dismissed by
/// QEMU itself unless started with "auto-dismiss": false; their failure is only in
/// BLOCK_JOB_COMPLETED's "error". Other jobs (snapshot-save, snapshot-load, snapshot-delete,
/// blockdev-create, blockdev-amend) and block jobs with "auto-dismiss": false stop at
/// `concluded`, where QEMU keeps their error until job-dismiss: wait() reads it (query-jobs)
/// and then dismisses the job.
///
/// Every wait is bounded by its timeout. When the connection ends a waiter wakes with
/// DisconnectedError. With ClientOptions::reconnect the wait goes on across a reconnection
/// instead, but QEMU does not keep the events it emitted while no client was connected: a
/// status change in that gap is not seen (status() and history() miss it, and a job that
/// ended then is noticed only by the timeout). Destroying a Job (or its Client) leaves the job in
/// QEMU alone: it keeps running, and is neither cancelled nor dismissed.
///
/// The commands (complete(), cancel(), ...) are sent through the Client with its default
/// timeout for them (ClientOptions::command_timeout, command_timeouts) and throw what
/// Client::execute() throws (ExecuteError when QEMU refuses, for instance job-complete on a job
/// that is not ready). Once the Client is destroyed they throw DisconnectedError.
///
/// \context \threadbound (one thread at a time per Job, like PendingReply); different jobs may
/// be used from different threads at once. Another thread may call Client::disconnect() to wake
/// a waiter.
class QMP_EXPORT Job {
public:
    /// The job's id (the "job-id" given to start_job()).
    const std::string& id() const noexcept;

    /// The job's latest status among the events received so far (`created` until the first).
    /// Never waits.
    JobStatus status();

    /// Every status the job went through so far, in order, as QEMU reported them. Never waits.
    std::vector<JobStatus> history();

    /// Waits until the job has reached \p status since the last command sent through this Job
    /// (start_job(), pause(), resume(), ...), at most \p timeout (qmp::wait_forever: no limit).
    /// A status reached and already left counts: a backup that went on to `concluded` has
    /// reached `running`. Statuses from before that command do not: QEMU pauses a job briefly
    /// while starting it, and that `paused` does not answer a wait_until(paused) after pause().
    /// \throws JobError if the job ends (concluded, or gone) without reaching \p status, with
    /// QEMU's error text when it failed.
    /// \throws TimeoutError if \p status is not reached in time (the job is left as it is).
    /// \throws DisconnectedError if the connection ends while waiting.
    void wait_until(JobStatus status, std::chrono::milliseconds timeout);

    /// Waits until the job has ended, at most \p timeout (qmp::wait_forever: no limit). A job
    /// that QEMU keeps at `concluded` is dismissed here after its error was read (see the
    /// class description), so afterwards the job is gone from QEMU.
    /// \throws JobError if the job failed (with QEMU's error text) or was cancelled.
    /// \throws TimeoutError if it has not ended in time (it is left as it is).
    /// \throws DisconnectedError if the connection ends while waiting; ExecuteError if QEMU
    /// refuses query-jobs or job-dismiss.
    void wait(std::chrono::milliseconds timeout);

    /// job-complete: a `ready` mirror or commit switches over and ends.
    /// \throws as Client::execute() (ExecuteError if the job is not ready).
    void complete();

    /// job-cancel: the job stops; wait() then throws JobError with cancelled() true (a mirror
    /// that QEMU completes instead ends normally).
    /// \throws as Client::execute().
    void cancel();

    /// job-pause. \throws as Client::execute().
    void pause();

    /// job-resume. \throws as Client::execute().
    void resume();

    /// job-finalize, for a job started with "auto-finalize": false that is `pending`.
    /// \throws as Client::execute().
    void finalize();

    /// job-dismiss, for a `concluded` job that QEMU keeps (wait() does this by itself). Its
    /// error, if any, is lost to query-jobs afterwards.
    /// \throws as Client::execute() (ExecuteError if the job is not concluded).
    void dismiss();

    /// Moves the watch. A moved-from Job has an empty id(), status() `null` and no history();
    /// its other members throw UsageError.
    Job(Job&&) noexcept;
    /// Stops watching this job (as the destructor does) and takes over \p other's watch;
    /// \p other is left as a moved-from Job.
    Job& operator=(Job&& other) noexcept;
    /// Stops watching; the job itself is left alone.
    ~Job();

private:
    friend class Client;
    class QMP_NO_EXPORT State;
    QMP_NO_EXPORT explicit Job(std::unique_ptr<State> state);
    QMP_NO_EXPORT State& state() const;
    std::unique_ptr<State> state_;
};

} // namespace qmp
