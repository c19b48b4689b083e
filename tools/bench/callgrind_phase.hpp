// SPDX-License-Identifier: MIT
// Phase 7: a run of one workload by one side only, for valgrind's callgrind, which counts
// instructions repeatably where wall-clock figures are noisy.
#pragma once

#include <string>

#include "phases.hpp"
#include "report.hpp"

namespace bench {

/// Phase 7 in the report: runs qmp-bench --callgrind-phase under valgrind --tool=callgrind for
/// the library and the baseline, "status" and "events" workloads (counts from \p scale), and
/// adds instructions per execute() and per event, all threads, with their ratios. Needs
/// valgrind in PATH. \p dir holds the callgrind output files.
void run_callgrind(
    const std::string& self, const std::string& dir, const Scale& scale, Report& report);

/// Runs \p count units of \p workload ("status": query-status executes, "schema":
/// query-qmp-schema executes, "events": events received) by \p side ("library",
/// "library-trace-off", "library-trace-on", "baseline") against a fake server it starts
/// itself. \returns the exit status.
int run_callgrind_phase(
    const std::string& self, const std::string& side, const std::string& workload, int count);

} // namespace bench
