// SPDX-License-Identifier: MIT
// What a qmp::Server is inside: its listening socket and who it lets in.
#pragma once

#include <qmp/server.hpp>
#include <spdlog/logger.h>

#include "listener.hpp"

namespace qmp {

class QMP_NO_EXPORT Server::Impl {
public:
    Impl(const std::string& address, ServerOptions options);
    ~Impl();

    /// The next connection from a peer the options let in, until \p deadline or cancellation.
    /// Strangers are closed and logged.
    /// \throws detail::TransportError
    detail::Fd accept(detail::Clock::time_point deadline, detail::Canceller& cancel);

    const std::string& address() const { return listening_.address; }

private:
    detail::Listening listening_;
    const ServerOptions options_;
    const std::shared_ptr<spdlog::logger> logger_;
};

} // namespace qmp
