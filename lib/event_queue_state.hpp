// SPDX-License-Identifier: MIT
// The shared state behind qmp::EventQueue: filled by the reader thread, drained by the host.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <qmp/event.hpp>
#include <qmp/event_queue.hpp>
#include <spdlog/logger.h>

#include "deadline.hpp"

namespace qmp::detail {

/// A bounded FIFO of events. push() never waits: when the queue is full the oldest event is
/// dropped, counted and logged, so the reader thread never waits for a consumer.
///
/// Thread safety: every member is thread-safe.
class EventQueueState {
public:
    /// \p capacity: most events kept (qmp::unbounded: no limit); \p name says which queue in
    /// the log ("events()", "a listener", "the callbacks").
    EventQueueState(std::size_t capacity, std::shared_ptr<spdlog::logger> logger, const char* name);

    void push(Event event);
    /// push() for each of \p events, under one lock and with one wake-up.
    void push_all(std::vector<Event>&& events);

    /// Ends the stream: once empty, waiters get \p cause (a DisconnectedError; null: reopen()).
    void close(std::exception_ptr cause);
    /// Starts a new stream after a (re)connect; queued events are kept.
    void reopen() { close(nullptr); }

    /// Waits until \p deadline (time_point::max(): no limit). Empty optional on timeout.
    /// \throws the close cause when closed and empty.
    std::optional<Event> pop_until(Clock::time_point deadline);
    std::optional<Event> try_pop();

    /// For the callback dispatcher: waits across sessions, ignoring close(), until terminate().
    /// Empty optional once terminated.
    std::optional<Event> pop_until_terminated();
    void terminate();

    std::size_t size() const;
    std::uint64_t dropped() const;
    std::size_t capacity() const { return capacity_; }
    void clear();

private:
    Event take_front(); // with mutex_ held and the queue not empty

    const std::size_t capacity_;
    const std::shared_ptr<spdlog::logger> logger_;
    const char* const name_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Event> events_;
    std::uint64_t dropped_ = 0;
    std::exception_ptr closed_; // non-null while closed
    bool terminated_ = false;
};

} // namespace qmp::detail
