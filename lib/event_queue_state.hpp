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
#include <spdlog/logger.h>

#include "event_message.hpp"

namespace qmp::detail {

/// How much a queue holds, and how long the reader waits for its consumer when it is full.
struct QueueLimits {
    std::size_t capacity = 0; ///< 0 is taken as 1
    /// ClientOptions::event_queue_wait: a full queue whose consumer pops makes push_all() wait
    /// for room instead of dropping, until this long passes without a pop.
    std::chrono::milliseconds consumer_wait{0};
};

/// Events are queued as the reader received them (QueuedEvent: text, or an Event a predicate
/// needed) and parsed by the thread that pops them, after the lock is released.
///
/// Thread safety: every member is thread-safe. push_all() blocks only on a full queue whose
/// consumer is popping, and gives up once QueueLimits::consumer_wait passes without a pop (at
/// most twice that after the last pop), so a consumer that stops popping stalls the reader
/// thread for a bounded time, once.
class EventQueueState {
public:
    EventQueueState(QueueLimits limits, std::shared_ptr<spdlog::logger> logger);

    /// Appends \p event as push_all() does.
    void push(Event event);

    /// Appends all of \p events under one lock and wakes a consumer once: a burst read in one
    /// recv() costs one wake-up, not one per event. When they do not fit, waits for the consumer
    /// while it keeps popping (see QueueLimits::consumer_wait) and the queue is open; then drops
    /// (counting, logging) the oldest events to make room.
    void push_all(std::vector<QueuedEvent>&& events);

    /// Ends the stream: once empty, waiters get \p cause (a DisconnectedError).
    void close(std::exception_ptr cause);

    /// Starts a new stream after a (re)connect; queued events are kept.
    void reopen();

    /// Waits until \p deadline (time_point::max(): no limit). Empty optional on timeout.
    /// \throws the close cause when closed and empty.
    std::optional<Event> pop_until(std::chrono::steady_clock::time_point deadline);

    std::optional<Event> try_pop();

    /// For the callback dispatcher: waits for an event across sessions, ignoring close(), until
    /// terminate(). Empty optional once terminated.
    std::optional<Event> pop_until_terminated();
    /// The consumer is gone (the dispatcher stops, or a listener's EventQueue was destroyed):
    /// ends pop_until_terminated() and any wait for room, and push_all() no longer waits.
    void terminate();
    std::size_t size() const;
    /// Whether a consumer pops but is behind: a good part of the queue waits to be popped, and
    /// something was popped during the last 64 calls (one per read of the reader). A queue
    /// nobody pops is not "behind": building its events sooner would help nobody.
    bool consumer_behind();
    std::uint64_t dropped() const;
    std::size_t capacity() const { return capacity_; }
    void clear();

private:
    const std::size_t capacity_;
    const std::chrono::milliseconds consumer_wait_;
    const std::shared_ptr<spdlog::logger> logger_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    /// Removes and returns the oldest event; \p spent receives an emptied batch, if any, to be
    /// freed after unlocking. Call with mutex_ held and size_ > 0.
    QueuedEvent take_front(std::vector<QueuedEvent>& spent);
    /// Takes the oldest event (a consumer's pop), unlocks \p lock and builds the event. Call
    /// with \p lock holding mutex_ and size_ > 0.
    Event pop_locked(std::unique_lock<std::mutex>& lock);
    /// For push_all(), with \p lock holding mutex_: queues as many of \p events as fit, waits
    /// for room, and so on while the consumer pops; leaves in \p events those not queued.
    void hand_over_as_room_allows(
        std::unique_lock<std::mutex>& lock, std::vector<QueuedEvent>& events);
    /// Waits until half the queue is free. \returns false, at once or later, when the consumer
    /// never popped, did not pop since the last time this gave up, or lets consumer_wait_ pass
    /// without popping; or when the queue was closed or terminated.
    bool wait_for_room(std::unique_lock<std::mutex>& lock);

    // The events, in the batches the reader delivered them in: push_all() hands a whole batch
    // over in O(1) under the lock, so a consumer never waits behind the reader moving events.
    std::deque<std::vector<QueuedEvent>> batches_;
    std::size_t front_ = 0; // the next event's index in batches_.front()
    std::size_t size_ = 0; // events queued
    std::vector<QueuedEvent> spare_; // an emptied batch, given back to the reader to fill again
    std::uint64_t dropped_ = 0;
    unsigned checks_since_pop_ = ~0u; // consumer_behind() calls since the last pop
    std::uint64_t pops_ = 0; // events popped by consumers
    std::uint64_t pops_when_given_up_ = ~std::uint64_t(0); // pops_ when wait_for_room() gave up
    // A push_all() waits on room_ until size_ falls to wake_at_, half the queue, so that the
    // reader, once woken, has room for many reads and does not wake per pop.
    std::condition_variable room_;
    bool pusher_waiting_ = false;
    std::size_t wake_at_ = 0;
    std::exception_ptr closed_; // non-null while closed
    bool terminated_ = false;
};

} // namespace qmp::detail
