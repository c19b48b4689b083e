// SPDX-License-Identifier: MIT
// Faults of a real QEMU 7.2 (qemu-system-x86_64 -machine none through qmp::Machine), public API
// only:
//  - QEMU SIGKILLed at a random moment while 8 threads execute, many rounds: every call ends in
//    exactly one of reply / ExecuteError / TimeoutError / DisconnectedError, promptly;
//  - QEMU stopped with SIGSTOP during connect() and execute(): typed errors within the timeout,
//    and a usable client after SIGCONT;
//  - an event flood from QEMU into a small queue: what is popped plus what is dropped is what
//    QEMU emitted.
//
// QMP_KILL_ROUNDS sets the rounds of the kill test (default 200), QMP_KILL_SEED its seed (default
// random; printed, so that a failing run can be repeated). Nothing synchronises by sleeping; the
// only sleep is the random delay before the kill, which is the fault being injected.

#include "qemu_helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <random>

namespace {

using namespace qmp_test;
using ::testing::HasSubstr;

// ---- QEMU killed at random moments -----------------------------------------------------------

// How one execute() ended.
enum Outcome { reply, execute_error, timeout_error, disconnected, protocol_error, other, outcomes };
constexpr std::array<const char*, outcomes> outcome_names = {
    "reply", "ExecuteError", "TimeoutError", "DisconnectedError", "ProtocolError", "other"};

// The commands the threads cycle through: cheap ones that return, and two that QEMU refuses.
// check() says whether what came back is what this command gives (a reply routed to the wrong
// call, or an error for a command that cannot fail, shows).
struct Command {
    const char* name;
    qmp::json arguments;
    const char* error_class; // nullptr: must return
    bool (*check)(const qmp::json&);
};

const std::vector<Command>& commands()
{
    static const std::vector<Command> list = {
        {"query-status", qmp::json::object(), nullptr,
            [](const qmp::json& r) { return r.is_object() && r.contains("status"); }},
        {"query-version", qmp::json::object(), nullptr,
            [](const qmp::json& r) { return r.is_object() && r.contains("qemu"); }},
        {"qom-list", {{"path", "/machine"}}, nullptr,
            [](const qmp::json& r) { return r.is_array(); }},
        {"qmp-test-no-such-command", qmp::json::object(), "CommandNotFound", nullptr},
        {"qom-get", {{"path", "/machine"}, {"property", "qmp-test-no-such-property"}},
            "GenericError", nullptr},
    };
    return list;
}

struct Totals {
    std::array<std::uint64_t, outcomes> counts{};
    std::uint64_t calls = 0;
    std::uint64_t wrong = 0; // a reply or error that does not fit the command
    std::uint64_t interrupted = 0; // DisconnectedError of a call sent before the kill
    std::uint64_t early = 0; // DisconnectedError that ended before the kill
    long long slowest_end_ms = 0; // the latest a thread finished after the kill
    std::string first_problem;

