// SPDX-License-Identifier: MIT
#include "text.hpp"

#include <qmp/options.hpp>

namespace qmp::detail {

std::string ms_text(std::chrono::milliseconds duration)
{
    if (duration == wait_forever)
        return "no limit";
    return std::to_string(duration.count()) + " ms";
}

std::string excerpt(std::string_view text, std::size_t limit)
{
    if (text.size() <= limit)
        return std::string(text);
    return std::string(text.substr(0, limit)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string excerpt(const json& value)
{
    return excerpt(std::string_view(value.dump(-1, ' ', false, json::error_handler_t::replace)));
}

} // namespace qmp::detail
