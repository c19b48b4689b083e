// SPDX-License-Identifier: MIT
#include "event_router.hpp"

#include <algorithm>
#include <functional>

#include <qmp/error.hpp>

namespace qmp::detail {

EventRouter::EventRouter(std::shared_ptr<spdlog::logger> logger)
    : logger_(std::move(logger)),
      entries_(std::make_shared<const Entries>()),
      closed_(std::make_exception_ptr(DisconnectedError("qmp: not connected")))
{
}

std::shared_ptr<EventQueueState> EventRouter::add(Filter filter, QueueLimits limits)
{
    auto queue = std::make_shared<EventQueueState>(limits, logger_);
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

bool EventRouter::accepts(const Filter& filter, QueuedEvent& event) const
{
    if (!filter.names.empty() &&
        !std::binary_search(filter.names.begin(), filter.names.end(), event.name(), std::less<>()))
        return false;
    if (!filter.predicate)
        return true;
    const Event& parsed = parse_in_place(event); // the reader parses: a predicate needs the data
    try {
        return filter.predicate(parsed);
    } catch (const std::exception& e) {
        logger_->warn("an event listener's predicate threw on {}: {}", event.name(), e.what());
    } catch (...) {
        logger_->warn("an event listener's predicate threw on {}", event.name());
    }
    return false;
}

void EventRouter::deliver_batch(std::vector<QueuedEvent>& events)
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
        const bool build = queue->consumer_behind(); // then this queue gets built events
        if (take && !build && filter.names.empty() && !filter.predicate) {
            queue->push_all(std::move(events));
            break;
        }
        std::vector<QueuedEvent> selected;
        selected.reserve(events.size());
        for (auto& event : events) {
            if (!accepts(filter, event))
                continue;
            if (build)
                parse_in_place(event);
            if (take)
                selected.push_back(std::move(event));
            else if (build || event.record.empty())
                selected.push_back(QueuedEvent::built(Event(*event.parsed)));
            else
                selected.push_back(QueuedEvent::record_of(event)); // a cheap copy
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
