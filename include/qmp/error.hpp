// SPDX-License-Identifier: MIT
/// \file
/// The exceptions qmp throws.
///
/// Every failure reaches the caller as one of these; each message names what a person needs to
/// act (the command, the peer address, the cause). The hierarchy:
///
///     qmp::Error                    (std::runtime_error)
///     ├── qmp::ConnectError         cannot connect, no/bad greeting, negotiation failed, timeout
///     ├── qmp::ExecuteError         QEMU answered the command with an error   [client usable]
///     ├── qmp::TimeoutError         no reply in time; late reply is dropped   [client usable]
///     ├── qmp::UsageError           the call itself was wrong                 [client usable]
///     ├── qmp::JobError             a QEMU job failed or was cancelled        [client usable]
///     └── qmp::DisconnectedError    the connection is gone                    [connect() again]
///         └── qmp::ProtocolError    the peer broke the protocol; connection closed
///
/// ProtocolError derives from DisconnectedError because it always ends the connection: code that
/// handles "the connection is gone" handles both.
///
/// \context Exception objects are immutable after construction: every member is \threadsafe.
/// Constructing one never throws anything but std::bad_alloc.
#pragma once

#include <stdexcept>
#include <string>

#include <qmp/export.hpp>

namespace qmp {

/// Base of every qmp exception.
class QMP_EXPORT Error : public std::runtime_error {
public:
    /// An error whose what() is \p message (qmp's own messages start with "qmp: ").
    explicit Error(const std::string& message);
};

/// connect() failed: the socket could not be reached, no greeting arrived in time, the greeting
/// was not QMP, or qmp_capabilities was refused. The Client stays disconnected and may
/// connect() again.
class QMP_EXPORT ConnectError : public Error {
public:
    /// A connection failure described by \p message.
    explicit ConnectError(const std::string& message);
};

/// QEMU answered a command with {"error": {"class": ..., "desc": ...}}. The client stays
/// connected and usable.
class QMP_EXPORT ExecuteError : public Error {
public:
    /// QEMU's error reply to \p command; what() is "qmp: 'COMMAND' failed: CLASS: DESCRIPTION".
    ExecuteError(std::string command, std::string error_class, std::string description);

    /// The command that failed, e.g. "query-statsu".
    const std::string& command() const noexcept { return command_; }
    /// QEMU's error class, e.g. "CommandNotFound" or "GenericError". Unknown classes are passed on.
    const std::string& error_class() const noexcept { return error_class_; }
    /// QEMU's human-readable description of the error.
    const std::string& description() const noexcept { return description_; }

private:
    std::string command_;
    std::string error_class_;
    std::string description_;
};

/// No reply arrived within the timeout, or the request could not even be written in time. The
/// client stays connected and usable; if the reply arrives later it is dropped (and counted by
/// Client::dropped_replies()).
class QMP_EXPORT TimeoutError : public Error {
public:
    /// A timeout described by \p message (the command and the time waited).
    explicit TimeoutError(const std::string& message);
};

/// The call was used wrongly (for example arguments that are not a JSON object, or connect() on
/// a client that is already connected). Nothing was sent; the client is unchanged.
class QMP_EXPORT UsageError : public Error {
public:
    /// A misuse described by \p message.
    explicit UsageError(const std::string& message);
};

/// A QEMU job (Client::start_job(), qmp::Job) failed, was cancelled, or ended without reaching
/// the status a caller waited for. The client stays connected and usable.
class QMP_EXPORT JobError : public Error {
public:
    /// \p message is the whole what(); when empty, "qmp: job 'ID' failed: DESCRIPTION" (or
    /// "was cancelled: ...").
    JobError(std::string job_id, std::string description, bool cancelled,
        const std::string& message = std::string());

    /// The job's id, e.g. "m0".
    const std::string& job_id() const noexcept { return job_id_; }
    /// QEMU's error text for the job (e.g. "Could not open 'x': No such file or directory"),
    /// or what happened when QEMU gave none ("cancelled", "concluded without reaching ready").
    const std::string& description() const noexcept { return description_; }
    /// Whether the job ended because it was cancelled.
    bool cancelled() const noexcept { return cancelled_; }

private:
    std::string job_id_;
    std::string description_;
    bool cancelled_;
};

/// The connection is gone: never connected, disconnect() was called, the peer hung up or reset,
/// or a write failed. Waiters are woken with it promptly. Call connect() to start a new session.
class QMP_EXPORT DisconnectedError : public Error {
public:
    /// The end of a connection described by \p message (the peer and the cause).
    explicit DisconnectedError(const std::string& message);
};

/// The peer broke the protocol (a malformed or oversized message, an error reply without an id
/// that nobody waits for, ...). The connection has been closed; every waiter was woken with this
/// error and later calls throw DisconnectedError.
class QMP_EXPORT ProtocolError : public DisconnectedError {
public:
    /// A protocol violation described by \p message.
    explicit ProtocolError(const std::string& message);
};

} // namespace qmp
