// SPDX-License-Identifier: MIT
// The library's logger: the host's, or one that prints nothing.
#pragma once

#include <memory>

#include <spdlog/logger.h>

namespace qmp::detail {

/// \p injected if non-null, else a shared logger on a null sink. The fallback is not registered
/// in spdlog's global registry, so it cannot clash with the host's loggers.
std::shared_ptr<spdlog::logger> logger_or_null(std::shared_ptr<spdlog::logger> injected);

} // namespace qmp::detail
