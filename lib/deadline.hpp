// SPDX-License-Identifier: MIT
// Timeouts turned into deadlines, saturating so that "wait without limit" never overflows, and
// what is left of a deadline for a wait on it.
#pragma once

#include <chrono>
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

/// Sleeps one \p interval of a polling loop, but never past \p deadline. For waits on another
/// process, which gives no notification one could block on portably.
inline void pause_until_next_poll(std::chrono::milliseconds interval, Clock::time_point deadline)
{
    const auto now = Clock::now();
    const auto wake = (deadline - now > interval) ? now + interval : deadline;
    std::this_thread::sleep_until(wake);
}

} // namespace qmp::detail
