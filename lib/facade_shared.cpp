// SPDX-License-Identifier: MIT
#include "facade_shared.hpp"

#include <algorithm>
#include <cerrno>

#include <qmp/error.hpp>

#include "text.hpp"

namespace qmp::detail {

void invalid_options(const char* options, const std::string& what)
{
    throw UsageError(std::string("qmp: invalid ") + options + ": " + what);
}

std::shared_ptr<Canceller> connect_canceller(const std::string& peer)
{
    try {
        return std::make_shared<Canceller>();
    } catch (const TransportError& e) {
        throw ConnectError("qmp: cannot connect to " + peer + ": " + e.what());
    }
}

Fd connect_with_retries(const Address& address, const TcpSettings& tcp,
    std::chrono::milliseconds retry_interval, std::chrono::milliseconds timeout,
    Clock::time_point deadline, Canceller& cancel)
{
    const bool retry = retry_interval.count() > 0;
    for (;;) {
        try {
            return connect_socket(address, tcp, deadline, cancel);
        } catch (const TransportError& e) {
            const auto now = Clock::now();
            if (!retry || e.error() == ECANCELED || !is_not_ready_error(e.error()) ||
                now >= deadline)
                throw ConnectError(std::string("qmp: ") + e.what() +
                    (retry && e.error() != ECANCELED ? " (gave up after " + ms_text(timeout) + ")"
                                                     : ""));
            // The last pause ends at the deadline and one more attempt follows: giving up a
            // pause early would cut the timeout short and make "gave up after" untrue.
            cancel.sleep_until(std::min(now + retry_interval, deadline));
            throw_if_cancelled(cancel, address.to_string());
        }
    }
}

void throw_if_cancelled(const Canceller& cancel, const std::string& peer)
{
    if (cancel.cancelled())
        throw ConnectError("qmp: connecting to " + peer + " was cancelled by disconnect()");
}

void end_failed_connect(
    const std::shared_ptr<Session>& session, const Canceller& cancel, const std::string& peer)
{
    if (session)
        session->close_and_join("connect() failed");
    throw_if_cancelled(cancel, peer);
    throw;
}

} // namespace qmp::detail
