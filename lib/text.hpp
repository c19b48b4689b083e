// SPDX-License-Identifier: MIT
// How durations and peer messages appear in error and log messages.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <qmp/json.hpp>

namespace qmp::detail {

/// "250 ms"; "no limit" for qmp::wait_forever.
std::string ms_text(std::chrono::milliseconds duration);

/// \p text cut to \p limit bytes, saying how long it was.
std::string excerpt(std::string_view text, std::size_t limit = 200);

/// A JSON value, compact and cut as excerpt() does; invalid UTF-8 replaced.
std::string excerpt(const json& value);

} // namespace qmp::detail
