// SPDX-License-Identifier: MIT
// Timing and memory measurements shared by every phase of qmp-bench.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

/// Seconds elapsed since \p start, as a double (the unit every figure is computed in).
inline double seconds_since(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The \p q quantile (0..1) of \p samples, nearest-rank; 0 when empty. Takes a copy because
/// nth_element reorders.
double quantile(std::vector<double> samples, double q);

inline double median(const std::vector<double>& samples)
{
    return quantile(samples, 0.5);
}

/// Anonymous resident memory of this process in bytes (RssAnon in /proc/self/status): heap,
/// stacks and buffers, without the file-backed code pages that clients share.
std::size_t resident_bytes();

/// Virtual size of this process in bytes (/proc/self/statm); shows the thread-stack
/// reservations that RSS does not.
std::size_t virtual_bytes();

/// Context switches of the whole process so far (every thread, voluntary and not): each
/// thread hand-off that has to wake a sleeping thread shows up here.
long context_switches();

/// Minor page faults of the whole process so far.
long minor_faults();

} // namespace bench
