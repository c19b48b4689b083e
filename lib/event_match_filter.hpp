// SPDX-License-Identifier: MIT
// Router filters made of EventMatch values (library code: safe on the reader thread).
#pragma once

#include <string>
#include <vector>

#include <qmp/event_match.hpp>

#include "event_router.hpp"

namespace qmp::detail {

/// A filter taking the events that match any of \p matches.
/// \throws UsageError if \p matches is empty.
EventRouter::Filter match_filter(std::vector<EventMatch> matches);

/// "A, B or C {...}", for messages.
std::string describe(const std::vector<EventMatch>& matches);

} // namespace qmp::detail
