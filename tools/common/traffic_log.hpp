// SPDX-License-Identifier: MIT
// -l FILE: the tools hand the library a logger at trace level, so the file holds every message
// sent ("-->") and received ("<--"), plus connects, disconnects and warnings.
#pragma once

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace qmp_tools {

// A logger writing to \p path (truncated), not registered in spdlog's global registry.
// \throws std::runtime_error when the file cannot be opened.
std::shared_ptr<spdlog::logger> make_traffic_logger(const std::string& path);

} // namespace qmp_tools
