// SPDX-License-Identifier: MIT
// The tools' --timeout S option: seconds, fractions allowed, as a command timeout.
#pragma once

#include <chrono>

namespace qmp_tools {

// Parses a positive number of seconds ("30", "0.5", "1e-3"), rounded up to whole
// milliseconds so that a tiny timeout never becomes 0. Beyond 10 years it is refused: the
// conversion to milliseconds would overflow.
// Throws UsageError("--timeout: not a positive number of seconds: TEXT") otherwise.
std::chrono::milliseconds parse_timeout_seconds(const char* text);

} // namespace qmp_tools
