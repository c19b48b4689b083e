// SPDX-License-Identifier: MIT
// One QMP session on one socket: the reader thread, the table of pending replies, and writes.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <qmp/json.hpp>
#include <qmp/options.hpp>
#include <qmp/schema.hpp>
#include <spdlog/logger.h>

#include "deadline.hpp"
#include "event_router.hpp"
#include "socket.hpp"

namespace qmp::detail {

/// One request to send: a command with arguments, or a whole message (execute_raw()).
struct Request {
    std::string command;
    const json* arguments = nullptr; // null json or an object
    const json* message = nullptr; // a whole message instead of command + arguments
    bool oob = false; // send as exec-oob
    int fd = -1; // pass this fd with SCM_RIGHTS
    std::chrono::milliseconds timeout{0};
};

/// A reply on its way from the reader thread to the thread that waits for it: parsed by the
/// reader, or, when large, its text, which the waiting thread parses (see reply_id.hpp).
struct ReplyMessage {
    json parsed;
    std::string text; ///< when not empty, \ref parsed is unset and this is parsed instead
};

/// A request that was sent and whose reply is awaited.
struct Call {
    std::string id;
    std::string command;
    std::future<ReplyMessage> reply;
    Clock::time_point deadline;
    std::chrono::milliseconds timeout{0};
    bool is_quit = false;
};

/// A registered request, from send() until its reply arrives or the session ends. A call that
/// timed out or was cancelled stays registered, abandoned, until its reply comes: QEMU is still
/// working on it, so it still counts against the in-flight limits.
struct Slot {
    std::promise<ReplyMessage> promise;
    bool abandoned = false;
    bool quiet = false; // cancelled on purpose: drop the late reply without a warning
    bool in_band = true;
    bool carries_fd = false;
    Clock::time_point sent; // when it was registered: the reply's round trip is measured
};

/// What a Connection shares with its Client across sessions.
struct SessionShared {
    explicit SessionShared(std::shared_ptr<spdlog::logger> log) : logger(log), router(log) { }
    std::shared_ptr<spdlog::logger> logger;
    EventRouter router;
    std::atomic<std::uint64_t> dropped_replies{0};
};

struct Members;

/// The command a raw message (execute_raw()) names: its "execute" or "exec-oob" member as
/// text, or "raw" when it has neither.
std::string raw_command_name(const json& message);

/// A connected socket and the reader thread that serves it.
///
/// The reader thread frames and parses every incoming message (except large replies, which the
/// waiting thread parses: see reply_id.hpp); replies complete the promise registered under
/// their id, events go to the shared event queue, and the first non-event
/// message completes the greeting promise. When the stream ends (EOF, reset, protocol error,
/// close()) every pending promise, the greeting and the event queue are failed with one cause,
/// exactly once.
///
/// Thread safety: execute(), close() and is_open() are thread-safe. start() and
/// close_and_join() are called by the owning Client only; the destructor joins the reader.
/// The file descriptor is closed only after the reader was joined and the last user let go, so
/// its number can never be reused under a thread still using it.
class Connection {
public:
    Connection(Fd socket, std::string peer, const ClientOptions& options,
        std::shared_ptr<SessionShared> shared);
    ~Connection();

    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Starts the reader thread.
    void start();

    /// Waits for the first non-event message (normally the greeting) until \p deadline.
    /// Called once, by connect(). \returns the message, or null on timeout.
    /// \throws DisconnectedError/ProtocolError when the stream ended first.
    json wait_greeting(Clock::time_point deadline);

    /// Sends \p command and waits for its reply; returns its "return" member.
    /// See Client::execute() for the exceptions.
    json execute(
        const std::string& command, const json& arguments, std::chrono::milliseconds timeout);

    /// Registers and sends a request; its reply is then awaited with wait().
    /// \throws TimeoutError, DisconnectedError, UsageError (nothing is left pending then).
    Call send(const Request& request);

    /// Waits for \p call's whole reply message until its deadline, and parses it if the reader
    /// left that to this thread. On timeout the call is abandoned (its late reply will be dropped
    /// and counted) and TimeoutError thrown.
    /// \throws DisconnectedError/ProtocolError with the command named; ProtocolError also when
    /// the reply is not valid JSON, and the session is then closed.
    json wait(Call& call);

