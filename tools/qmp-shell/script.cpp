// SPDX-License-Identifier: MIT
#include "script.hpp"

#include <algorithm>
#include <cerrno>
#include <iostream>
#include <poll.h>
#include <unistd.h>

#include "fd_lines.hpp"
#include "options.hpp"

namespace qmp_shell {

int status_of(LineResult result)
{
    switch (result) {
    case LineResult::ok:
    case LineResult::quit:
        return exit_ok;
    case LineResult::failed:
        return exit_command_failed;
    case LineResult::disconnected:
        return exit_connection;
    }
    return exit_command_failed;
}

int run_commands(const std::vector<std::string>& lines,
    const std::function<LineResult(const std::string&)>& run_line,
    const std::function<std::string()>& prompt)
{
    int status = exit_ok;
    for (const std::string& line : lines) {
        const LineResult result = run_line(line);
        status = std::max(status, status_of(result));
        if (result == LineResult::quit || result == LineResult::disconnected)
            return status;
    }
    if (prompt() == "TRANS> ") {
        std::cerr << "qmp-shell: -c: the transaction is not closed with ')'" << std::endl;
        status = std::max<int>(status, exit_command_failed);
    }
    return status;
}

int run_script(
    const std::function<LineResult(const std::string&)>& run_line, qmp_tools::Interrupt& interrupt)
{
    FdLines lines(STDIN_FILENO);
    int status = exit_ok;
    while (!lines.at_end()) {
        std::optional<std::string> line = lines.next(false);
        if (!line) {
            pollfd fds[] = {{STDIN_FILENO, POLLIN, 0}, {interrupt.fd(), POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0 && errno != EINTR)
                return exit_connection;
            if (fds[1].revents)
                return interrupt.exit_status();
            line = lines.next(true);
            if (!line)
                continue;
        }
        // Comments make scripts readable; no QMP command starts with '#'.
        if (line->find_first_not_of(" \t") == std::string::npos ||
            line->at(line->find_first_not_of(" \t")) == '#')
            continue;
        const LineResult result = run_line(*line);
        if (interrupt.requested())
            return interrupt.exit_status();
        if (result == LineResult::quit || result == LineResult::disconnected)
            return std::max(status, status_of(result));
        status = std::max(status, status_of(result));
    }
    return status;
}

} // namespace qmp_shell
