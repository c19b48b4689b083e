// SPDX-License-Identifier: MIT
// -l FILE and -v: the tools hand the library a logger at trace level, so the file holds every
// message sent ("-->") and received ("<--"), plus connects, disconnects and warnings; -v echoes
// the messages sent, exactly as the library wrote them (id included), on stderr as "-> ...".
#pragma once

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace qmp_tools {

// A logger writing to \p path (truncated; none when empty) and, with \p echo_sent, each message
// sent to stderr. Not registered in spdlog's global registry. Null when neither is asked for.
// \throws UsageError (session.hpp) when the file cannot be written; its directory is never
// created.
std::shared_ptr<spdlog::logger> make_traffic_logger(
    const std::string& path, bool echo_sent = false);

} // namespace qmp_tools
