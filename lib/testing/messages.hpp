// SPDX-License-Identifier: MIT
// The messages a fake builds: errors and events, as QEMU spells them.
#pragma once

#include <chrono>
#include <string>

#include <qmp/json.hpp>

namespace qmp::testing::detail {

/// `{"error": {"class": ..., "desc": ...}}`, with \p id when not null.
inline json error_message(
    const std::string& error_class, const std::string& description, const json* id)
{
    json message = {{"error", {{"class", error_class}, {"desc", description}}}};
    if (id)
        message["id"] = *id;
    return message;
}

/// An event timestamped now, with \p data unless it is null.
inline json event_message(const std::string& name, const json& data)
{
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
    json event = {{"event", name},
        {"timestamp", {{"seconds", micros / 1000000}, {"microseconds", micros % 1000000}}}};
    if (!data.is_null())
        event["data"] = data;
    return event;
}

} // namespace qmp::testing::detail
