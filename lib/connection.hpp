// SPDX-License-Identifier: MIT
// One QMP session on one socket: the reader thread, the table of pending replies, and writes.
#pragma once

#include <atomic>
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
#include <spdlog/logger.h>

#include "deadline.hpp"
#include "event_queue_state.hpp"
#include "socket.hpp"

namespace qmp::detail {

/// What a Connection shares with its Client across sessions.
struct SessionShared {
    std::shared_ptr<EventQueueState> events;
    std::atomic<std::uint64_t> dropped_replies{0};
    std::shared_ptr<spdlog::logger> logger;
};

/// A connected socket and the reader thread that serves it.
///
/// The reader thread frames and parses every incoming message; replies complete the promise
/// registered under their id, events go to the shared event queue, and the first non-event
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
    json execute(const std::string& command, const json& arguments,
                 std::chrono::milliseconds timeout);

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
    void deliver_event(json&& message);
    void route_reply(json&& message);
    void send_request(const std::string& request, const std::string& command,
                      const std::string& id, Clock::time_point deadline,
                      std::chrono::milliseconds timeout);
    void forget(const std::string& id);
    [[noreturn]] void throw_closed(const std::string& command);
    std::string end_of_stream_reason(int error, std::size_t unread) const;

    const Fd socket_;
    const std::string peer_;
    const std::size_t max_message_size_;
    const std::size_t max_depth_;
    const std::shared_ptr<SessionShared> shared_;
    spdlog::logger& log_;

    mutable std::mutex mutex_;  // guards everything below up to the reader
    std::unordered_map<std::string, std::promise<json>> pending_;
    std::promise<json> greeting_;
    std::future<json> greeting_future_;  // taken once by wait_greeting()
    bool greeting_done_ = false;
    bool closed_ = false;
    bool closed_by_protocol_error_ = false;
    std::string close_reason_;

    std::timed_mutex write_mutex_;  // one request on the wire at a time
    std::atomic<std::uint64_t> next_id_{0};
    std::atomic<bool> quit_sent_{false};

    std::mutex join_mutex_;
    std::thread reader_;
};

}  // namespace qmp::detail
