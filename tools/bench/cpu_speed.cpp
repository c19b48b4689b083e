// SPDX-License-Identifier: MIT
#include "cpu_speed.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include <qmp/json.hpp>

#include "stats.hpp"

namespace bench {

namespace {

// Median seconds of json::parse of \p text on the CPU \p cpu; negative if it cannot be pinned.
double parse_seconds_on(int cpu, const std::string& text)
{
    double result = -1;
    std::thread worker([&] {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0)
            return;
        std::this_thread::yield(); // now on that CPU
        std::vector<double> seconds;
        for (int i = 0; i < 15; ++i) {
            const auto start = Clock::now();
            const qmp::json parsed = qmp::json::parse(text);
            seconds.push_back(seconds_since(start));
        }
        result = median(seconds);
    });
    worker.join();
    return result;
}

} // namespace

std::vector<double> measure_cpu_speeds()
{
    qmp::json document = qmp::json::array();
    for (int i = 0; i < 2000; ++i)
        document.push_back({{"name", "item-" + std::to_string(i)}, {"meta-type", "command"},
            {"arg-type", std::to_string(i % 97)}});
    const std::string text = document.dump();

    const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::vector<double> seconds;
    for (int cpu = 0; cpu < cpus; ++cpu)
        seconds.push_back(parse_seconds_on(cpu, text));
    double fastest = 0;
    for (double s : seconds)
        if (s > 0 && (fastest == 0 || s < fastest))
            fastest = s;
    std::vector<double> speeds;
    for (double s : seconds)
        speeds.push_back(s > 0 && fastest > 0 ? s / fastest : 0);
    return speeds;
}

double slowest_of(const std::vector<double>& speeds)
{
    double slowest = 1;
    for (double speed : speeds)
        slowest = std::max(slowest, speed);
    return slowest;
}

std::string speeds_text(const std::vector<double>& speeds)
{
    std::string text;
    for (std::size_t cpu = 0; cpu < speeds.size(); ++cpu) {
        char part[48];
        if (speeds[cpu] > 0)
            std::snprintf(part, sizeof part, "%scpu%zu %.2f", cpu ? " " : "", cpu, speeds[cpu]);
        else
            std::snprintf(part, sizeof part, "%scpu%zu ?", cpu ? " " : "", cpu);
        text += part;
    }
    return text;
}

std::string describe_cpu_speeds()
{
    const std::vector<double> speeds = measure_cpu_speeds();
    if (std::all_of(speeds.begin(), speeds.end(), [](double speed) { return speed == 0; }))
        return "CPU speeds: unknown (could not pin a thread to a CPU)";
    std::string line = "CPU speeds (time of the same json::parse, relative to the fastest CPU): " +
        speeds_text(speeds);
    if (slowest_of(speeds) > equal_cpus)
        line += ". WARNING: the CPUs differ; ratios of the library (two threads) to the baseline "
                "(one) depend on where each thread ran: measure again";
    return line;
}

} // namespace bench