    void problem(const std::string& what)
    {
        if (first_problem.empty())
            first_problem = what;
    }
};

// What one worker thread saw in one round.
struct WorkerResult {
    Totals totals;
    SteadyClock::time_point finished_at;
};

// Calls commands in a loop until the connection ends (DisconnectedError), counting outcomes.
// \p killed_at is read after each DisconnectedError: the main thread sets it before the kill.
void run_worker(qmp::Client& client, int thread_index, Gate& gate,
    const std::atomic<SteadyClock::rep>& killed_at, WorkerResult& result)
{
    Totals& totals = result.totals;
    gate.wait();
    for (std::size_t i = thread_index;; ++i) {
        const Command& command = commands()[i % commands().size()];
        const auto sent_at = SteadyClock::now();
        Outcome outcome = other;
        std::string detail, disconnected_because;
        try {
            const qmp::json value = client.execute(command.name, command.arguments, exec(2s));
            outcome = reply;
            if (command.error_class || !command.check(value))
                detail = std::string(command.name) + " returned " + value.dump().substr(0, 120);
        } catch (const qmp::ExecuteError& e) {
            outcome = execute_error;
            if (!command.error_class || e.error_class() != command.error_class)
                detail = std::string(command.name) + " failed: " + e.what();
        } catch (const qmp::TimeoutError&) {
            outcome = timeout_error;
        } catch (const qmp::ProtocolError& e) {
            outcome = protocol_error;
            detail = std::string("ProtocolError: ") + e.what();
        } catch (const qmp::DisconnectedError& e) {
            outcome = disconnected;
            disconnected_because = e.what();
        } catch (const std::exception& e) {
            detail = std::string("unexpected exception: ") + e.what();
        } catch (...) {
            detail = "unexpected non-standard exception";
        }
        ++totals.calls;
        ++totals.counts[outcome];
        if (!detail.empty()) {
            if (outcome == reply || outcome == execute_error)
                ++totals.wrong;
            totals.problem("thread " + std::to_string(thread_index) + ": " + detail);
        }
        if (outcome == disconnected || outcome == protocol_error || outcome == other) {
            const auto now = SteadyClock::now();
            const SteadyClock::time_point kill{SteadyClock::duration(killed_at.load())};
            if (killed_at.load() == 0 || now < kill) {
                ++totals.early;
                totals.problem("thread " + std::to_string(thread_index) +
                    ": the connection ended before the kill (" + disconnected_because + ")");
            } else if (sent_at < kill) {
                ++totals.interrupted;
            }
            break; // the session is over: every later call would fail the same way at once
        }
    }
    result.finished_at = SteadyClock::now();
}

TEST(QemuFaults, KilledAtRandomMomentsWhileEightThreadsExecute)
{
    constexpr int threads = 8;
    constexpr auto bound_after_kill = 5s;
    const int rounds = env_or("QMP_KILL_ROUNDS", 200);
    const char* seed_text = std::getenv("QMP_KILL_SEED");
    const std::uint64_t seed =
        seed_text ? std::strtoull(seed_text, nullptr, 10) : std::random_device{}();
    std::printf("kill: seed %" PRIu64 " (repeat with QMP_KILL_SEED=%" PRIu64 ")\n", seed, seed);
    std::fflush(stdout);
    std::mt19937_64 random(seed);
    std::uniform_int_distribution<int> delay_us(0, 20'000);

    Totals all;
    int early_diagnosed = 0;
    long long start_ms_total = 0;
    const auto begin = SteadyClock::now();
    for (int round = 0; round < rounds; ++round) {
        const int delay = delay_us(random);
        SCOPED_TRACE("round " + std::to_string(round) + ", kill after " + std::to_string(delay) +
            " us, seed " + std::to_string(seed));
        std::string directory;
        {
            qmp::Machine vm;
            const auto starting = SteadyClock::now();
            qmp::Client& client = vm.start();
            start_ms_total += ms_since(starting);
            directory = vm.directory();

            Gate gate;
            std::atomic<SteadyClock::rep> killed_at{0};
            std::vector<WorkerResult> results(threads);
            Counter finished;
            std::vector<std::thread> workers;
            for (int t = 0; t < threads; ++t)
                workers.push_back(spawn_checked("worker " + std::to_string(t), [&, t] {
                    run_worker(client, t, gate, killed_at, results[t]);
                    finished.arrive();
                }));
            gate.open();
            std::this_thread::sleep_for(std::chrono::microseconds(delay)); // the fault's timing
            const auto kill = SteadyClock::now();
            killed_at = kill.time_since_epoch().count();
            const pid_t pid = vm.pid();
            vm.kill(SIGKILL);

            // The watchdog: a thread that does not finish in time fails the test; disconnect()
            // then wakes it (it must), so that a hang cannot hang the suite. Should even that not
            // help, joining would block forever: abort with the facts instead.
            if (!finished.wait_until(threads, kill + bound_after_kill)) {
                ADD_FAILURE() << threads - finished.count() << " of " << threads
                              << " threads still executing " << ms(bound_after_kill)
                              << " ms after QEMU (pid " << pid << ") was killed";
                client.disconnect();
                if (!finished.wait_for(threads, 5s)) {
                    std::fprintf(stderr,
                        "kill: threads hang even after disconnect() (round %d, "
                        "seed %" PRIu64 "); aborting\n",
                        round, seed);
                    std::abort();
                }
            }
            for (auto& worker : workers)
                worker.join();

            for (const WorkerResult& result : results) {
                const Totals& t = result.totals;
                for (int o = 0; o < outcomes; ++o)
                    all.counts[o] += t.counts[o];
                all.calls += t.calls;
                all.wrong += t.wrong;
                all.interrupted += t.interrupted;
                all.early += t.early;
                all.slowest_end_ms = std::max(all.slowest_end_ms, ms(result.finished_at - kill));
                if (!t.first_problem.empty())
                    all.problem("round " + std::to_string(round) + ": " + t.first_problem);
                if (t.early != 0 && early_diagnosed++ == 0) // why, once: QEMU may have said
                    ADD_FAILURE() << "the connection ended before the kill; QEMU's output: "
                                  << vm.stderr_output();
                EXPECT_LT(ms(result.finished_at - kill), ms(bound_after_kill));
            }

            // The end of the connection is awaitable: the event queue closes.
            drain_until_closed(client.events(), 5s);
            EXPECT_FALSE(client.is_connected());
            EXPECT_THROW(client.execute("query-status"), qmp::DisconnectedError);
            EXPECT_TRUE(vm.wait_exit(5s)) << "QEMU (pid " << pid << ") not reaped within 5 s";
            EXPECT_EQ(vm.pid(), 0);
            EXPECT_FALSE(vm.running());
            EXPECT_EQ(::kill(pid, 0), -1) << "pid " << pid << " still exists after reaping";
        }
        EXPECT_FALSE(std::filesystem::exists(directory)) << directory << " left behind";
        if (HasFailure())
            break; // one failing round says it; 200 copies of it do not help
    }
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - begin).count();

    std::printf("kill: %d rounds, %" PRIu64 " calls in %.1f s (QEMU start %.1f ms per round); ",
        rounds, all.calls, seconds, static_cast<double>(start_ms_total) / rounds);
    for (int o = 0; o < outcomes; ++o)
        std::printf(
            "%s %" PRIu64 "%s", outcome_names[o], all.counts[o], o + 1 < outcomes ? ", " : "; ");
    std::printf("%" PRIu64 " calls in flight at the kill; slowest thread ended %lld ms after "
                "the kill\n",
        all.interrupted, all.slowest_end_ms);
    ::testing::Test::RecordProperty("kill_seconds", std::to_string(seconds));

    EXPECT_EQ(all.counts[protocol_error], 0u) << all.first_problem;
    EXPECT_EQ(all.counts[other], 0u) << all.first_problem;
    EXPECT_EQ(all.wrong, 0u) << all.first_problem;
    EXPECT_EQ(all.early, 0u) << all.first_problem;
    // Each thread ends with exactly one DisconnectedError per round.
    if (!HasFailure()) {
        EXPECT_EQ(all.counts[disconnected], static_cast<std::uint64_t>(rounds) * threads);
    }
    // The test exercises what it claims: QEMU answered calls, and killed some while in flight.
    EXPECT_GT(all.counts[reply], 0u);
    EXPECT_GT(all.counts[execute_error], 0u);
    if (rounds >= 20) {
        EXPECT_GT(all.interrupted, 0u);
    }
}

// ---- QEMU stopped with SIGSTOP ---------------------------------------------------------------

// Sends SIGCONT when it goes out of scope, so that a failing test does not leave QEMU stopped
// (the Machine's clean shutdown would then wait for its SIGTERM in vain). Declared after the
// Machine, so it runs first.
class ContinueOnExit {
public:
    explicit ContinueOnExit(qmp::Machine& vm) : vm_(vm) { }
    ~ContinueOnExit()
    {
        try {
            if (vm_.pid() > 0)
                vm_.kill(SIGCONT);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "SIGCONT: " << e.what();
        }
    }
    ContinueOnExit(const ContinueOnExit&) = delete;
    ContinueOnExit& operator=(const ContinueOnExit&) = delete;

private:
    qmp::Machine& vm_;
};

void stop(qmp::Machine& vm)
{
    vm.kill(SIGSTOP);
    ASSERT_TRUE(wait_for_process_state(vm.pid(), 'T', 5s))
        << "QEMU (pid " << vm.pid() << ") not stopped within 5 s of SIGSTOP; state "
        << process_state(vm.pid());
}

// The kernel accepts a connection for a stopped process's listening socket, but nobody sends a
// greeting: connect() gives up after connect_timeout with ConnectError (client.cpp's handshake:
// "no greeting from ... within N ms"), not TimeoutError. A second monitor, which no client
// uses, makes sure the missing greeting is the stopped process's and not a busy monitor's.
TEST(QemuStopped, ConnectToAStoppedQemuFailsWithConnectErrorWithinTheTimeout)
{
    TemporaryDirectory directory;
    const std::string second = directory.path() + "/second.sock";
    qmp::MachineOptions machine_options;
    machine_options.args.insert(
        machine_options.args.end(), {"-qmp", "unix:" + second + ",server=on,wait=off"});
    qmp::Machine vm(machine_options);
    qmp::Client& first = vm.start();
    ContinueOnExit continue_on_exit(vm);
    ASSERT_TRUE(std::filesystem::exists(second));

    stop(vm);
    if (HasFatalFailure())
        return;
    qmp::ClientOptions options;
    options.connect_timeout = 500ms;
    qmp::Client client(options);
    const auto started = SteadyClock::now();
    try {
        client.connect(second);
        ADD_FAILURE() << "connect() to a stopped QEMU succeeded";
    } catch (const qmp::ConnectError& e) {
        EXPECT_THAT(e.what(), HasSubstr("no greeting"));
        EXPECT_THAT(e.what(), HasSubstr("500 ms"));
    }
    const long long waited_us = us_since(started);
    EXPECT_GE(waited_us, 500'000);
    EXPECT_LT(waited_us, 1'500'000); // the timeout plus a margin for sanitizer builds
    EXPECT_FALSE(client.is_connected());
    EXPECT_EQ(process_state(vm.pid()), 'T'); // still stopped: the timeout was the stop's

    vm.kill(SIGCONT);
    // QEMU first serves the abandoned connection from its backlog (it finds it closed), then
    // the new one: a greeting within the normal timeout.
    qmp::ClientOptions patient;
    patient.connect_timeout = 5s;
    qmp::Client again(patient);
    again.connect(second);
    EXPECT_TRUE(again.is_connected());
    EXPECT_TRUE(again.execute("query-status").contains("status"));
    EXPECT_TRUE(first.execute("query-status").contains("status"));
    EXPECT_EQ(first.dropped_replies(), 0u);
}

// A call to a stopped QEMU times out (TimeoutError, client still connected); after SIGCONT QEMU
// answers it late: the reply is dropped and counted, and the client works on.
TEST(QemuStopped, ExecuteOnAStoppedQemuTimesOutAndTheLateReplyIsDropped)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    ContinueOnExit continue_on_exit(vm);
    ASSERT_TRUE(client.execute("query-status").contains("status"));
    EXPECT_EQ(client.dropped_replies(), 0u);

    stop(vm);
    if (HasFatalFailure())
        return;
    const auto started = SteadyClock::now();
    EXPECT_THROW(client.execute("query-status", qmp::json::object(), 300ms), qmp::TimeoutError);
    const long long waited_us = us_since(started);
    EXPECT_GE(waited_us, 300'000);
    EXPECT_LT(waited_us, 1'300'000);
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.dropped_replies(), 0u);

    vm.kill(SIGCONT);
    // In-band replies come in order: when this call's reply arrives, the late one has been read
    // and dropped.
    const qmp::json status = client.execute("query-status", qmp::json::object(), 5s);
    EXPECT_TRUE(status.contains("status")) << status.dump();
    EXPECT_EQ(client.dropped_replies(), 1u);
    EXPECT_TRUE(client.is_connected());
}

// The same with 8 threads at once: each gets its own TimeoutError; after SIGCONT all 8 late
// replies are dropped and counted, and the 8 threads' next calls all succeed.
TEST(QemuStopped, EightThreadsTimeOutOnAStoppedQemuAndAllLateRepliesAreDropped)
{
    constexpr int threads = 8;
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    ContinueOnExit continue_on_exit(vm);

    stop(vm);
    if (HasFatalFailure())
        return;
    std::atomic<int> timed_out{0};
    std::atomic<long long> slowest_us{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.push_back(spawn_checked("caller " + std::to_string(t), [&] {
            const auto started = SteadyClock::now();
            try {
                client.execute("query-status", qmp::json::object(), 300ms);
                ADD_FAILURE() << "a stopped QEMU answered";
            } catch (const qmp::TimeoutError&) {
                ++timed_out;
            }
            const long long waited = us_since(started);
            EXPECT_GE(waited, 300'000);
            long long previous = slowest_us.load();
            while (waited > previous && !slowest_us.compare_exchange_weak(previous, waited)) { }
        }));
    for (auto& worker : workers)
        worker.join();
    EXPECT_EQ(timed_out.load(), threads);
    EXPECT_LT(slowest_us.load(), 1'300'000);
    EXPECT_TRUE(client.is_connected());

    vm.kill(SIGCONT);
    workers.clear();
    std::atomic<int> answered{0};
    for (int t = 0; t < threads; ++t)
        workers.push_back(spawn_checked("caller " + std::to_string(t), [&] {
            if (client.execute("query-status", qmp::json::object(), 5s).contains("status"))
                ++answered;
        }));
    for (auto& worker : workers)
        worker.join();
    EXPECT_EQ(answered.load(), threads);
    // Each new call was sent after the timed-out ones, so its reply came after theirs.
    EXPECT_EQ(client.dropped_replies(), static_cast<std::uint64_t>(threads));
}

// ---- events from QEMU into a small queue -----------------------------------------------------

// 1000 events (500 x stop/cont) into queues of capacity 16 that nobody pops meanwhile: each
// queue holds the 16 newest, in order, and counts the other 984 as dropped. QEMU sends STOP
// before the reply to stop and RESUME before the reply to cont, so when the last cont returns
// every event has been routed.
TEST(QemuEvents, FloodIntoASmallQueueKeepsTheNewestAndCountsTheRest)
{
    constexpr int pairs = 500;
    constexpr std::size_t capacity = 16;
    qmp::MachineOptions options;
    options.client.event_queue_capacity = capacity;
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();
    auto listener = client.listen({"STOP", "RESUME"}); // from now on: no start-up RESUME
    client.events().clear();
    const std::uint64_t dropped_before = client.events().dropped();

    for (int i = 0; i < pairs; ++i) {
        client.execute("stop");
        client.execute("cont");
    }

    for (qmp::EventQueue* queue : {&listener, &client.events()}) {
        std::vector<std::string> names;
        while (auto event = queue->try_pop())
            names.push_back(event->name);
        const std::uint64_t dropped = queue->dropped() - (queue == &listener ? 0 : dropped_before);
        EXPECT_EQ(names.size(), capacity);
        EXPECT_EQ(names.size() + dropped, 2u * pairs);
        for (std::size_t i = 0; i < names.size(); ++i)
            EXPECT_EQ(names[i], i % 2 == 0 ? "STOP" : "RESUME") << "event " << i;
    }
}

} // namespace
