// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/pending_reply.hpp>

#include "pending_reply_state.hpp"
#include "qmp_protocol.hpp"

namespace qmp {

PendingReply::PendingReply(std::unique_ptr<State> state) : state_(std::move(state))
{
}
PendingReply::PendingReply(PendingReply&&) noexcept = default;

PendingReply& PendingReply::operator=(PendingReply&& other) noexcept
{
    if (this != &other) {
        cancel();
        state_ = std::move(other.state_);
    }
    return *this;
}

PendingReply::~PendingReply()
{
    cancel();
}

json PendingReply::get()
{
    if (!state_ || state_->finished)
        throw UsageError(
            "qmp: the reply of '" + command() + "' was already collected or cancelled");
    state_->finished = true;
    detail::Call& call = *state_->call;
    return detail::qmp_result(call.command, detail::qmp_wait(*state_->session, call));
}

bool PendingReply::wait_for(std::chrono::milliseconds timeout) const
{
    if (!state_ || state_->finished)
        return true;
    return state_->call->wait_until(detail::deadline_after(timeout));
}

bool PendingReply::ready() const
{
    return !state_ || state_->finished || state_->call->done();
}

void PendingReply::cancel() noexcept
{
    if (!state_ || state_->finished)
        return;
    state_->finished = true;
    state_->session->abandon(*state_->call, true);
}

const std::string& PendingReply::command() const
{
    static const std::string none = "?";
    return state_ ? state_->call->command : none;
}

} // namespace qmp
