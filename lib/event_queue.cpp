// SPDX-License-Identifier: MIT
#include <algorithm>

#include <qmp/error.hpp>
#include <qmp/event_queue.hpp>

#include "deadline.hpp"
#include "event_queue_state.hpp"

namespace qmp {

namespace detail {

EventQueueState::EventQueueState(QueueLimits limits, std::shared_ptr<spdlog::logger> logger)
    : capacity_(limits.capacity == 0 ? 1 : limits.capacity),
      consumer_wait_(limits.consumer_wait),
      logger_(std::move(logger)),
      closed_(std::make_exception_ptr(DisconnectedError("qmp: not connected")))
{
}

void EventQueueState::push(Event event)
{
    std::vector<QueuedEvent> one;
    one.push_back(QueuedEvent::built(std::move(event)));
    push_all(std::move(one));
}

QueuedEvent EventQueueState::take_front(std::vector<QueuedEvent>& spent)
{
    std::vector<QueuedEvent>& batch = batches_.front();
    QueuedEvent event = std::move(batch[front_++]);
    --size_;
    if (front_ == batch.size()) {
        // Recycled: the reader fills the same vector again instead of allocating one per read.
        batch.clear();
        if (spare_.capacity() < batch.capacity())
            std::swap(spare_, batch);
        spent = std::move(batch);
        batches_.pop_front();
        front_ = 0;
    }
    return event;
}

Event EventQueueState::pop_locked(std::unique_lock<std::mutex>& lock)
{
    std::vector<QueuedEvent> spent; // freed after unlocking
    QueuedEvent event = take_front(spent);
    checks_since_pop_ = 0;
    ++pops_; // no clock read here: it would cost every pop as much as a small event's parse
    const bool room_made = pusher_waiting_ && size_ <= wake_at_;
    lock.unlock();
    if (room_made)
        room_.notify_one();
    return take_event(std::move(event)); // built here, by the consumer, outside the lock
}

bool EventQueueState::wait_for_room(std::unique_lock<std::mutex>& lock)
{
    // Woken when half the queue is free, not at each pop: the reader then reads on for a while.
    wake_at_ = capacity_ / 2;
    const auto has_room = [this] { return size_ <= wake_at_ || closed_ || terminated_; };
    while (!has_room()) {
        // Nobody ever popped, or nobody popped since the reader last gave up: no wait.
        if (pops_ == 0 || pops_ == pops_when_given_up_)
            return false;
        // Waits in windows of consumer_wait_; a window without a single pop ends the wait.
        const std::uint64_t pops_before = pops_;
        const auto window_end = deadline_after(consumer_wait_);
        pusher_waiting_ = true;
        if (window_end == Clock::time_point::max())
            room_.wait(lock, has_room);
        else
            room_.wait_until(lock, window_end, has_room);
        pusher_waiting_ = false;
        if (!has_room() && pops_ == pops_before) {
            pops_when_given_up_ = pops_;
            return false;
        }
    }
    return size_ <= wake_at_;
}

void EventQueueState::hand_over_as_room_allows(
    std::unique_lock<std::mutex>& lock, std::vector<QueuedEvent>& events)
{
    std::size_t next = 0; // the events before it are queued
    while (size_ + (events.size() - next) > capacity_) {
        if (size_ < capacity_) { // what fits now, so that the consumer has something to pop
            const std::size_t part = capacity_ - size_;
            const auto first = events.begin() + static_cast<std::ptrdiff_t>(next);
            batches_.emplace_back(std::make_move_iterator(first),
                std::make_move_iterator(first + static_cast<std::ptrdiff_t>(part)));
            next += part;
            size_ += part;
            ready_.notify_all();
        }
        if (!wait_for_room(lock))
            break;
    }
    events.erase(events.begin(), events.begin() + static_cast<std::ptrdiff_t>(next));
}

void EventQueueState::push_all(std::vector<QueuedEvent>&& events)
{
    if (events.empty())
        return;
    const std::size_t count = events.size();
    std::string dropped_name;
    std::uint64_t dropped_now = 0, dropped_total = 0;
    std::vector<QueuedEvent> dropped_events, spent;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (size_ + events.size() > capacity_ && consumer_wait_.count() > 0)
            hand_over_as_room_allows(lock, events);
        // Still full: drop the oldest, queued ones first, then the oldest of this batch.
        while (size_ > 0 && size_ + events.size() > capacity_) {
            dropped_events.push_back(take_front(spent));
            ++dropped_now;
        }
        if (events.size() > capacity_) {
            const auto excess = static_cast<std::ptrdiff_t>(events.size() - capacity_);
            dropped_events.insert(dropped_events.end(), std::make_move_iterator(events.begin()),
                std::make_move_iterator(events.begin() + excess));
            events.erase(events.begin(), events.begin() + excess);
            dropped_now += static_cast<std::uint64_t>(excess);
        }
        if (!dropped_events.empty())
            dropped_name = dropped_events.back().name();
        if (!events.empty()) { // (all of them may have been handed over while waiting)
            size_ += events.size();
            batches_.push_back(std::move(events));
            events = std::move(spare_); // the caller gets an empty vector back, recycled if any
            spare_ = std::vector<QueuedEvent>();
        }
        dropped_ += dropped_now;
        dropped_total = dropped_;
    }
    if (count > 1)
        ready_.notify_all();
    else
        ready_.notify_one();
    if (dropped_now != 0)
        logger_->warn("event queue full ({} events): dropped {} oldest event(s), the last {} ({} "
                      "dropped so far)",
            capacity_, dropped_now, dropped_name, dropped_total);
}

void EventQueueState::close(std::exception_ptr cause)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = std::move(cause);
    }
    ready_.notify_all();
    room_.notify_all();
}

