// SPDX-License-Identifier: MIT
// Ownership of a file descriptor, and errno as text: shared by the transport and the launcher.
#pragma once

#include <string>

namespace qmp::detail {

/// Owns one file descriptor and closes it.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) { }
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : fd_(other.release()) { }
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;

    int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }
    int release() noexcept;
    void reset() noexcept;

private:
    int fd_ = -1;
};

/// strerror() as a std::string, thread-safe.
std::string error_text(int error);

} // namespace qmp::detail
