// SPDX-License-Identifier: MIT
#include "log.hpp"

#include <spdlog/sinks/null_sink.h>

namespace qmp::detail {

std::shared_ptr<spdlog::logger> logger_or_null(std::shared_ptr<spdlog::logger> injected)
{
    if (injected)
        return injected;
    static const auto null_logger = [] {
        auto logger = std::make_shared<spdlog::logger>(
            "qmp", std::make_shared<spdlog::sinks::null_sink_mt>());
        logger->set_level(spdlog::level::off);
        return logger;
    }();
    return null_logger;
}

} // namespace qmp::detail