void EventQueueState::reopen()
{
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = nullptr;
}

std::optional<Event> EventQueueState::pop_until(std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock<std::mutex> lock(mutex_);
    const auto ready = [this] { return size_ > 0 || closed_; };
    if (deadline == std::chrono::steady_clock::time_point::max())
        ready_.wait(lock, ready);
    else if (!ready_.wait_until(lock, deadline, ready))
        return std::nullopt;
    if (size_ == 0)
        std::rethrow_exception(closed_);
    return pop_locked(lock);
}

std::optional<Event> EventQueueState::try_pop()
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (size_ == 0)
        return std::nullopt;
    return pop_locked(lock);
}

std::optional<Event> EventQueueState::pop_until_terminated()
{
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return size_ > 0 || terminated_; });
    if (terminated_)
        return std::nullopt;
    return pop_locked(lock);
}

void EventQueueState::terminate()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        terminated_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
}

std::size_t EventQueueState::size() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return size_;
}

bool EventQueueState::consumer_behind()
{
    // A quarter of the queue, at most 1024 events: far from dropping, but more than one read
    // brings (about 200 QEMU events in 16 KiB).
    const std::size_t threshold =
        std::max<std::size_t>(1, std::min<std::size_t>(capacity_ / 4, 1024));
    std::lock_guard<std::mutex> lock(mutex_);
    if (checks_since_pop_ < 64)
        ++checks_since_pop_;
    return checks_since_pop_ < 64 && size_ >= threshold;
}

std::uint64_t EventQueueState::dropped() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
}

void EventQueueState::clear()
{
    std::deque<std::vector<QueuedEvent>> cleared; // freed after unlocking
    {
        std::lock_guard<std::mutex> lock(mutex_);
        cleared.swap(batches_);
        front_ = 0;
        size_ = 0;
    }
    room_.notify_all();
}

} // namespace detail

EventQueue::EventQueue(std::shared_ptr<detail::EventQueueState> state) : state_(std::move(state))
{
}

EventQueue::~EventQueue()
{
    if (state_) // not moved from: nobody pops this queue any more, so the reader must not wait
        state_->terminate();
}
EventQueue::EventQueue(EventQueue&&) noexcept = default;
EventQueue& EventQueue::operator=(EventQueue&&) noexcept = default;

// Each call holds its own reference to the state, so a thread woken by the Client's destruction
// never touches freed memory on its way out.

Event EventQueue::pop()
{
    const auto state = state_;
    return *state->pop_until(std::chrono::steady_clock::time_point::max());
}

std::optional<Event> EventQueue::pop(std::chrono::milliseconds timeout)
{
    const auto state = state_;
    return state->pop_until(detail::deadline_after(timeout));
}

std::optional<Event> EventQueue::try_pop()
{
    return state_->try_pop();
}

std::size_t EventQueue::size() const
{
    return state_->size();
}

std::uint64_t EventQueue::dropped() const
{
    return state_->dropped();
}

std::size_t EventQueue::capacity() const
{
    return state_->capacity();
}

void EventQueue::clear()
{
    state_->clear();
}

} // namespace qmp
