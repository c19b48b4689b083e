// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>

namespace qmp {

Error::Error(const std::string& message) : std::runtime_error(message)
{
}

ConnectError::ConnectError(const std::string& message) : Error(message)
{
}

ExecuteError::ExecuteError(std::string command, std::string error_class, std::string description)
    : Error("qmp: '" + command + "' failed: " + error_class + ": " + description),
      command_(std::move(command)),
      error_class_(std::move(error_class)),
      description_(std::move(description))
{
}

TimeoutError::TimeoutError(const std::string& message) : Error(message)
{
}

UsageError::UsageError(const std::string& message) : Error(message)
{
}

JobError::JobError(
    std::string job_id, std::string description, bool cancelled, const std::string& message)
    : Error(!message.empty() ? message
                             : "qmp: job '" + job_id + "' " +
                  (cancelled ? "was cancelled" : "failed") + ": " + description),
      job_id_(std::move(job_id)),
      description_(std::move(description)),
      cancelled_(cancelled)
{
}

DisconnectedError::DisconnectedError(const std::string& message) : Error(message)
{
}

ProtocolError::ProtocolError(const std::string& message) : DisconnectedError(message)
{
}

} // namespace qmp
