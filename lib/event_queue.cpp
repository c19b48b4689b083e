// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/event_queue.hpp>

#include "event_queue_state.hpp"

namespace qmp {

detail::EventQueueState::EventQueueState(
    std::size_t capacity, std::shared_ptr<spdlog::logger> logger, const char* name)
    : capacity_(capacity),
      logger_(std::move(logger)),
      name_(name),
      closed_(std::make_exception_ptr(DisconnectedError("qmp: not connected")))
{
}

void detail::EventQueueState::push(Event event)
{
    std::vector<Event> one;
    one.push_back(std::move(event));
    push_all(std::move(one));
}

void detail::EventQueueState::push_all(std::vector<Event>&& events)
{
    std::uint64_t dropped_before = 0, dropped_now = 0;
    std::string dropped_name;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (terminated_)
            return;
        dropped_before = dropped_;
        for (Event& event : events) {
            if (events_.size() >= capacity_) {
                ++dropped_;
                dropped_name = std::move(events_.front().name);
                events_.pop_front();
            }
            events_.push_back(std::move(event));
        }
        dropped_now = dropped_;
    }
    ready_.notify_all();
    // Every drop is counted; the log says so at the first and then at each power of two, so a
    // flood cannot flood the log too.
    for (std::uint64_t power = 1; power != 0 && power <= dropped_now; power <<= 1)
        if (power > dropped_before) {
            logger_->warn("{} is full ({} events): dropped the oldest ({}); {} dropped so far",
                name_, capacity_, dropped_name, dropped_now);
            break;
        }
}

void detail::EventQueueState::close(std::exception_ptr cause)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = std::move(cause);
    }
    ready_.notify_all();
}

Event detail::EventQueueState::take_front()
{
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
}

std::optional<Event> detail::EventQueueState::pop_until(detail::Clock::time_point deadline)
{
    std::unique_lock<std::mutex> lock(mutex_);
    const auto ready = [this] { return !events_.empty() || closed_; };
    if (!wait_with_deadline(ready_, lock, deadline, ready))
        return std::nullopt;
    if (!events_.empty())
        return take_front();
    std::rethrow_exception(closed_);
}

std::optional<Event> detail::EventQueueState::try_pop()
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.empty())
        return std::nullopt;
    return take_front();
}

std::optional<Event> detail::EventQueueState::pop_until_terminated()
{
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return !events_.empty() || terminated_; });
    if (terminated_)
        return std::nullopt;
    return take_front();
}

void detail::EventQueueState::terminate()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        terminated_ = true;
        events_.clear();
    }
    ready_.notify_all();
}

std::size_t detail::EventQueueState::size() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
}

std::uint64_t detail::EventQueueState::dropped() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
}

void detail::EventQueueState::clear()
{
    std::deque<Event> discarded; // freed outside the lock
    std::lock_guard<std::mutex> lock(mutex_);
    discarded.swap(events_);
}

// ---- the public handle ----------------------------------------------------------------------

EventQueue::EventQueue(std::shared_ptr<detail::EventQueueState> state) : state_(std::move(state))
{
}
EventQueue::EventQueue(EventQueue&&) noexcept = default;
EventQueue& EventQueue::operator=(EventQueue&&) noexcept = default;

EventQueue::~EventQueue()
{
    // A listener's queue is held weakly by the router: dropping the last reference unsubscribes.
    // Threads blocked in pop() hold their own reference (see pop_until()).
}

Event EventQueue::pop()
{
    const auto state = state_;
    return *state->pop_until(detail::Clock::time_point::max());
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
