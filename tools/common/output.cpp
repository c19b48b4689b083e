// SPDX-License-Identifier: MIT
#include "output.hpp"

#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace qmp_tools {

bool use_colour(int fd)
{
    const char* no_colour = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    return ::isatty(fd) && !(no_colour && *no_colour) && !(term && std::strcmp(term, "dumb") == 0);
}

std::string format_json(const qmp::json& value, bool pretty)
{
    // Invalid UTF-8 from QEMU (a guest-controlled string) must not abort the tool.
    return pretty ? value.dump(4, ' ', false, qmp::json::error_handler_t::replace)
                  : value.dump(-1, ' ', false, qmp::json::error_handler_t::replace);
}

std::string format_event_json(const qmp::json& raw, bool pretty)
{
    if (!raw.is_object())
        return format_json(raw, pretty);
    std::vector<std::string> order = {"event", "data", "timestamp"};
    for (const auto& item : raw.items())
        if (item.key() != "event" && item.key() != "data" && item.key() != "timestamp")
            order.push_back(item.key());
    std::string text = "{";
    bool first = true;
    for (const std::string& key : order) {
        const auto found = raw.find(key);
        if (found == raw.end())
            continue;
        text += first ? "" : ",";
        first = false;
        if (!pretty) {
            text += format_json(key, false) + ":" + format_json(*found, false);
            continue;
        }
        std::string value = format_json(*found, true);
        std::string indented;
        for (char c : value) {
            indented += c;
            if (c == '\n')
                indented += "    ";
        }
        text += "\n    " + format_json(key, false) + ": " + indented;
    }
    return text + (pretty && !first ? "\n}" : "}");
}

std::string format_event_line(const std::string& name, const qmp::json& data)
{
    const bool has_data = !data.is_null() && !(data.is_object() && data.empty());
    return "EVENT " + name + (has_data ? " " + format_json(data, false) : std::string());
}

std::string format_error(
    const std::string& error_class, const std::string& description, bool colour)
{
    if (colour)
        return "\033[1;31m" + error_class + "\033[0m: " + description;
    return error_class + ": " + description;
}

} // namespace qmp_tools
