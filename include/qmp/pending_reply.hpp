// SPDX-License-Identifier: MIT
/// \file
/// qmp::PendingReply, the handle of a command sent with Client::execute_async().
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <qmp/export.hpp>
#include <qmp/json.hpp>

namespace qmp {

/// A command that was sent and whose reply has not been collected yet.
///
/// get() returns the reply's "return" member or throws exactly what Client::execute() would;
/// it waits at most until the call's timeout, counted from execute_async(). A command that
/// execute_async() had to queue (more than ClientOptions::oob_in_band_limit in flight) is sent
/// as room frees; if its timeout passes first, get() throws TimeoutError and it is never sent.
/// cancel(), or destroying the handle before get(), abandons the call: a command not sent yet
/// never will be, and the reply of one already sent is dropped quietly when it comes.
///
/// \context \threadbound (one thread at a time per handle); different handles may be used from
/// different threads at once.
class QMP_EXPORT PendingReply {
public:
    /// Waits for the reply. May be called once.
    /// \throws ExecuteError, TimeoutError, DisconnectedError, ProtocolError as Client::execute();
    /// UsageError after cancel() or a second get().
    json get();

    /// Waits at most \p timeout for the reply (or the failure) to be there; true if it is.
    bool wait_for(std::chrono::milliseconds timeout) const;

    /// True when get() would not block.
    bool ready() const;

    /// Abandons the call (see above). Does nothing after get().
    void cancel() noexcept;

    /// The command's name.
    const std::string& command() const;

    /// Takes over \p other's call; \p other may only be destroyed or assigned to.
    PendingReply(PendingReply&& other) noexcept;
    /// Abandons this handle's call (as cancel()) and takes over \p other's.
    PendingReply& operator=(PendingReply&& other) noexcept;
    /// Abandons the call if get() was not called (as cancel()).
    ~PendingReply();

private:
    friend class Client;
    class QMP_NO_EXPORT State;
    QMP_NO_EXPORT explicit PendingReply(std::unique_ptr<State> state);
    std::unique_ptr<State> state_;
};

} // namespace qmp