    /// The "return" member of \p reply, or ExecuteError for an error reply.
    static json result(const Call& call, json&& reply);

    /// Forgets \p call: its reply, if it ever comes, is dropped; quietly when \p quiet.
    void abandon(const Call& call, bool quiet) noexcept;

    /// Only after negotiation: at most \p limit in-band commands in flight (0: no limit), and
    /// whether exec-oob may be used.
    void set_flow_control(std::size_t limit, bool oob);

    /// The server's schema, fetched with query-qmp-schema on first use and kept.
    std::shared_ptr<const Schema> schema(std::chrono::milliseconds timeout);

    /// Ends the session with \p reason (kept only if it is the first); wakes every waiter and
    /// the reader. Never blocks on the peer.
    void close(const std::string& reason, bool protocol_error = false) noexcept;

    /// close(), then joins the reader thread (unless called on it).
    void close_and_join(const std::string& reason) noexcept;

    bool is_open() const;
    const std::string& peer() const { return peer_; }

private:
    void read_loop() noexcept;
    void handle_message(std::string_view text);
    bool hand_over_text(std::string_view id, std::string_view text);
    void queue_event(QueuedEvent&& event);
    void flush_events();
    void route_reply(json&& message, const Members& members);
    void write_request(
        const std::string& request, const std::string& log_text, const Call& call, int fd);
    std::string request_for_log(
        const Request& request, const Call& call, const std::string& text, bool oob) const;
    void forget(const std::string& id);
    void note_round_trip(Clock::time_point sent);
    void spin_for_reply(Call& call);
    /// Which waiters for in-flight room to wake once mutex_ is released.
    enum class Wake { none, one, all };
    /// Frees \p slot's share of the in-flight limits; call with mutex_ held, then wake_room().
    Wake release_locked(const Slot& slot);
    void wake_room(Wake wake);
    std::string register_call(const Request& request, Call& call);
    [[noreturn]] void throw_closed(const std::string& command);
    std::string end_of_stream_reason(int error, std::size_t unread) const;

    const Fd socket_;
    const bool is_unix_;
    const std::string peer_;
    const std::size_t max_message_size_;
    const std::size_t max_depth_;
    const bool redact_secrets_;
    const std::shared_ptr<SessionShared> shared_;
    spdlog::logger& log_;

    mutable std::mutex mutex_; // guards everything below up to the reader
    std::unordered_map<std::string, Slot> pending_;
    std::condition_variable room_; // in-flight room freed up, or closed
    std::condition_variable writer_free_; // the writer finished, or closed
    std::size_t room_waiters_ = 0; // threads waiting on room_
    std::size_t fd_waiters_ = 0; // of which carry an fd
    std::size_t in_band_limit_ = 0; // 0: no limit
    std::size_t in_band_in_flight_ = 0; // in-band requests sent and not yet answered
    bool fd_in_flight_ = false; // QEMU keeps only the latest fd: one at a time
    bool oob_ = false;
    bool writing_ = false; // a thread is writing a request (one at a time)
    std::shared_ptr<const Schema> schema_;
    std::promise<json> greeting_;
    std::future<json> greeting_future_; // taken once by wait_greeting()
    bool greeting_done_ = false;
    bool closed_ = false;
    bool closed_by_protocol_error_ = false;
    std::string close_reason_;

    std::atomic<std::uint64_t> next_id_{0};
    // Recent replies' round-trip time (a moving average, ns; -1: none yet), and whether a caller
    // is spinning for its reply: see spin_for_reply().
    std::atomic<std::int64_t> recent_round_trip_ns_{-1};
    std::atomic<bool> spinning_{false};
    std::atomic<std::size_t> pending_size_{0}; // pending_.size(), readable without mutex_
    std::vector<QueuedEvent> event_batch_; // reader thread only: events of the current read
    std::atomic<bool> quit_sent_{false};

    std::mutex join_mutex_;
    std::thread reader_;
};

} // namespace qmp::detail
