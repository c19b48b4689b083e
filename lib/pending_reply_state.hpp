// SPDX-License-Identifier: MIT
// What a PendingReply holds: the call and the session it was submitted to.
#pragma once

#include <memory>

#include <qmp/pending_reply.hpp>

#include "call.hpp"
#include "session.hpp"

namespace qmp {

class QMP_NO_EXPORT PendingReply::State {
public:
    State(std::shared_ptr<detail::Session> session, std::shared_ptr<detail::Call> call)
        : session(std::move(session)), call(std::move(call))
    {
    }
    std::shared_ptr<detail::Session> session; // kept alive until the reply is collected
    std::shared_ptr<detail::Call> call;
    bool finished = false; // collected or cancelled
};

} // namespace qmp
