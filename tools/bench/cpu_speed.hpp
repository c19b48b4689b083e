// SPDX-License-Identifier: MIT
// How fast each CPU runs the same JSON work right now.
//
// On a shared virtual machine one vCPU can run much slower than the other for minutes (seen
// here: 1.35x slower on arithmetic, 1.5-1.65x on json::parse, while a neighbour was busy). The
// library parses and routes on two threads and the baseline on one, so such a skew shows up in
// the ratios; the report prints these speeds so that a skewed run can be recognised.
#pragma once

#include <string>
#include <vector>

namespace bench {

/// Each CPU's median time for a fixed json::parse workload, relative to the fastest CPU
/// (1.00 for the fastest; 0 for a CPU a thread could not be pinned to). Takes about 0.1 s.
std::vector<double> measure_cpu_speeds();

/// The slowest CPU's figure in \p speeds (1.00 when all run alike).
double slowest_of(const std::vector<double>& speeds);

/// CPUs within this of each other count as equal (a skewed run measures thread placement).
constexpr double equal_cpus = 1.10;

/// \p speeds as "cpu0 1.00 cpu1 1.52" ("?" for a CPU that could not be measured).
std::string speeds_text(const std::vector<double>& speeds);

/// One line for the report: the speeds measured now, with a warning when they differ by over
/// 10%.
std::string describe_cpu_speeds();

} // namespace bench
