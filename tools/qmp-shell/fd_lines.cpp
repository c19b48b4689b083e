// SPDX-License-Identifier: MIT
#include "fd_lines.hpp"

#include <cerrno>
#include <unistd.h>

namespace qmp_shell {

std::optional<std::string> FdLines::next(bool read_more)
{
    if (read_more && !eof_) {
        char chunk[4096];
        const ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n > 0)
            buffer_.append(chunk, static_cast<std::size_t>(n));
        else if (n == 0 || (errno != EINTR && errno != EAGAIN))
            eof_ = true;
    }
    const auto newline = buffer_.find('\n');
    if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        return line;
    }
    if (eof_ && !buffer_.empty()) {
        std::string line;
        line.swap(buffer_);
        return line;
    }
    return std::nullopt;
}

} // namespace qmp_shell
