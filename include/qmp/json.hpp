// SPDX-License-Identifier: MIT
/// \file
/// The JSON type of the API: qmp::json is nlohmann::json, so replies and arguments are ordinary
/// nlohmann values the host program can use with the rest of its code.
#pragma once

#include <nlohmann/json.hpp>

namespace qmp {
/// JSON values of the API (arguments, replies, event data): nlohmann::json.
using json = nlohmann::json;
} // namespace qmp
