// SPDX-License-Identifier: MIT
#include "fd.hpp"

#include <cstring>
#include <unistd.h>

namespace qmp::detail {

Fd& Fd::operator=(Fd&& other) noexcept
{
    if (this != &other) {
        reset();
        fd_ = other.release();
    }
    return *this;
}

int Fd::release() noexcept
{
    const int fd = fd_;
    fd_ = -1;
    return fd;
}

void Fd::reset() noexcept
{
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = -1;
}

std::string error_text(int error)
{
    char buffer[256];
    // GNU strerror_r returns a pointer that may or may not be `buffer`.
    return ::strerror_r(error, buffer, sizeof buffer);
}

} // namespace qmp::detail
