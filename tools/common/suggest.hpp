// SPDX-License-Identifier: MIT
// "Did you mean": the known name closest to a mistyped one.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace qmp_tools {

// The candidate closest to \p typed by edit distance (a swap of two neighbours counts as one
// edit), if it is close enough to be the likely intent: at most a third of the name's length,
// and at least 1 edit. Ties go to the first candidate.
std::optional<std::string> closest_name(
    const std::string& typed, const std::vector<std::string>& candidates);

// " (did you mean 'NAME'?)" or "".
std::string did_you_mean(const std::string& typed, const std::vector<std::string>& candidates);

} // namespace qmp_tools
