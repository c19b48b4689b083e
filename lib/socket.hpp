// SPDX-License-Identifier: MIT
// Thin, bounded socket operations: connect with a deadline, send with a deadline, receive.
// Every fd is close-on-exec; no operation can raise SIGPIPE.
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "address.hpp"
#include "deadline.hpp"

namespace qmp::detail {

/// Owns one file descriptor.
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

/// A failed system call, keeping errno so that callers can tell "not there yet" from the rest.
class SocketError : public std::runtime_error {
public:
    SocketError(int error, const std::string& message) : std::runtime_error(message), error_(error)
    {
    }
    int error() const { return error_; }

private:
    int error_;
};

/// One attempt to connect a stream socket to \p address before \p deadline. The returned socket
/// is in blocking mode (the reader thread blocks in recv()); send_some() never blocks.
/// \throws SocketError (ETIMEDOUT when the deadline passed).
Fd connect_stream(const Address& address, Clock::time_point deadline);

/// Whether a connect failure means "the server is not there yet" (worth retrying).
bool is_not_ready_error(int error);

enum class SendResult { done, timeout, failed };

/// Sends all \p size bytes, waiting for room until \p deadline (Clock::time_point::max(): no
/// limit). \p sent counts the bytes that went out; \p error is errno on failure. When
/// \p pass_fd >= 0 it travels with SCM_RIGHTS on the first bytes (a unix socket only).
SendResult send_all(int fd, const char* data, std::size_t size, Clock::time_point deadline,
    std::size_t& sent, int& error, int pass_fd = -1);

/// Wakes every thread blocked on \p fd (recv, poll) without closing it: the fd stays valid
/// until its owner closes it, so no other thread can reuse its number by accident.
void shutdown_socket(int fd) noexcept;

/// strerror() as a std::string, thread-safe.
std::string error_text(int error);

} // namespace qmp::detail
