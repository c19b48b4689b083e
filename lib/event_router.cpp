// SPDX-License-Identifier: MIT
#include "event_router.hpp"

#include <algorithm>

#include <qmp/error.hpp>

namespace qmp::detail {

EventRouter::EventRouter(std::shared_ptr<spdlog::logger> logger)
    : logger_(std::move(logger)),
      entries_(std::make_shared<const Entries>()),
      closed_(std::make_exception_ptr(DisconnectedError("qmp: not connected")))
{
}

std::shared_ptr<EventQueueState> EventRouter::add(
    Filter filter, std::size_t capacity, const char* name)
{
    auto queue = std::make_shared<EventQueueState>(capacity, logger_, name);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!closed_)
        queue->reopen();
    auto entries = std::make_shared<Entries>();
    entries->reserve(entries_->size() + 1);
    for (const Entry& entry : *entries_)
        if (!entry.queue.expired()) // unsubscribed listeners are swept out here
            entries->push_back(entry);
    entries->push_back({queue, std::move(filter), sequence_.load()});
    entries_ = std::move(entries);
    return queue;
}

std::shared_ptr<const EventRouter::Entries> EventRouter::snapshot() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
}

bool EventRouter::accepts(const Entry& entry, const Event& event) const
{
    const Filter& filter = entry.filter;
    if (event.sequence <= entry.after)
        return false; // received before the queue was made
    if (!filter.names.empty() &&
        !std::binary_search(filter.names.begin(), filter.names.end(), event.name))
        return false;
    if (!filter.predicate)
        return true;
    try {
        return filter.predicate(event);
    } catch (const std::exception& e) {
        logger_->error("an event predicate threw on {}: {}", event.name, e.what());
    } catch (...) {
        logger_->error("an event predicate threw on {}", event.name);
    }
    return false;
}

void EventRouter::deliver(std::vector<Event>& events)
{
    for (Event& event : events)
        if (event.sequence == 0)
            event.sequence = next_sequence();
    const auto entries = snapshot();
    // Which queue takes which event, each filter run once; then each queue gets its events in
    // one push, copies except for the last queue that takes an event, which gets the event.
    std::vector<std::shared_ptr<EventQueueState>> queues;
    std::vector<std::vector<char>> takes;
    for (const Entry& entry : *entries) {
        auto queue = entry.queue.lock();
        if (!queue)
            continue;
        std::vector<char> taken(events.size());
        bool any = false;
        for (std::size_t i = 0; i < events.size(); ++i)
            any |= (taken[i] = accepts(entry, events[i])) != 0;
        if (!any)
            continue;
        queues.push_back(std::move(queue));
        takes.push_back(std::move(taken));
    }
    if (queues.size() == 1 && std::all_of(takes[0].begin(), takes[0].end(), [](char t) {
            return t != 0;
        })) { // the usual case: events() alone, or one listener, takes them all
        queues[0]->push_all(std::move(events));
        events.clear();
        return;
    }
    std::vector<std::size_t> last_taker(events.size(), queues.size());
    for (std::size_t q = 0; q < queues.size(); ++q)
        for (std::size_t i = 0; i < events.size(); ++i)
            if (takes[q][i])
                last_taker[i] = q;
    for (std::size_t q = 0; q < queues.size(); ++q) {
        std::vector<Event> batch;
        batch.reserve(static_cast<std::size_t>(std::count(takes[q].begin(), takes[q].end(), 1)));
        for (std::size_t i = 0; i < events.size(); ++i)
            if (takes[q][i])
                batch.push_back(last_taker[i] == q ? std::move(events[i]) : events[i]);
        queues[q]->push_all(std::move(batch));
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
    for (const Entry& entry : *entries)
        if (auto queue = entry.queue.lock())
            queue->close(cause);
}

void EventRouter::reopen_all()
{
    close_all(nullptr);
}

} // namespace qmp::detail
