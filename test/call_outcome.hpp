// SPDX-License-Identifier: MIT
// How a call ended, for tests that make calls which may throw or block: capture() turns a call
// into an Outcome (never throws), start() runs one on a worker, finish() waits for a worker with
// a bound and aborts the binary rather than hang it, ready_within() and wait_until() are the
// other bounded waits; contains() and occurrences() read what an error says. Public API only
// (the qmp::testing tests use it too).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include <qmp/qmp.hpp>

namespace qmp::test {

/// Whether \p part occurs in \p text.
inline bool contains(const std::string& text, const std::string& part)
{
    return text.find(part) != std::string::npos;
}

/// How many times \p part occurs in \p text (overlapping occurrences count).
inline std::size_t occurrences(const std::string& text, const std::string& part)
{
    std::size_t count = 0;
    for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
        ++count;
    return count;
}

/// Milliseconds from \p from to \p to on the steady clock.
inline long long ms_between(
    std::chrono::steady_clock::time_point from, std::chrono::steady_clock::time_point to)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

/// How a call ended: "returned" (with its value) or the class name of the qmp exception it threw
/// ("other" for anything else), and when.
struct Outcome {
    std::string kind;
    std::string what;
    qmp::json value;
    std::chrono::steady_clock::time_point ended;
};

/// Runs \p call (returning json) and records how it ended. Never throws: anything that is not a
/// qmp exception is reported as a test failure.
template <typename Call> Outcome capture(Call&& call)
{
    Outcome outcome;
    try {
        outcome.value = call();
        outcome.kind = "returned";
    } catch (const qmp::ProtocolError& e) {
        outcome = {"ProtocolError", e.what(), nullptr, {}};
    } catch (const qmp::DisconnectedError& e) {
        outcome = {"DisconnectedError", e.what(), nullptr, {}};
    } catch (const qmp::TimeoutError& e) {
        outcome = {"TimeoutError", e.what(), nullptr, {}};
    } catch (const qmp::ExecuteError& e) {
        outcome = {"ExecuteError", e.what(), nullptr, {}};
    } catch (const qmp::ConnectError& e) {
        outcome = {"ConnectError", e.what(), nullptr, {}};
    } catch (const qmp::UsageError& e) {
        outcome = {"UsageError", e.what(), nullptr, {}};
    } catch (const std::exception& e) {
        outcome = {"other", e.what(), nullptr, {}};
        ADD_FAILURE() << "unexpected exception: " << e.what();
    } catch (...) {
        outcome = {"other", "?", nullptr, {}};
        ADD_FAILURE() << "unexpected exception of unknown type";
    }
    outcome.ended = std::chrono::steady_clock::now();
    return outcome;
}

/// Runs \p call on a new thread; the future holds its Outcome.
template <typename Call> std::future<Outcome> start(Call call)
{
    return std::async(
        std::launch::async, [call = std::move(call)]() mutable { return capture(call); });
}

/// The result of a worker that uses the test's objects and must end within \p limit. One still
/// blocked after that can be neither joined nor abandoned safely: abort with a message rather
/// than hang the binary.
template <typename T>
T finish(std::future<T>& worker, std::chrono::milliseconds limit = std::chrono::seconds(10))
{
    if (worker.wait_for(limit) != std::future_status::ready) {
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        std::fprintf(stderr, "FATAL: %s.%s: a call is still blocked after %lld ms; aborting\n",
            test ? test->test_suite_name() : "?", test ? test->name() : "?",
            static_cast<long long>(limit.count()));
        std::fflush(stderr);
        std::abort();
    }
    return worker.get();
}

/// Whether \p future is ready within \p timeout.
template <typename T>
bool ready_within(
    std::future<T>& future, std::chrono::milliseconds timeout = std::chrono::seconds(10))
{
    return future.wait_for(timeout) == std::future_status::ready;
}

/// Polls \p condition (every millisecond) until it holds; false after \p timeout.
template <typename Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout = std::chrono::seconds(5))
{
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
}

} // namespace qmp::test
