// SPDX-License-Identifier: MIT
#include "call.hpp"

namespace qmp::detail {

bool Call::complete(json reply)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (done_)
            return false;
        done_ = true;
        reply_ = std::move(reply);
    }
    completed_.notify_all();
    return true;
}

bool Call::fail(std::exception_ptr error)
{
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (done_)
            return false;
        done_ = true;
        error_ = std::move(error);
    }
    completed_.notify_all();
    return true;
}

bool Call::wait_until(Clock::time_point until) const
{
    std::unique_lock<std::mutex> lock(mutex_);
    return wait_with_deadline(completed_, lock, until, [this] { return done_; });
}

bool Call::done() const
{
    std::lock_guard<std::mutex> lock(mutex_);
    return done_;
}

bool Call::wait_and_take(Clock::time_point until, json& reply)
{
    std::unique_lock<std::mutex> lock(mutex_);
    if (!wait_with_deadline(completed_, lock, until, [this] { return done_; }))
        return false;
    if (error_)
        std::rethrow_exception(error_);
    reply = std::move(reply_);
    return true;
}

json Call::take()
{
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_)
        std::rethrow_exception(error_);
    return std::move(reply_);
}

} // namespace qmp::detail
