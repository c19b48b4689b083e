// SPDX-License-Identifier: MIT
#include "timeout_option.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "session.hpp"

namespace qmp_tools {

std::chrono::milliseconds parse_timeout_seconds(const char* text)
{
    constexpr double ten_years = 10.0 * 365 * 24 * 3600;
    char* end = nullptr;
    errno = 0;
    const double seconds = std::strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(seconds > 0) || !(seconds <= ten_years))
        throw UsageError(std::string("--timeout: not a positive number of seconds: ") + text);
    return std::chrono::milliseconds(static_cast<long long>(std::ceil(seconds * 1000)));
}

} // namespace qmp_tools
