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
    entries->push_back({queue, std::move(filter)});
    entries_ = std::move(entries);
    return queue;
}

std::shared_ptr<const EventRouter::Entries> EventRouter::snapshot() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_;
}

bool EventRouter::accepts(const Filter& filter, const Event& event) const
{
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

void EventRouter::deliver(Event&& event)
{
    const auto entries = snapshot();
    // Each taker but the last gets a copy; the last gets the event itself.
    std::shared_ptr<EventQueueState> previous;
    for (const Entry& entry : *entries) {
        auto queue = entry.queue.lock();
        if (!queue || !accepts(entry.filter, event))
            continue;
        if (previous)
            previous->push(event);
        previous = std::move(queue);
    }
    if (previous)
        previous->push(std::move(event));
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
    const auto entries = [&] {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = nullptr;
        return entries_;
    }();
    for (const Entry& entry : *entries)
        if (auto queue = entry.queue.lock())
            queue->reopen();
}

} // namespace qmp::detail
