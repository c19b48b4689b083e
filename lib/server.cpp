// SPDX-License-Identifier: MIT
#include <qmp/error.hpp>
#include <qmp/server.hpp>

#include <unistd.h>

#include "log.hpp"
#include "server_impl.hpp"

namespace qmp {

Server::Impl::Impl(const std::string& address, ServerOptions options)
    : options_(std::move(options)), logger_(detail::logger_or_null(options_.logger))
{
    const detail::Address parsed = detail::parse_address(address);
    if (parsed.kind == detail::Address::Kind::tcp && (options_.peer_uid || options_.peer_pid))
        // TCP tells nothing about who is at the other end: every peer would be refused.
        throw UsageError("qmp: ServerOptions::peer_uid and peer_pid need a unix socket, not " +
            parsed.to_string());
    try {
        listening_ = detail::listen_at(parsed);
    } catch (const detail::TransportError& e) {
        throw ConnectError(std::string("qmp: ") + e.what());
    }
}

Server::Impl::~Impl()
{
    if (!listening_.path.empty())
        ::unlink(listening_.path.c_str());
}

detail::Fd Server::Impl::accept(detail::Clock::time_point deadline, detail::Canceller& cancel)
{
    for (;;) {
        detail::Fd connection =
            detail::accept_connection(listening_.socket.get(), deadline, cancel);
        if (!options_.peer_uid && !options_.peer_pid)
            return connection;
        const auto peer = detail::peer_credentials(connection.get());
        const bool allowed = peer && (!options_.peer_uid || peer->uid == *options_.peer_uid) &&
            (!options_.peer_pid || peer->pid == *options_.peer_pid);
        if (allowed)
            return connection;
        if (peer)
            logger_->warn("{}: refused a connection from pid {} (uid {})", listening_.address,
                peer->pid, peer->uid);
        else
            logger_->warn("{}: refused a connection whose peer cannot be identified (TCP?)",
                listening_.address);
    }
}

Server::Server(const std::string& address, ServerOptions options)
    : impl_(std::make_unique<Impl>(address, std::move(options)))
{
}

Server::~Server() = default;

const std::string& Server::address() const
{
    return impl_->address();
}

} // namespace qmp
