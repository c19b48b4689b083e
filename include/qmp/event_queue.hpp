// SPDX-License-Identifier: MIT
/// \file
/// The queue through which a Client delivers events to the host program.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <qmp/event.hpp>
#include <qmp/export.hpp>
#include <qmp/options.hpp>

namespace qmp {

namespace detail {
class EventQueueState;
}

/// A bounded, thread-safe FIFO of events, filled by the client's reader thread.
///
/// Client::events() is the queue of every event; it lives as long as its Client and stays the
/// same object across disconnect() and connect(). Client::listen() returns more queues, each with
/// its own copy of the events it selects, from its creation on; destroying one unsubscribes it.
///
/// The reader thread never waits for a consumer: when a queue is full
/// (ClientOptions::event_queue_capacity), its *oldest* event is dropped to make room, counted by
/// dropped() and logged at warning level. Replies are never delayed by events, however slowly
/// the events are consumed. With qmp::unbounded nothing is ever dropped (and memory grows with
/// the backlog).
///
/// When the connection ends the queue is closed: pop() first returns every event already
/// received, then throws DisconnectedError (ProtocolError if the peer broke the protocol). A new
/// connect() reopens it.
///
/// \context Every member is \threadsafe except the destructor and the moves. Any number of
/// threads may pop() at once; each event goes to exactly one of them.
class QMP_EXPORT EventQueue {
public:
    /// Blocks until an event arrives and returns it.
    /// \throws DisconnectedError when the queue is empty and the connection has ended (or was
    /// never made); wakes promptly when that happens while waiting.
    Event pop();

    /// Waits at most \p timeout for an event.
    /// \returns the event, or std::nullopt when none arrived in time.
    /// \throws DisconnectedError as pop().
    std::optional<Event> pop(std::chrono::milliseconds timeout);

    /// Returns an event if one is queued, std::nullopt otherwise. Never blocks, never throws
    /// DisconnectedError: use Client::is_connected() to tell "nothing yet" from "nothing ever".
    std::optional<Event> try_pop();

    /// Number of events currently queued.
    std::size_t size() const;

    /// How many events were dropped because the queue was full, since the Client was created.
    std::uint64_t dropped() const;

    /// The maximum number of queued events (ClientOptions::event_queue_capacity).
    std::size_t capacity() const;

    /// Discards every queued event (they do not count as dropped).
    void clear();

    EventQueue(const EventQueue&) = delete;
    EventQueue& operator=(const EventQueue&) = delete;
    /// Moves the subscription; the moved-from queue may only be destroyed or assigned to.
    EventQueue(EventQueue&& other) noexcept;
    /// Unsubscribes this queue (as the destructor) and takes over \p other's subscription; the
    /// moved-from queue may only be destroyed or assigned to.
    EventQueue& operator=(EventQueue&& other) noexcept;
    /// Unsubscribes (for a listener). Threads blocked in pop() keep what they need alive.
    ~EventQueue();

private:
    friend class Client;
    QMP_NO_EXPORT explicit EventQueue(std::shared_ptr<detail::EventQueueState> state);
    std::shared_ptr<detail::EventQueueState> state_;
};

} // namespace qmp
