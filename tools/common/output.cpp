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

std::string format_error(
    const std::string& error_class, const std::string& description, bool colour)
{
    if (colour)
        return "\033[1;31m" + error_class + "\033[0m: " + description;
    return error_class + ": " + description;
}

} // namespace qmp_tools
