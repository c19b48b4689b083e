// SPDX-License-Identifier: MIT
// What tests read about their own process and environment: descriptor, thread and resident
// memory counts from /proc/self (for leak and growth checks), the scheduler state of a thread or
// child process, whether a sanitizer or valgrind makes resident memory meaningless, and sizes
// overridden from the environment.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

namespace qmp::test {

/// A numeric field of /proc/self/status ("Threads"; "VmRSS" in kB); -1 if unreadable.
inline long status_field(const std::string& name)
{
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(name + ":", 0) == 0)
            return std::atol(line.c_str() + name.size() + 1);
    return -1;
}

/// Threads of this process.
inline int thread_count()
{
    return static_cast<int>(status_field("Threads"));
}

/// Resident memory of this process in kB.
inline long rss_kb()
{
    return status_field("VmRSS");
}

/// Open file descriptors of this process, from /proc/self/fd.
inline int fd_count()
{
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        (void)entry;
        ++count;
    }
    return count;
}

/// The state letter of a /proc/.../stat file ('R' running, 'S' asleep, 'T' stopped, 'Z' zombie,
/// ...); '?' if it cannot be read.
inline char stat_state(const std::string& stat_path)
{
    std::ifstream stat(stat_path);
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')'); // the command name may contain anything
    return paren != std::string::npos && paren + 2 < line.size() ? line[paren + 2] : '?';
}

/// The scheduler state of thread \p tid of this process.
inline char thread_state(pid_t tid)
{
    return stat_state("/proc/self/task/" + std::to_string(tid) + "/stat");
}

/// The state of process \p pid (a child of ours, e.g. Machine::pid()).
inline char process_state(pid_t pid)
{
    return stat_state("/proc/" + std::to_string(pid) + "/stat");
}

/// The kernel's id of the calling thread (for thread_state()).
inline pid_t current_tid()
{
    return static_cast<pid_t>(::syscall(SYS_gettid));
}

/// A positive integer from the environment (QMP_STRESS_CALLS, ...), or \p fallback.
inline int env_or(const char* name, int fallback)
{
    const char* value = std::getenv(name);
    return value && std::atoi(value) > 0 ? std::atoi(value) : fallback;
}

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool under_asan = true; // ASan's quarantine holds freed memory: RSS says nothing
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool under_asan = true;
#else
inline constexpr bool under_asan = false;
#endif
#else
inline constexpr bool under_asan = false;
#endif

#if defined(__SANITIZE_THREAD__)
// TSan slows the reader thread far more than a sleeping consumer: load tests that need the
// reader to outrun the consumer cannot get there.
inline constexpr bool under_tsan = true;
#else
inline constexpr bool under_tsan = false;
#endif

/// Set by the valgrind test setup (meson test --setup valgrind): memcheck's shadow memory and
/// translation cache grow the process's RSS as the program runs, so RSS says nothing there.
inline bool under_valgrind()
{
    const char* value = std::getenv("QMP_UNDER_VALGRIND");
    return value && *value && std::string(value) != "0";
}

/// A bound on how long something may take, stretched where the build makes every instruction
/// slower (memcheck about tenfold, the sanitizers about threefold): such bounds tell "prompt"
/// from "waited for a timeout", not fast from slow.
inline long long slack(long long ms)
{
    if (under_valgrind())
        return ms * 10;
    return under_asan || under_tsan ? ms * 3 : ms;
}

/// Milliseconds since \p from on the steady clock.
inline long long ms_since(std::chrono::steady_clock::time_point from)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - from)
        .count();
}

} // namespace qmp::test
