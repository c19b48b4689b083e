// SPDX-License-Identifier: MIT
#include "event_router.hpp"

#include <qmp/error.hpp>

namespace qmp::detail {

EventRouter::EventRouter(std::shared_ptr<spdlog::logger> logger)
    : logger_(std::move(logger)),
      entries_(std::make_shared<const Entries>()),
      closed_(std::make_exception_ptr(DisconnectedError("qmp: not connected")))
{
}

std::shared_ptr<EventQueueState> EventRouter::add(Filter filter, std::size_t capacity)
{
    auto queue = std::make_shared<EventQueueState>(capacity, logger_);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_)
        queue->reopen();
    auto entries = std::make_shared<Entries>();
    entries->reserve(entries_->size() + 1);
    for (const auto& entry : *entries_)
        if (!entry.queue.expired()) // drop listeners that were destroyed
            entries->push_back(entry);
    entries->push_back({queue, std::move(filter)});
    entries_ = std::move(entries);
    return queue;
}

std::shared_ptr<const EventRouter::Entries> EventRouter::snapshot() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
}

void EventRouter::deliver_batch(std::vector<Event>& events)
{
    if (events.empty())
        return;
    const auto entries = snapshot();
    // Usually only events() listens: it takes the whole batch without a copy. Otherwise every
    // listener but the last gets copies and the last one takes the originals.
    std::vector<std::shared_ptr<EventQueueState>> queues;
    queues.reserve(entries->size());
    for (const auto& entry : *entries)
        queues.push_back(entry.queue.lock());
    std::size_t last = queues.size();
    for (std::size_t i = 0; i < queues.size(); ++i)
        if (queues[i])
            last = i;
    for (std::size_t i = 0; i < queues.size(); ++i) {
        const auto& queue = queues[i];
        if (!queue)
            continue;
        const Filter& filter = (*entries)[i].filter;
        const bool take = i == last;
        if (take && !filter) {
            queue->push_all(std::move(events));
            break;
        }
        std::vector<Event> selected;
        selected.reserve(events.size());
        for (auto& event : events) {
            bool accepted = !filter;
            if (!accepted) {
                try {
                    accepted = filter(event);
                } catch (const std::exception& e) {
                    logger_->warn(
                        "an event listener's predicate threw on {}: {}", event.name, e.what());
                }
            }
            if (accepted && take)
                selected.push_back(std::move(event));
            else if (accepted)
                selected.push_back(event);
        }
        queue->push_all(std::move(selected));
    }
    events.clear();
}

void EventRouter::close_all(const std::exception_ptr& cause)
{
    const auto entries = [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = cause;
        return entries_;
    }();
    for (const auto& entry : *entries)
        if (auto queue = entry.queue.lock())
            queue->close(cause);
}

void EventRouter::reopen_all()
{
    const auto entries = [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = nullptr;
        return entries_;
    }();
    for (const auto& entry : *entries)
        if (auto queue = entry.queue.lock())
            queue->reopen();
}

} // namespace qmp::detail
