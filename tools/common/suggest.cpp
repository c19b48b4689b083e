// SPDX-License-Identifier: MIT
#include "suggest.hpp"

#include <algorithm>
#include <cctype>

namespace qmp_tools {

namespace {

// Optimal string alignment distance, case-insensitive (QUERY-STATUS means query-status).
std::size_t distance(const std::string& a, const std::string& b)
{
    const auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i)
        d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j)
        d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]))
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

} // namespace

std::optional<std::string> closest_name(
    const std::string& typed, const std::vector<std::string>& candidates)
{
    std::optional<std::string> best;
    std::size_t best_distance = std::max<std::size_t>(1, typed.size() / 3) + 1;
    for (const std::string& candidate : candidates) {
        const std::size_t d = distance(typed, candidate);
        if (d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    return best;
}

std::string did_you_mean(const std::string& typed, const std::vector<std::string>& candidates)
{
    const auto name = closest_name(typed, candidates);
    return name ? " (did you mean '" + *name + "'?)" : std::string();
}

} // namespace qmp_tools
