// SPDX-License-Identifier: MIT
// Lines from a file descriptor, read only when poll() says so: script mode and the plain
// (no libedit) editor must never block in read() while Ctrl-C or an event needs attention.
#pragma once

#include <optional>
#include <string>

namespace qmp_shell {

class FdLines {
public:
    explicit FdLines(int fd) : fd_(fd) { }

    // Reads what is available (call when fd is readable) and returns the next complete line,
    // without its "\n". Call again until it returns nothing: several lines may have arrived.
    std::optional<std::string> next(bool read_more);
    // True once end of file was read and every line handed out. A last line without "\n"
    // is still a line.
    bool has_line() const { return buffer_.find('\n') != std::string::npos; }
    bool at_end() const { return eof_ && buffer_.empty(); }

private:
    int fd_;
    std::string buffer_;
    bool eof_ = false;
};

} // namespace qmp_shell
