// SPDX-License-Identifier: MIT
#include "stats.hpp"

#include <algorithm>
#include <cstdio>
#include <sys/resource.h>
#include <unistd.h>

namespace bench {

double quantile(std::vector<double> samples, double q)
{
    if (samples.empty())
        return 0;
    const auto rank = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
    std::nth_element(samples.begin(), samples.begin() + static_cast<long>(rank), samples.end());
    return samples[rank];
}

namespace {

// Field \p index (0: size, 1: resident) of /proc/self/statm, in bytes.
std::size_t statm_field(int index)
{
    unsigned long values[2] = {0, 0};
    if (std::FILE* file = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(file, "%lu %lu", &values[0], &values[1]) != 2)
            values[0] = values[1] = 0;
        std::fclose(file);
    }
    return values[index] * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

} // namespace

std::size_t resident_bytes()
{
    // RssAnon, not the whole RSS: the first client would otherwise be charged for the library's
    // code pages it is the first to execute, which every later client shares.
    std::size_t kb = 0;
    if (std::FILE* file = std::fopen("/proc/self/status", "r")) {
        char line[256];
        while (std::fgets(line, sizeof line, file))
            if (std::sscanf(line, "RssAnon: %zu kB", &kb) == 1)
                break;
        std::fclose(file);
    }
    return kb * 1024;
}

long context_switches()
{
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_nvcsw + usage.ru_nivcsw;
}

long minor_faults()
{
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
}

std::size_t virtual_bytes()
{
    return statm_field(0);
}

} // namespace bench
