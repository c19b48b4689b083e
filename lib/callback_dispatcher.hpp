// SPDX-License-Identifier: MIT
// Runs on_event() callbacks on a thread of their own, never on the reader thread, so that a
// callback may call execute() (whose reply the reader thread must deliver) without deadlock.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <qmp/event.hpp>
#include <spdlog/logger.h>

#include "event_queue_state.hpp"
#include "event_router.hpp"

namespace qmp::detail {

/// Thread safety: add() and remove() are thread-safe; remove() may be called from a callback.
/// The thread starts with the first add() and stops in the destructor.
class CallbackDispatcher {
public:
    CallbackDispatcher(
        EventRouter& router, std::size_t capacity, std::shared_ptr<spdlog::logger> logger);
    ~CallbackDispatcher();

    std::uint64_t add(std::function<void(const Event&)> callback);
    void remove(std::uint64_t id);

private:
    void run();

    using Callback = std::shared_ptr<const std::function<void(const Event&)>>;

    EventRouter& router_;
    const std::size_t capacity_;
    const std::shared_ptr<spdlog::logger> logger_;
    std::mutex mutex_; // guards the members below
    std::map<std::uint64_t, Callback> callbacks_;
    std::uint64_t next_id_ = 0;
    std::shared_ptr<EventQueueState> queue_;
    std::thread thread_;
    // remove() waits for the dispatch in progress, if any, to end, without a lock being held
    // while user code runs: the dispatcher counts the dispatches it finished.
    bool dispatching_ = false;
    std::uint64_t dispatches_done_ = 0;
    std::condition_variable dispatch_done_;
};

} // namespace qmp::detail
