// SPDX-License-Identifier: MIT
// How fast each CPU runs the same JSON work right now.
//
// On a shared virtual machine one vCPU can run much slower than the other for minutes (seen
// here: 1.35x slower on arithmetic, 1.5-1.65x on json::parse, while a neighbour was busy). The
// library parses and routes on two threads and the baseline on one, so such a skew shows up in
// the ratios; the report prints these speeds so that a skewed run can be recognised.
#pragma once

#include <string>

namespace bench {

/// One line for the report: each CPU's median time for a fixed json::parse workload, relative
/// to the fastest CPU ("cpu0 1.00, cpu1 1.52"), with a warning when they differ by over 10%.
std::string describe_cpu_speeds();

} // namespace bench
