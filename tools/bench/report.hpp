// SPDX-License-Identifier: MIT
// The table qmp-bench prints: one row per figure, library beside baseline, their ratio and the
// issue's target for it.
#pragma once

#include <string>
#include <vector>

namespace bench {

/// How a row's ratio (library / baseline) is judged against the target of issue 13. Only rows
/// measured against real QEMU, and phase 7's instruction counts, have one: the fake server's
/// rows are information only (Goal::none).
enum class Goal { none, at_most, at_least };

struct Row {
    std::string phase; // "1 latency p50"
    std::string peer; // "fake", "qemu"
    std::string unit; // "us", "cmd/s", ...
    double library = 0;
    double baseline = 0;
    Goal goal = Goal::none;
    double bound = 0; // the target ratio
    std::string note; // what the columns hold when it is not obvious
    std::string text; // replaces the figures (for "n/a" rows)
    bool also_met = true; // a further part of the target besides the ratio (phase 8: none lost)
};

class Report {
public:
    void add(Row row);
    /// A row without figures, e.g. a phase the API cannot run yet.
    void add_text(const std::string& phase, const std::string& peer, const std::string& text);
    void note(const std::string& line) { notes_.push_back(line); }
    /// Adds \p other's rows and notes after this report's.
    void append(const Report& other);
    /// Prints the table and the notes to stdout. \returns the number of missed targets.
    int print() const;

private:
    std::vector<Row> rows_;
    std::vector<std::string> notes_;
};

/// A figure with a sensible number of digits for the table.
std::string format_figure(double value);

} // namespace bench
