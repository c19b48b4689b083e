// SPDX-License-Identifier: MIT
#include "callback_dispatcher.hpp"

#include <vector>

namespace qmp::detail {

CallbackDispatcher::CallbackDispatcher(EventRouter& router, std::size_t capacity,
                                       std::shared_ptr<spdlog::logger> logger)
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
        queue_ = router_.add(nullptr, capacity_);
        thread_ = std::thread([this] { run(); });
    }
    return id;
}

void CallbackDispatcher::remove(std::uint64_t id)
{
    std::thread::id dispatcher;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        callbacks_.erase(id);
        dispatcher = thread_.get_id();
    }
    // Wait for a dispatch in progress to end, unless this is that dispatch calling us.
    if (std::this_thread::get_id() != dispatcher)
        std::lock_guard<std::mutex> wait_for_dispatch(running_);
}

void CallbackDispatcher::run()
{
    for (;;) {
        auto event = queue_->pop_until_terminated();
        if (!event)
            return;
        std::lock_guard<std::mutex> dispatching(running_);
        std::vector<std::pair<std::uint64_t, Callback>> callbacks;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            callbacks.assign(callbacks_.begin(), callbacks_.end());
        }
        for (const auto& [id, callback] : callbacks) {
            {
                std::lock_guard<std::mutex> lock(mutex_);  // removed by an earlier callback?
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
    }
}

}  // namespace qmp::detail
