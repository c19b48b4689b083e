// SPDX-License-Identifier: MIT
#include "callback_dispatcher.hpp"

#include <vector>

namespace qmp::detail {

CallbackDispatcher::CallbackDispatcher(
    EventRouter& router, std::size_t capacity, std::shared_ptr<spdlog::logger> logger)
    : router_(router), capacity_(capacity), logger_(std::move(logger))
{
}

CallbackDispatcher::~CallbackDispatcher()
{
    std::shared_ptr<EventQueueState> queue;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        queue = queue_;
    }
    if (!queue)
        return;
    queue->terminate();
    if (thread_.joinable())
        thread_.join();
}

std::uint64_t CallbackDispatcher::add(std::function<void(const Event&)> callback)
{
    std::lock_guard<std::mutex> lock(mutex_);
    const std::uint64_t id = ++next_id_;
    callbacks_[id] = std::make_shared<const std::function<void(const Event&)>>(std::move(callback));
    if (!queue_) {
        queue_ = router_.add({}, capacity_, "the on_event() callbacks' queue");
        thread_ = std::thread([this] { run(); });
    }
    return id;
}

void CallbackDispatcher::remove(std::uint64_t id)
{
    std::unique_lock<std::mutex> lock(mutex_);
    callbacks_.erase(id);
    // Wait for a dispatch in progress to end (it may be running the callback just removed),
    // unless this is that dispatch calling us. Later dispatches no longer see the callback, so
    // a stream of events cannot keep this waiting.
    if (!dispatching_ || std::this_thread::get_id() == thread_.get_id())
        return;
    const std::uint64_t until = dispatches_done_ + 1;
    dispatch_done_.wait(lock, [&] { return dispatches_done_ >= until; });
}

void CallbackDispatcher::run()
{
    for (;;) {
        std::optional<Event> event = queue_->pop_until_terminated();
        if (!event)
            return;
        std::vector<std::pair<std::uint64_t, Callback>> callbacks;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            callbacks.assign(callbacks_.begin(), callbacks_.end());
            dispatching_ = true;
        }
        for (const auto& [id, callback] : callbacks) {
            {
                std::lock_guard<std::mutex> lock(mutex_); // removed by an earlier callback?
                if (callbacks_.count(id) == 0)
                    continue;
            }
            try {
                (*callback)(*event);
            } catch (const std::exception& e) {
                logger_->error("an event callback threw on {}: {}", event->name, e.what());
            } catch (...) {
                logger_->error("an event callback threw on {}", event->name);
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            dispatching_ = false;
            ++dispatches_done_;
        }
        dispatch_done_.notify_all();
    }
}

} // namespace qmp::detail
