// SPDX-License-Identifier: MIT
#include "traffic_log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

namespace qmp_tools {

std::shared_ptr<spdlog::logger> make_traffic_logger(const std::string& path)
{
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, /*truncate=*/true);
    auto logger = std::make_shared<spdlog::logger>("qmp-traffic", std::move(sink));
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    logger->set_level(spdlog::level::trace);
    // Every line reaches the file even when the tool is killed or crashes.
    logger->flush_on(spdlog::level::trace);
    return logger;
}

} // namespace qmp_tools
