// SPDX-License-Identifier: MIT
#include "pager.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sys/ioctl.h>
#include <unistd.h>

namespace qmp_shell {

void print_paged(const std::string& text)
{
    winsize size{};
    const bool terminal = ::isatty(STDOUT_FILENO) &&
        ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0;
    const auto lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
    const char* pager = std::getenv("PAGER");
    const std::string command = pager ? pager : "less -FRX";
    if (!terminal || lines < size.ws_row || command.empty()) {
        std::cout << text << std::flush;
        return;
    }
    std::cout.flush();
    std::FILE* pipe = ::popen(command.c_str(), "w");
    if (!pipe) {
        std::cout << text << std::flush;
        return;
    }
    std::fwrite(text.data(), 1, text.size(), pipe);
    ::pclose(pipe);
}

} // namespace qmp_shell
