// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/event_queue.hpp>

#include "deadline.hpp"
#include "event_queue_state.hpp"

namespace qmp {

namespace detail {

EventQueueState::EventQueueState(std::size_t capacity, std::shared_ptr<spdlog::logger> logger)
    : capacity_(capacity == 0 ? 1 : capacity),
      logger_(std::move(logger)),
      closed_(std::make_exception_ptr(DisconnectedError("qmp: not connected")))
{
}

void EventQueueState::push(Event event)
{
    std::string dropped_name;
    std::uint64_t dropped_total = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (events_.size() >= capacity_) {
            dropped_name = std::move(events_.front().name);
            events_.pop_front();
            dropped_total = ++dropped_;
        }
        events_.push_back(std::move(event));
    }
    ready_.notify_one();
    if (dropped_total != 0)
        logger_->warn("event queue full ({} events): dropped the oldest event {} ({} dropped so far)",
                      capacity_, dropped_name, dropped_total);
}

void EventQueueState::push_all(std::vector<Event>&& events)
{
    if (events.empty())
        return;
    std::string dropped_name;
    std::uint64_t dropped_now = 0, dropped_total = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& event : events) {
            if (events_.size() >= capacity_) {
                dropped_name = std::move(events_.front().name);
                events_.pop_front();
                ++dropped_now;
            }
            events_.push_back(std::move(event));
        }
        dropped_ += dropped_now;
        dropped_total = dropped_;
    }
    if (events.size() > 1)
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
}

void EventQueueState::reopen()
{
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = nullptr;
}

std::optional<Event> EventQueueState::pop_until(std::chrono::steady_clock::time_point deadline)
{
    std::unique_lock<std::mutex> lock(mutex_);
    const auto ready = [this] { return !events_.empty() || closed_; };
    if (deadline == std::chrono::steady_clock::time_point::max())
        ready_.wait(lock, ready);
    else if (!ready_.wait_until(lock, deadline, ready))
        return std::nullopt;
    if (events_.empty())
        std::rethrow_exception(closed_);
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
}

std::optional<Event> EventQueueState::try_pop()
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (events_.empty())
        return std::nullopt;
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
}

std::optional<Event> EventQueueState::pop_until_terminated()
{
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return !events_.empty() || terminated_; });
    if (terminated_)
        return std::nullopt;
    Event event = std::move(events_.front());
    events_.pop_front();
    return event;
}

void EventQueueState::terminate()
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        terminated_ = true;
    }
    ready_.notify_all();
}

std::size_t EventQueueState::size() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return events_.size();
}

std::uint64_t EventQueueState::dropped() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
}

void EventQueueState::clear()
{
    std::lock_guard<std::mutex> lock(mutex_);
    events_.clear();
}

}  // namespace detail

EventQueue::EventQueue(std::shared_ptr<detail::EventQueueState> state) : state_(std::move(state))
{
}

EventQueue::~EventQueue() = default;
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

}  // namespace qmp
