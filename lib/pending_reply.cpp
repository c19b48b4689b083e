// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/pending_reply.hpp>

#include "pending_call.hpp"

namespace qmp {

PendingReply::PendingReply(std::unique_ptr<detail::PendingCall> call) : call_(std::move(call))
{
}
PendingReply::PendingReply(PendingReply&&) noexcept = default;

PendingReply& PendingReply::operator=(PendingReply&& other) noexcept
{
    if (this != &other) {
        cancel();
        call_ = std::move(other.call_);
    }
    return *this;
}

PendingReply::~PendingReply()
{
    cancel();
}

json PendingReply::get()
{
    if (!call_ || call_->finished)
        throw UsageError("qmp: the reply of '" + (call_ ? call_->call.command : std::string("?")) +
            "' was already collected or cancelled");
    call_->finished = true;
    auto& call = call_->call;
    return detail::Connection::result(call, call_->connection->wait(call));
}

bool PendingReply::wait_for(std::chrono::milliseconds timeout) const
{
    if (!call_ || call_->finished)
        return true;
    return call_->call.reply.wait_for(timeout) == std::future_status::ready;
}

bool PendingReply::ready() const
{
    return wait_for(std::chrono::milliseconds(0));
}

void PendingReply::cancel() noexcept
{
    if (!call_ || call_->finished)
        return;
    call_->finished = true;
    call_->connection->abandon(call_->call, true);
}

const std::string& PendingReply::command() const
{
    static const std::string none;
    return call_ ? call_->call.command : none;
}

} // namespace qmp
