// SPDX-License-Identifier: MIT
// Fans events out from the thread reading a session to every queue whose filter takes them.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <qmp/event.hpp>
#include <spdlog/logger.h>

#include "event_queue_state.hpp"

namespace qmp::detail {

/// The event queues of one Client: events(), every listen() queue and the callbacks' queue.
///
/// Queues are held weakly: destroying a listener's EventQueue unsubscribes it. The list is
/// copy-on-write, so deliver() takes a snapshot under the lock and runs filters (user code, for
/// predicate listeners) outside it.
///
/// Thread safety: every member is thread-safe.
class EventRouter {
public:
    /// Which events a queue takes. Default-constructed: every event.
    struct Filter {
        std::vector<std::string> names; ///< sorted; empty: any name
        std::function<bool(const Event&)> predicate; ///< null: any event with such a name
    };

    explicit EventRouter(std::shared_ptr<spdlog::logger> logger);

    /// A new queue receiving every later event that \p filter accepts: every event numbered
    /// after this call (an event received before it but not yet delivered never reaches it).
    /// It starts open while a session is open, closed otherwise.
    std::shared_ptr<EventQueueState> add(Filter filter, std::size_t capacity, const char* name);

    /// The number of the next event received (Event::sequence): 1, 2, ... for the client's
    /// whole life. The reading thread calls it once per event, in order.
    std::uint64_t next_sequence() noexcept { return ++sequence_; }

    /// Gives each of \p events, in order, to every queue that takes it (the reading thread);
    /// empties \p events. Events not numbered yet (sequence 0) are numbered here.
    void deliver(std::vector<Event>& events);

    /// The session ended: every queue ends with \p cause once drained (null: reopen_all()).
    void close_all(const std::exception_ptr& cause);

    /// A session started: every queue is open again.
    void reopen_all();

private:
    struct Entry {
        std::weak_ptr<EventQueueState> queue;
        Filter filter;
        std::uint64_t after = 0; ///< takes only events numbered after this
    };
    using Entries = std::vector<Entry>;

    std::shared_ptr<const Entries> snapshot() const;
    bool accepts(const Entry& entry, const Event& event) const;

    const std::shared_ptr<spdlog::logger> logger_;
    mutable std::mutex mutex_;
    std::shared_ptr<const Entries> entries_;
    std::exception_ptr closed_;
    std::atomic<std::uint64_t> sequence_{0};
};

} // namespace qmp::detail
