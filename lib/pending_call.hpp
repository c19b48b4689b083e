// SPDX-License-Identifier: MIT
// What a PendingReply holds: the call and the connection it was sent on.
#pragma once

#include <memory>

#include "connection.hpp"

namespace qmp::detail {

class PendingCall {
public:
    PendingCall(std::shared_ptr<Connection> connection, Call call)
        : connection(std::move(connection)), call(std::move(call))
    {
    }
    std::shared_ptr<Connection> connection; // keeps the session's state alive until collected
    Call call;
    bool finished = false; // collected or cancelled
};

} // namespace qmp::detail
