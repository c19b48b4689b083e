// SPDX-License-Identifier: MIT
// Timeouts turned into deadlines, saturating so that "wait without limit" never overflows, what
// is left of a deadline for a wait on it, and waits on a deadline.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <qmp/options.hpp>

namespace qmp::detail {

using Clock = std::chrono::steady_clock;

/// now + \p timeout; Clock::time_point::max() for qmp::wait_forever or anything too large.
inline Clock::time_point deadline_after(std::chrono::milliseconds timeout)
{
    constexpr auto ten_years = std::chrono::hours(24 * 365 * 10);
    if (timeout == wait_forever || timeout > ten_years)
        return Clock::time_point::max();
    return Clock::now() + timeout;
}

/// What is left until \p deadline, rounded down; zero once it has passed.
inline std::chrono::milliseconds time_left(Clock::time_point deadline)
{
    const auto now = Clock::now();
    if (now >= deadline)
        return std::chrono::milliseconds(0);
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
}

/// What is left until \p deadline as a timeout for a wait of whole milliseconds: rounded up
/// (rounded down, a 300 ms wait would give up after 299.6 ms, a 1 ms one at once), at least
/// \p floor; qmp::wait_forever for Clock::time_point::max().
inline std::chrono::milliseconds wait_left(
    Clock::time_point deadline, std::chrono::milliseconds floor)
{
    if (deadline == Clock::time_point::max())
        return wait_forever;
    return std::max(floor, std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()));
}

/// wait_left() as poll()'s timeout: -1 for no limit, at most about 11 days.
inline int poll_timeout(Clock::time_point deadline)
{
    const auto left = wait_left(deadline, std::chrono::milliseconds(0));
    if (left == wait_forever)
        return -1;
    return left.count() > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left.count());
}

/// Waits on \p condition until \p ready() or \p deadline; Clock::time_point::max() waits
/// without a timed wait (which would convert the deadline and could overflow).
/// \returns ready().
template <typename Ready>
bool wait_with_deadline(std::condition_variable& condition, std::unique_lock<std::mutex>& lock,
    Clock::time_point deadline, Ready ready)
{
    if (deadline != Clock::time_point::max())
        return condition.wait_until(lock, deadline, ready);
    condition.wait(lock, ready);
    return true;
}

/// Sleeps one \p interval of a polling loop, but never past \p deadline. For waits on another
/// process, which gives no notification one could block on portably.
inline void pause_until_next_poll(std::chrono::milliseconds interval, Clock::time_point deadline)
{
    const auto now = Clock::now();
    const auto wake = (deadline - now > interval) ? now + interval : deadline;
    std::this_thread::sleep_until(wake);
}

} // namespace qmp::detail
