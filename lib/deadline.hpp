// SPDX-License-Identifier: MIT
// Timeouts turned into deadlines, saturating so that "wait without limit" never overflows.
#pragma once

#include <chrono>

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

} // namespace qmp::detail
