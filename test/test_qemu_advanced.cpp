// SPDX-License-Identifier: MIT
// The advanced features of qmp::Client against real QEMU 7.2 (qemu-system-x86_64 -machine none,
// qemu-storage-daemon): asynchronous and raw execution, out-of-band commands, file descriptor
// passing, event listeners, callbacks and schema introspection. Public API only.
//
// Every test has its own Machine. Nothing synchronises by sleeping: waits are on replies,
// events, or bounded polls of a condition (a FIFO gaining a reader, threads asleep).

#include <qmp/qmp.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

#include "qemu_helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using qmp::json;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using namespace qmp_test;

// How long a command that must not wait behind a blocked main loop may take. Generous for the
// sanitizer builds; a command that waits for the main loop would wait forever.
constexpr long long prompt_ms = 2000;

// What on_event() callbacks saw, waitable.
class Seen {
public:
    void add(const std::string& what)
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            items_.push_back(what);
        }
        changed_.notify_all();
    }

    // Waits until \p what was added (at least \p times times).
    bool wait_for(const std::string& what, std::chrono::milliseconds timeout, int times = 1)
    {
        std::unique_lock<std::mutex> lock(mutex_);
        return changed_.wait_for(
            lock, timeout, [&] { return std::count(items_.begin(), items_.end(), what) >= times; });
    }

    std::vector<std::string> items()
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return items_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> items_;
};

// A pipe whose ends are closed by the destructor.
struct Pipe {
    int read = -1;
    int write = -1;
    Pipe()
    {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0)
            throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
        read = fds[0];
        write = fds[1];
    }
    ~Pipe()
    {
        close_read();
        close_write();
    }
    void close_read()
    {
        if (read >= 0)
            ::close(read);
        read = -1;
    }
    void close_write()
    {
        if (write >= 0)
            ::close(write);
        write = -1;
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

bool fd_is_open(int fd)
{
    return ::fcntl(fd, F_GETFD) != -1;
}

// ---- 1. execute_async ------------------------------------------------------------------------

// query-command-line-options answers with the option asked for, or with an error naming it, so a
// reply handed to the wrong PendingReply shows. One thread keeps 64 calls in flight: each new
// call is sent before the oldest is collected.
void expect_async_replies_match(qmp::Client& client, int total)
{
    static const std::vector<std::string> options = {
        "chardev", "drive", "machine", "netdev", "object", "mon", "name", "rtc"};
    constexpr std::size_t window = 64;
    struct InFlight {
        std::string name;
        bool valid;
        qmp::PendingReply reply;
    };
    std::deque<InFlight> in_flight;
    int checked = 0;
    int wrong = 0;
    std::string first_wrong;
    const auto collect = [&] {
        InFlight call = std::move(in_flight.front());
        in_flight.pop_front();
        EXPECT_EQ(call.reply.command(), "query-command-line-options");
        try {
            const qmp::json reply = call.reply.get();
            if (!call.valid || !reply.is_array() || reply.size() != 1 ||
                reply[0].value("option", "") != call.name) {
                if (wrong++ == 0)
                    first_wrong = "asked for " + call.name + ", got " + reply.dump().substr(0, 200);
            }
        } catch (const qmp::ExecuteError& e) {
            if (call.valid || e.error_class() != "GenericError" ||
                e.description() != "invalid option name: " + call.name) {
                if (wrong++ == 0)
                    first_wrong = "asked for " + call.name + ", got error " + e.error_class() +
                        ": " + e.description();
            }
        }
        ++checked;
    };
    for (int k = 0; k < total; ++k) {
        const bool valid = k % 3 != 0;
        std::string name = valid ? options[k % options.size()] : "qmp-test-" + std::to_string(k);
        qmp::PendingReply reply =
            client.execute_async("query-command-line-options", {{"option", name}});
        in_flight.push_back({std::move(name), valid, std::move(reply)});
        if (in_flight.size() == window)
            collect();
    }
    while (!in_flight.empty())
        collect();
    EXPECT_EQ(checked, total);
    EXPECT_EQ(wrong, 0) << wrong << " replies did not match their call; first: " << first_wrong;
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
}

TEST(QemuAsync, OneThreadKeeps64CallsInFlightAndEachGetsItsOwnReply)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    ASSERT_TRUE(client.greeting().oob_enabled);
    expect_async_replies_match(client, 1000);
}

// Without the client's in-band limit, all 64 are really on the wire at once (QEMU then stops
// reading after 8 and resumes as it answers).
TEST(QemuAsync, SixtyFourInFlightWithoutInBandLimit)
{
    qmp::MachineOptions options;
    options.client.oob_in_band_limit = 0;
    qmp::Machine vm(options);
    expect_async_replies_match(vm.start(), 1000);
}

TEST(QemuAsync, SixtyFourInFlightWithoutOob)
{
    qmp::MachineOptions options;
    options.client.enable_oob = false;
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();
    ASSERT_FALSE(client.greeting().oob_enabled);
    expect_async_replies_match(client, 1000);
}

TEST(QemuAsync, GetThrowsExecuteErrorForAnErrorReplyAndUsageErrorWhenCollectedTwice)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    qmp::PendingReply failing =
        client.execute_async("qom-get", {{"path", "/machine"}, {"property", "no-such-property"}});
    qmp::PendingReply fine = client.execute_async("query-status");
    try {
        failing.get();
        ADD_FAILURE() << "get() of a failing qom-get did not throw";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.command(), "qom-get");
        EXPECT_EQ(e.error_class(), "GenericError");
        EXPECT_THAT(e.description(), HasSubstr("no-such-property"));
    }
    EXPECT_THROW(failing.get(), qmp::UsageError);
    EXPECT_TRUE(fine.wait_for(5s));
    EXPECT_TRUE(fine.ready());
    EXPECT_EQ(fine.get()["status"], "running");
    EXPECT_THROW(fine.get(), qmp::UsageError);

    // Bad arguments fail in execute_async() itself, before anything is sent.
    EXPECT_THROW(client.execute_async("query-status", qmp::json::array({1, 2})), qmp::UsageError);
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(client.dropped_replies(), 0u);
}

// Replies that come after cancel() or after the handle was destroyed are dropped quietly (not
// counted as dropped); the client stays usable. QEMU's blocked main loop makes sure the replies
// really come late.
TEST(QemuAsync, CancelledAndAbandonedCallsDropTheirLateRepliesQuietly)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    qmp::PendingReply cancelled = client.execute_async("query-status");
    EXPECT_FALSE(cancelled.ready());
    EXPECT_FALSE(cancelled.wait_for(50ms)); // QEMU cannot answer while its main loop is blocked
    cancelled.cancel();
    EXPECT_TRUE(cancelled.ready()); // get() would not block: it throws at once
    EXPECT_THROW(cancelled.get(), qmp::UsageError);
    cancelled.cancel(); // a second cancel does nothing

    {
        qmp::PendingReply abandoned = client.execute_async("query-status");
    } // never collected

    qmp::PendingReply moved_over = client.execute_async("query-status");
    moved_over = client.execute_async("query-command-line-options", {{"option", "rtc"}});

    qmp::PendingReply kept = client.execute_async("query-status");
    EXPECT_FALSE(kept.ready());

    blocked.release();
    EXPECT_EQ(blocked.join(), "returned");
    // In-band replies come in order: when this one is there, the earlier (abandoned) ones have
    // been received and dropped.
    ASSERT_TRUE(kept.wait_for(5s));
    EXPECT_TRUE(kept.ready());
    EXPECT_EQ(kept.get()["status"], "running");
    const qmp::json rtc = moved_over.get();
    ASSERT_TRUE(rtc.is_array()) << rtc.dump();
    EXPECT_EQ(rtc[0]["option"], "rtc") << rtc.dump();

    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
}

// A get() that times out is a TimeoutError; that late reply (unlike a cancelled one) is counted.
TEST(QemuAsync, GetTimesOutOnBlockedQemuAndTheLateReplyIsCounted)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    const auto started = SteadyClock::now();
    qmp::PendingReply reply = client.execute_async("query-status", {}, exec(300ms));
    EXPECT_THROW(reply.get(), qmp::TimeoutError);
    EXPECT_GE(us_since(started), 300'000);
    EXPECT_LT(ms_since(started), 300 + prompt_ms);

    blocked.release();
    EXPECT_EQ(blocked.join(), "returned");
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(client.dropped_replies(), 1u);
}

// ---- 2. execute_raw --------------------------------------------------------------------------

TEST(QemuRaw, ReturnsTheWholeReplyWithCallerIdsAndErrorReplies)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    const qmp::json plain = client.execute_raw({{"execute", "query-status"}});
    ASSERT_TRUE(plain.contains("return")) << plain.dump();
    EXPECT_EQ(plain["return"]["status"], "running") << plain.dump();
    ASSERT_TRUE(plain.contains("id")) << plain.dump();
    EXPECT_TRUE(plain["id"].is_string()) << plain.dump();

    const qmp::json with_id =
        client.execute_raw({{"execute", "query-status"}, {"id", "caller-chosen-1"}});
    EXPECT_EQ(with_id.value("id", qmp::json()), "caller-chosen-1") << with_id.dump();
    EXPECT_TRUE(with_id.contains("return")) << with_id.dump();

    const qmp::json with_arguments = client.execute_raw({{"execute", "query-command-line-options"},
        {"arguments", {{"option", "rtc"}}}, {"id", "r"}});
    ASSERT_TRUE(with_arguments.contains("return")) << with_arguments.dump();
    EXPECT_EQ(with_arguments["return"][0]["option"], "rtc") << with_arguments.dump();

    // An error reply is returned, not thrown.
    qmp::json error;
    ASSERT_NO_THROW(error = client.execute_raw({{"execute", "qom-get"},
                        {"arguments", {{"path", "/machine"}, {"property", "no-such-property"}}},
                        {"id", "e1"}}));
    ASSERT_TRUE(error.contains("error")) << error.dump();
    EXPECT_EQ(error["error"]["class"], "GenericError") << error.dump();
    EXPECT_EQ(error.value("id", qmp::json()), "e1") << error.dump();
    const qmp::json unknown = client.execute_raw({{"execute", "query-statsu"}});
    EXPECT_EQ(unknown["error"]["class"], "CommandNotFound") << unknown.dump();

    // exec-oob as a raw message.
    const qmp::json oob = client.execute_raw({{"exec-oob", "query-yank"}, {"id", "o1"}});
    EXPECT_TRUE(oob.contains("return") && oob["return"].is_array()) << oob.dump();
    EXPECT_EQ(oob.value("id", qmp::json()), "o1") << oob.dump();

    // An empty string is a string id like any other: kept and echoed.
    const qmp::json empty_id = client.execute_raw({{"execute", "query-status"}, {"id", ""}});
    EXPECT_EQ(empty_id.value("id", qmp::json()), "") << empty_id.dump();
    EXPECT_TRUE(empty_id.contains("return")) << empty_id.dump();

    // A message QEMU rejects as a whole is sent as given and its error reply returned.
    qmp::json bad_name;
    try {
        bad_name = client.execute_raw({{"execute", 5}, {"id", "n1"}});
    } catch (const qmp::Error& e) {
        ADD_FAILURE() << "execute_raw of {\"execute\": 5} threw " << e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "execute_raw of {\"execute\": 5} threw a non-qmp exception: " << e.what();
    }
    if (!bad_name.is_null()) {
        EXPECT_EQ(bad_name.value("id", qmp::json()), "n1") << bad_name.dump();
        EXPECT_TRUE(bad_name.contains("error")) << bad_name.dump();
    }

    // Wrong uses: nothing is sent.
    EXPECT_THROW(client.execute_raw({{"execute", "query-status"}, {"id", 1}}), qmp::UsageError);
    EXPECT_THROW(
        client.execute_raw({{"execute", "query-status"}, {"id", {{"a", 1}}}}), qmp::UsageError);
    EXPECT_THROW(client.execute_raw(qmp::json::array({1})), qmp::UsageError);
    EXPECT_THROW(client.execute_raw({{"arguments", qmp::json::object()}}), qmp::UsageError);

    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
}

// Two threads send raw messages with the same id while QEMU's main loop is blocked: whichever
// registers second is refused with UsageError at once; the first gets its reply after release.
TEST(QemuRaw, AnIdThatClashesWithOneInFlightIsAUsageError)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    struct Outcome {
        std::string kind;
        qmp::json reply;
    };
    Outcome outcomes[2];
    Counter finished;
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.push_back(spawn_checked("raw " + std::to_string(i), [&, i] {
            Outcome outcome;
            try {
                outcome.reply =
                    client.execute_raw({{"execute", "query-status"}, {"id", "same-id"}}, exec(30s));
                outcome.kind = "reply";
            } catch (const qmp::UsageError& e) {
                outcome.kind = "UsageError";
                EXPECT_THAT(e.what(), HasSubstr("same-id"));
            }
            outcomes[i] = std::move(outcome);
            finished.arrive();
        }));
    }
    // The refused one ends at once although QEMU is blocked.
    EXPECT_TRUE(finished.wait_for(1, 5s)) << "neither call was refused";
    EXPECT_EQ(finished.count(), 1);

    blocked.release();
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(blocked.join(), "returned");
    const int refused = (outcomes[0].kind == "UsageError") + (outcomes[1].kind == "UsageError");
    EXPECT_EQ(refused, 1) << outcomes[0].kind << ", " << outcomes[1].kind;
    for (const auto& outcome : outcomes) {
        if (outcome.kind != "reply")
            continue;
        EXPECT_EQ(outcome.reply.value("id", qmp::json()), "same-id") << outcome.reply.dump();
        EXPECT_EQ(outcome.reply["return"]["status"], "running") << outcome.reply.dump();
    }

    // Once answered, the id is free again.
    const qmp::json again = client.execute_raw({{"execute", "query-status"}, {"id", "same-id"}});
    EXPECT_EQ(again.value("id", qmp::json()), "same-id");
    EXPECT_EQ(client.dropped_replies(), 0u);
}

// ---- 3. out-of-band --------------------------------------------------------------------------

// With QEMU's main loop blocked and 20 in-band commands pending, exec-oob commands are answered
// at once: the client keeps at most 8 in-band commands in flight (object-add included), so QEMU
// keeps reading its socket and sees the exec-oob.
TEST(QemuOob, OobCommandsOvertakeTwentyPendingInBandCommands)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    ASSERT_TRUE(client.greeting().oob_enabled);
    ASSERT_EQ(client.options().oob_in_band_limit, 8u);
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    constexpr int callers = 20;
    std::vector<qmp::json> results(callers);
    std::vector<std::atomic<pid_t>> tids(callers);
    Counter calling, done;
    std::vector<std::thread> threads;
    for (int i = 0; i < callers; ++i) {
        threads.push_back(spawn_checked("in-band " + std::to_string(i), [&, i] {
            tids[i] = ::gettid();
            calling.arrive();
            qmp::PendingReply reply = client.execute_async("query-status", {}, exec(30s));
            results[i] = reply.get();
            done.arrive();
        }));
    }
    ASSERT_TRUE(calling.wait_for(callers, 10s));
    // Asleep: each is either waiting for room inside the client or for its reply.
    EXPECT_TRUE(wait_until_all_asleep(tids, 5s)) << "the in-band callers never all waited";

    auto started = SteadyClock::now();
    const qmp::json yank = client.execute("query-yank", {}, exec(5s, true));
    EXPECT_LT(ms_since(started), prompt_ms) << "query-yank waited for the main loop";
    ASSERT_TRUE(yank.is_array()) << yank.dump();
    EXPECT_FALSE(yank.empty()) << yank.dump(); // the monitor's chardev at least

    started = SteadyClock::now();
    try {
        client.execute("migrate-pause", {}, exec(5s, true));
        ADD_FAILURE() << "migrate-pause succeeded without a migration";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.command(), "migrate-pause");
        EXPECT_EQ(e.error_class(), "GenericError");
        EXPECT_THAT(e.description(), HasSubstr("postcopy"));
    }
    EXPECT_LT(ms_since(started), prompt_ms) << "migrate-pause waited for the main loop";

    // Asynchronously as well.
    started = SteadyClock::now();
    qmp::PendingReply async_yank = client.execute_async("query-yank", {}, exec(5s, true));
    EXPECT_TRUE(async_yank.get().is_array());
    EXPECT_LT(ms_since(started), prompt_ms);

    // Nothing in-band has been answered meanwhile.
    EXPECT_EQ(done.count(), 0);
    EXPECT_FALSE(blocked.finished());

    blocked.release();
    for (auto& thread : threads)
        thread.join();
    EXPECT_EQ(blocked.join(), "returned");
    EXPECT_EQ(done.count(), callers);
    for (int i = 0; i < callers; ++i)
        EXPECT_EQ(results[i].value("status", ""), "running") << i << ": " << results[i].dump();
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
}

// The control experiment: without the client's in-band limit, the 20 in-band commands reach
// QEMU, which queues 8 and stops reading its socket, so the exec-oob behind them is not seen
// until the main loop runs again. This is what the default limit of 8 prevents.
TEST(QemuOob, WithoutTheInBandLimitOobCannotOvertake)
{
    qmp::MachineOptions options;
    options.client.oob_in_band_limit = 0;
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();
    ASSERT_TRUE(client.greeting().oob_enabled);
    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());

    std::vector<qmp::PendingReply> pending;
    for (int i = 0; i < 20; ++i) // never waits: no limit
        pending.push_back(client.execute_async("query-status", {}, exec(30s)));
    EXPECT_THROW(client.execute("query-yank", {}, exec(500ms, true)), qmp::TimeoutError);

    blocked.release();
    EXPECT_EQ(blocked.join(), "returned");
    for (auto& reply : pending)
        EXPECT_EQ(reply.get().value("status", ""), "running");
    EXPECT_EQ(client.execute("query-status").value("status", ""), "running");
    EXPECT_EQ(client.dropped_replies(), 1u); // the late query-yank reply
}

TEST(QemuOob, OobWithoutNegotiationIsAUsageErrorAndNothingIsSent)
{
    qmp::MachineOptions options;
    options.client.enable_oob = false;
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();
    ASSERT_FALSE(client.greeting().oob_enabled);

    try {
        client.execute("query-yank", {}, exec(5s, true));
        ADD_FAILURE() << "an exec-oob without OOB negotiated did not throw";
    } catch (const qmp::UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("OOB"));
    }
    EXPECT_THROW(client.execute_async("query-yank", {}, exec(5s, true)), qmp::UsageError);
    EXPECT_THROW(client.execute_raw({{"exec-oob", "query-yank"}}), qmp::UsageError);

    // Nothing was sent: had QEMU seen an exec-oob it would have answered with an error
    // ("QMP input member 'exec-oob' is unexpected"), which would show up as a dropped reply or a
    // protocol error before this in-order reply.
    EXPECT_TRUE(client.execute("query-yank").is_array());
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
}

// ---- 4. file descriptors ---------------------------------------------------------------------

TEST(QemuFd, GetfdThenClosefdAndTheCallerKeepsItsFd)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    Pipe pipe;

    EXPECT_EQ(client.execute_with_fd("getfd", {{"fdname", "f0"}}, pipe.write), qmp::json::object());
    EXPECT_TRUE(fd_is_open(pipe.write)) << "the caller's fd was closed";
    EXPECT_EQ(client.execute("closefd", {{"fdname", "f0"}}), qmp::json::object());
    try {
        client.execute("closefd", {{"fdname", "f0"}});
        ADD_FAILURE() << "closing f0 twice did not fail";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.command(), "closefd");
        EXPECT_THAT(e.description(), HasSubstr("f0"));
    }
    EXPECT_EQ(client.dropped_replies(), 0u);
}

TEST(QemuFd, GetfdWithoutAnFdFailsAndAnInvalidFdIsAUsageError)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    try {
        client.execute("getfd", {{"fdname", "f1"}});
        ADD_FAILURE() << "getfd without an fd succeeded";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_THAT(e.description(), HasSubstr("No file descriptor supplied via SCM_RIGHTS"));
    }
    EXPECT_THROW(client.execute_with_fd("getfd", {{"fdname", "f1"}}, -1), qmp::UsageError);
    EXPECT_THROW(client.execute_with_fd("getfd", qmp::json::array(), 0), qmp::UsageError);
    EXPECT_TRUE(client.execute("query-status").contains("status"));
}

TEST(QemuFd, AddFdIsListedByQueryFdsetsAndRemoveFdRemovesIt)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    Pipe pipe;

    const qmp::json added =
        client.execute_with_fd("add-fd", {{"fdset-id", 1}, {"opaque", "qmp-test"}}, pipe.read);
    ASSERT_EQ(added.value("fdset-id", -1), 1) << added.dump();
    ASSERT_TRUE(added.contains("fd")) << added.dump();
    const int qemu_fd = added["fd"].get<int>();
    EXPECT_TRUE(fd_is_open(pipe.read));

    const qmp::json sets = client.execute("query-fdsets");
    ASSERT_TRUE(sets.is_array()) << sets.dump();
    const auto set = std::find_if(
        sets.begin(), sets.end(), [](const qmp::json& s) { return s.value("fdset-id", -1) == 1; });
    ASSERT_NE(set, sets.end()) << sets.dump();
    ASSERT_EQ((*set)["fds"].size(), 1u) << sets.dump();
    EXPECT_EQ((*set)["fds"][0].value("fd", -1), qemu_fd) << sets.dump();
    EXPECT_EQ((*set)["fds"][0].value("opaque", ""), "qmp-test") << sets.dump();

    EXPECT_EQ(client.execute("remove-fd", {{"fdset-id", 1}, {"fd", qemu_fd}}), qmp::json::object());
    const qmp::json after = client.execute("query-fdsets");
    const bool still_listed = std::any_of(after.begin(), after.end(), [&](const qmp::json& s) {
        const qmp::json fds = s.value("fds", qmp::json::array());
        return std::any_of(fds.begin(), fds.end(),
            [&](const qmp::json& f) { return f.value("fd", -1) == qemu_fd; });
    });
    EXPECT_FALSE(still_listed) << after.dump();
    EXPECT_THROW(
        client.execute("remove-fd", {{"fdset-id", 1}, {"fd", qemu_fd}}), qmp::ExecuteError);
}

// QEMU opens a block node from /dev/fdset/N (the fd we passed, O_RDWR) and writes known bytes
// through it (HMP qemu-io); the test reads them back from the file.
TEST(QemuFd, QemuWritesThroughAnFdSetBlockNode)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    const std::string path = vm.directory() + "/disk.img";
    {
        std::ofstream file(path, std::ios::binary);
        file << std::string(65536, '\0');
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);

    const qmp::json added = client.execute_with_fd("add-fd", {{"fdset-id", 7}}, fd);
    ::close(fd); // QEMU has its own duplicate
    EXPECT_EQ(added.value("fdset-id", -1), 7) << added.dump();
    client.execute(
        "blockdev-add", {{"driver", "file"}, {"node-name", "disk0"}, {"filename", "/dev/fdset/7"}});
    client.execute(
        "human-monitor-command", {{"command-line", "qemu-io disk0 \"write -P 0x5a 512 1024\""}});

    std::ifstream file(path, std::ios::binary);
    const std::string content(
        (std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    ASSERT_EQ(content.size(), 65536u);
    EXPECT_EQ(content.substr(0, 512), std::string(512, '\0'));
    EXPECT_EQ(content.substr(512, 1024), std::string(1024, '\x5a'));
    EXPECT_EQ(content.substr(1536, 512), std::string(512, '\0'));

    client.execute("blockdev-del", {{"node-name", "disk0"}});
    EXPECT_TRUE(client.execute("query-status").contains("status"));
}

// QEMU writes its migration stream into a named fd (getfd + migrate "fd:NAME"): the stream read
// from the other end of the pipe starts with the QEVM magic and ends when QEMU closes the fd.
TEST(QemuFd, QemuWritesItsMigrationStreamIntoANamedFd)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    Pipe pipe;

    client.execute_with_fd("getfd", {{"fdname", "mig"}}, pipe.write);
    pipe.close_write(); // only QEMU's copy is left: EOF comes when QEMU closes it
    client.execute("migrate", {{"uri", "fd:mig"}});

    std::string stream;
    const auto deadline = SteadyClock::now() + 10s;
    for (;;) {
        pollfd p{pipe.read, POLLIN, 0};
        const int left =
            static_cast<int>(std::max<long long>(0, ms(deadline - SteadyClock::now())));
        const int ready = ::poll(&p, 1, left);
        ASSERT_GE(ready, 0) << std::strerror(errno);
        ASSERT_EQ(ready, 1) << "QEMU did not finish the stream within 10 s (" << stream.size()
                            << " bytes so far)";
        char buffer[4096];
        const ssize_t n = ::read(pipe.read, buffer, sizeof buffer);
        ASSERT_GE(n, 0) << std::strerror(errno);
        if (n == 0)
            break;
        stream.append(buffer, static_cast<std::size_t>(n));
    }
    ASSERT_GE(stream.size(), 8u);
    EXPECT_EQ(stream.substr(0, 8), std::string("QEVM\0\0\0\3", 8)); // magic, version 3

    EXPECT_EQ(client.execute("query-migrate").value("status", ""), "completed");
    EXPECT_TRUE(pop_until(client.events(), "STOP")); // the source stops for the last pass
}

// Two threads pass fds at once, many times: QEMU keeps only the latest unclaimed fd, so had the
// client pipelined them one getfd would find none. Each name must then be closable.
TEST(QemuFd, FdCarryingCommandsFromTwoThreadsAllSucceed)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    Pipe pipe;

    constexpr int rounds = 20;
    Gate gate;
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
        threads.push_back(spawn_checked("fd passer " + std::to_string(t), [&, t] {
            gate.wait();
            for (int k = 0; k < rounds; ++k) {
                const std::string name = "t" + std::to_string(t) + "-" + std::to_string(k);
                try {
                    client.execute_with_fd(
                        "getfd", {{"fdname", name}}, t == 0 ? pipe.read : pipe.write);
                } catch (const qmp::ExecuteError& e) {
                    ADD_FAILURE() << "getfd " << name << ": " << e.what();
                }
            }
        }));
    }
    gate.open();
    for (auto& thread : threads)
        thread.join();
    for (int t = 0; t < 2; ++t)
        for (int k = 0; k < rounds; ++k) {
            const std::string name = "t" + std::to_string(t) + "-" + std::to_string(k);
            EXPECT_NO_THROW(client.execute("closefd", {{"fdname", name}})) << name;
        }
    EXPECT_EQ(client.dropped_replies(), 0u);
}

TEST(QemuFd, PassingAnFdOverTcpIsAUsageError)
{
    qmp::MachineOptions machine_options;
    const std::string address = add_tcp_monitor(machine_options);
    qmp::Machine vm(machine_options);
    vm.start();

    qmp::ClientOptions options;
    options.retry_connect = true;
    qmp::Client tcp(options);
    tcp.connect(address);
    Pipe pipe;
    try {
        tcp.execute_with_fd("getfd", {{"fdname", "t0"}}, pipe.write);
        ADD_FAILURE() << "execute_with_fd over TCP did not throw";
    } catch (const qmp::UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("unix"));
    }
    // And QEMU confirms nothing could have been passed: a plain getfd over TCP fails.
    try {
        tcp.execute("getfd", {{"fdname", "t0"}});
        ADD_FAILURE() << "getfd over TCP succeeded";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_THAT(e.description(), HasSubstr("No file descriptor supplied"));
    }
    EXPECT_TRUE(tcp.is_connected());
    EXPECT_TRUE(tcp.execute("query-status").contains("status"));
    EXPECT_EQ(tcp.dropped_replies(), 0u);
}

// ---- 5. listeners ----------------------------------------------------------------------------

TEST(QemuListen, NamedListenerGetsOnlyItsEventsFromItsCreationOn)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    client.execute("stop"); // before the listener: not seen by it
    client.execute("cont");
    pop_until(client.events(), "RESUME");

    qmp::EventQueue stop_resume = client.listen({"STOP", "RESUME"});
    qmp::EventQueue resets = client.listen([](const qmp::Event& e) {
        return e.name == "RESET" && e.data.value("reason", "") == "host-qmp-system-reset";
    });
    qmp::EventQueue all = client.listen(std::vector<std::string>{});
    std::optional<qmp::EventQueue> dropped_early(client.listen({"STOP"}));
    qmp::EventQueue throwing = client.listen([](const qmp::Event& e) -> bool {
        if (e.name == "STOP")
            throw std::runtime_error("a predicate that throws");
        return true;
    });
    EXPECT_EQ(stop_resume.size(), 0u);

    client.execute("stop");
    client.execute("system_reset");
    ASSERT_TRUE(pop_until(client.events(), "RESET")); // a reset happens after its reply
    dropped_early.reset(); // unsubscribes; nothing breaks
    client.execute("cont");

    auto first = stop_resume.pop(5s);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->name, "STOP");
    auto second = stop_resume.pop(5s);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->name, "RESUME"); // RESET (between them) was not delivered
    EXPECT_FALSE(stop_resume.try_pop());

    auto reset = resets.pop(5s);
    ASSERT_TRUE(reset);
    EXPECT_EQ(reset->name, "RESET");
    EXPECT_EQ(reset->data.value("guest", true), false) << reset->raw.dump();

    std::vector<std::string> names;
    for (int i = 0; i < 3; ++i)
        if (auto e = all.pop(5s))
            names.push_back(e->name);
    EXPECT_THAT(names, ElementsAre("STOP", "RESET", "RESUME"));

    // The throwing predicate lost STOP only.
    std::vector<std::string> kept;
    for (int i = 0; i < 2; ++i)
        if (auto e = throwing.pop(5s))
            kept.push_back(e->name);
    EXPECT_THAT(kept, ElementsAre("RESET", "RESUME"));

    EXPECT_FALSE(resets.try_pop());
    EXPECT_EQ(stop_resume.dropped(), 0u);
    EXPECT_THROW(client.listen(std::function<bool(const qmp::Event&)>()), qmp::UsageError);

    // A moved listener keeps its subscription.
    qmp::EventQueue moved = std::move(stop_resume);
    client.execute("stop");
    auto stop = moved.pop(5s);
    ASSERT_TRUE(stop);
    EXPECT_EQ(stop->name, "STOP");
    EXPECT_TRUE(pop_until(client.events(), "STOP"));
}

// Each listener has its own capacity (event_queue_capacity) and its own drop count.
TEST(QemuListen, EachListenerDropsItsOwnOldestEvents)
{
    qmp::MachineOptions options;
    options.client.event_queue_capacity = 2;
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();
    client.events().clear();
    qmp::EventQueue stops = client.listen({"STOP"});
    qmp::EventQueue both = client.listen({"STOP", "RESUME"});
    EXPECT_EQ(stops.capacity(), 2u);
    const std::uint64_t dropped_before = client.events().dropped();

    for (int i = 0; i < 3; ++i) {
        client.execute("stop");
        client.execute("cont");
    }
    // QEMU sends each event before the reply of the command that caused it, and the reader
    // hands an event to every queue before it reads on: every queue is complete by now.
    std::optional<qmp::Event> last;
    for (int i = 0; i < 2; ++i)
        last = both.pop(5s);
    ASSERT_TRUE(last);
    EXPECT_EQ(last->name, "RESUME");
    EXPECT_EQ(both.dropped(), 4u); // 6 events, 2 kept
    EXPECT_EQ(stops.dropped(), 1u); // 3 STOPs, 2 kept
    EXPECT_EQ(stops.size(), 2u);
    EXPECT_EQ(client.events().dropped() - dropped_before, 4u);
}

TEST(QemuListen, ListenerClosesWhenTheConnectionEnds)
{
    qmp::Machine vm(socket_path_monitor());
    qmp::Client& client = vm.start();
    qmp::EventQueue listener = client.listen({"STOP"});
    client.execute("stop");
    client.disconnect();
    auto stop = listener.pop(5s); // what was received is still delivered...
    ASSERT_TRUE(stop);
    EXPECT_EQ(stop->name, "STOP");
    EXPECT_THROW(listener.pop(5s), qmp::DisconnectedError); // ...then the end

    // After a reconnect the same listener receives again.
    client.connect(vm.socket_path());
    client.execute("cont");
    qmp::EventQueue late = client.listen({"RESUME"});
    client.execute("stop");
    client.execute("cont");
    auto resume = late.pop(5s);
    ASSERT_TRUE(resume);
    EXPECT_EQ(resume->name, "RESUME");
    auto again = listener.pop(5s);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->name, "STOP");
}

TEST(QemuListen, ExecuteAndWaitReturnsTheEventTheCommandCauses)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    const qmp::Event stop = client.execute_and_wait("stop", {}, "STOP", 5s);
    EXPECT_EQ(stop.name, "STOP");
    EXPECT_EQ(client.execute("query-status")["status"], "paused");

    // Already paused: stop emits no STOP, so the wait times out.
    const auto started = SteadyClock::now();
    EXPECT_THROW(client.execute_and_wait("stop", {}, "STOP", 300ms), qmp::TimeoutError);
    EXPECT_GE(us_since(started), 300'000);
    EXPECT_LT(ms_since(started), 300 + prompt_ms);

    // A failing command is its ExecuteError.
    EXPECT_THROW(client.execute_and_wait("qom-get",
                     {{"path", "/machine"}, {"property", "no-such-property"}}, "STOP", 5s),
        qmp::ExecuteError);

    const qmp::Event resume = client.execute_and_wait("cont", {}, "RESUME", 5s);
    EXPECT_EQ(resume.name, "RESUME");
    EXPECT_TRUE(resume.timestamp >= stop.timestamp);
    const qmp::Event reset = client.execute_and_wait("system_reset", {}, "RESET", 5s);
    EXPECT_EQ(reset.data.value("reason", ""), "host-qmp-system-reset");
    EXPECT_TRUE(client.is_connected());
}

TEST(QemuListen, WaitForEventTimesOut)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    client.execute("stop"); // a STOP that happened before the call does not count

    auto started = SteadyClock::now();
    EXPECT_THROW(client.wait_for_event("STOP", {}, 300ms), qmp::TimeoutError);
    EXPECT_GE(us_since(started), 300'000);
    EXPECT_LT(ms_since(started), 300 + prompt_ms);

    started = SteadyClock::now();
    EXPECT_THROW(client.wait_for_event(
                     "STOP", [](const qmp::Event&) { return false; }, 200ms),
        qmp::TimeoutError);
    EXPECT_GE(us_since(started), 200'000);
}

// A thread waits with wait_for_event(); another produces RESUMEs (stop, cont) until the waiter's
// predicate has seen one — proof that its listener exists — and then one more, which the
// predicate accepts. Race-free: no event is produced for the waiter before it listens.
TEST(QemuListen, WaitForEventReceivesAnEventCausedByAnotherThread)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();

    std::atomic<int> seen{0};
    std::optional<qmp::Event> received;
    std::thread waiter = spawn_checked("waiter", [&] {
        received = client.wait_for_event(
            "RESUME", [&](const qmp::Event&) { return ++seen >= 2; }, 10s);
    });

    const auto deadline = SteadyClock::now() + 10s;
    int cycles = 0;
    while (seen.load() < 2 && SteadyClock::now() < deadline) {
        client.execute("stop");
        client.execute("cont");
        ++cycles;
    }
    waiter.join();
    ASSERT_TRUE(received);
    EXPECT_EQ(received->name, "RESUME");
    EXPECT_GE(seen.load(), 2);
    EXPECT_GE(cycles, 2);
}

// The connection ends while a thread waits: DisconnectedError, promptly.
TEST(QemuListen, WaitForEventIsWokenByTheEndOfTheConnection)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    std::atomic<pid_t> tid{0};
    std::string outcome;
    SteadyClock::time_point ended;
    std::thread waiter = spawn_checked("waiter", [&] {
        tid = ::gettid();
        try {
            client.wait_for_event("STOP", {}, 30s);
            outcome = "returned";
        } catch (const qmp::DisconnectedError&) {
            outcome = "DisconnectedError";
        } catch (const qmp::TimeoutError&) {
            outcome = "TimeoutError";
        }
        ended = SteadyClock::now();
    });
    std::vector<std::atomic<pid_t>> tids(1);
    while (tid.load() == 0)
        std::this_thread::yield();
    tids[0] = tid.load();
    EXPECT_TRUE(wait_until_all_asleep(tids, 5s));
    // Whether the waiter already listens or not, it must end with DisconnectedError.
    const auto killed = SteadyClock::now();
    vm.kill(SIGKILL);
    waiter.join();
    EXPECT_EQ(outcome, "DisconnectedError");
    EXPECT_LT(ms(ended - killed), prompt_ms);
}

// ---- 6. callbacks ----------------------------------------------------------------------------

TEST(QemuCallbacks, CallbacksRunCanExecuteSurviveThrowingOnesAndCanBeRemoved)
{
    // Declared before the machine: callbacks run until its client is destroyed (the SHUTDOWN
    // of its quit included), so what they touch must outlive it.
    Seen thrower_seen, removed_seen, executor_seen, all_seen;
    std::atomic<std::thread::id> callback_thread{};
    qmp::Machine vm(socket_path_monitor());
    qmp::Client& client = vm.start();
    EXPECT_THROW(client.on_event(nullptr), qmp::UsageError);

    // Registered first, so it runs first for each event: it always throws.
    client.on_event([&](const qmp::Event& e) {
        thrower_seen.add(e.name);
        throw std::runtime_error("a callback that throws");
    });
    const auto removed = client.on_event([&](const qmp::Event& e) { removed_seen.add(e.name); });
    // A callback that calls back into the client: on STOP it asks for the status.
    client.on_event([&](const qmp::Event& e) {
        if (e.name != "STOP")
            return;
        const qmp::json status = client.execute("query-status", {}, 5s);
        executor_seen.add("status:" + status.value("status", std::string("?")));
    });
    client.on_event([&](const qmp::Event& e) {
        callback_thread = std::this_thread::get_id();
        all_seen.add(e.name);
    });

    client.execute("stop");
    EXPECT_TRUE(all_seen.wait_for("STOP", 5s));
    EXPECT_TRUE(executor_seen.wait_for("status:paused", 10s))
        << "the callback's execute() did not complete";
    EXPECT_TRUE(thrower_seen.wait_for("STOP", 0ms));
    EXPECT_TRUE(removed_seen.wait_for("STOP", 0ms));
    EXPECT_NE(callback_thread.load(), std::this_thread::get_id());

    client.remove_callback(removed);
    client.execute("cont");
    EXPECT_TRUE(all_seen.wait_for("RESUME", 5s));
    // Callbacks run in registration order, so had the removed one still been called it would
    // have seen RESUME before the last one did.
    EXPECT_THAT(removed_seen.items(), ElementsAre("STOP"));
    EXPECT_TRUE(thrower_seen.wait_for("RESUME", 0ms));
    client.remove_callback(removed); // again: nothing happens

    // Callbacks stay registered across a reconnect.
    client.disconnect();
    client.connect(vm.socket_path());
    client.execute("stop");
    EXPECT_TRUE(all_seen.wait_for("STOP", 5s, 2));
    EXPECT_TRUE(executor_seen.wait_for("status:paused", 10s, 2));
    EXPECT_THAT(removed_seen.items(), ElementsAre("STOP"));
    EXPECT_TRUE(client.is_connected());
    EXPECT_EQ(client.dropped_replies(), 0u);
}

// A Client of our own on the machine's monitor (the machine's client steps aside: QMP serves one
// client at a time). The machine must have been started with socket_path_monitor().
std::unique_ptr<qmp::Client> own_client(qmp::Machine& vm)
{
    vm.client().disconnect();
    auto client = std::make_unique<qmp::Client>();
    client->connect(vm.socket_path());
    return client;
}

// The Client is destroyed while a callback keeps calling execute() on it: the destructor stops
// the callbacks before it tears down what execute() uses. (The callback would see
// DisconnectedError from then on.)
TEST(QemuCallbacks, DestroyingTheClientWhileACallbackExecutesIsSafe)
{
    qmp::Machine vm(socket_path_monitor());
    vm.start();
    auto client = own_client(vm);
    qmp::Client* raw = client.get();
    Counter entered;
    std::atomic<int> calls{0}, disconnected{0};
    client->on_event([&, raw](const qmp::Event& e) {
        if (e.name != "STOP")
            return;
        entered.arrive();
        for (int i = 0; i < 3000; ++i) {
            try {
                raw->execute("query-status", {}, 5s);
            } catch (const qmp::DisconnectedError&) {
                ++disconnected;
            }
            ++calls;
        }
    });
    client->execute("stop");
    ASSERT_TRUE(entered.wait_for(1, 5s));
    client.reset(); // while the callback runs
    EXPECT_EQ(calls.load(), 3000);
}

// A PendingReply may outlive its Client: get() then reports the end of the connection.
TEST(QemuAsync, PendingReplyOutlivesItsClient)
{
    qmp::Machine vm(socket_path_monitor());
    vm.start();
    auto client = own_client(vm);
    const std::string fifo = vm.directory() + "/own.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
    qmp::PendingReply blocker = client->execute_async(
        "object-add", {{"qom-type", "secret"}, {"id", "s0"}, {"file", fifo}}, exec(30s));
    int writer = -1;
    for (const auto deadline = SteadyClock::now() + 10s;
         writer < 0 && SteadyClock::now() < deadline;) {
        writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (writer < 0)
            std::this_thread::sleep_for(1ms); // a bounded poll for QEMU opening the FIFO
    }
    ASSERT_GE(writer, 0) << "QEMU did not open the FIFO";
    qmp::PendingReply status = client->execute_async("query-status", {}, exec(30s));
    qmp::EventQueue listener = client->listen({"STOP"});

    client.reset();
    EXPECT_THROW(listener.pop(5s), qmp::DisconnectedError); // a listener may outlive it too
    EXPECT_TRUE(status.wait_for(5s));
    EXPECT_THROW(status.get(), qmp::DisconnectedError);
    EXPECT_THROW(blocker.get(), qmp::DisconnectedError);
    EXPECT_EQ(::write(writer, "x", 1), 1);
    ::close(writer);
}

TEST(QemuCallbacks, ACallbackMayRemoveItself)
{
    Seen once_seen, all_seen; // before the machine: see above
    std::atomic<qmp::Client::CallbackId> self{0};
    std::mutex registering;
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    {
        std::lock_guard<std::mutex> lock(registering); // the callback must see its own id
        self = client.on_event([&](const qmp::Event& e) {
            {
                std::lock_guard<std::mutex> wait(registering);
            }
            once_seen.add(e.name);
            client.remove_callback(self.load());
        });
    }
    client.on_event([&](const qmp::Event& e) { all_seen.add(e.name); });

    client.execute("stop");
    client.execute("cont");
    EXPECT_TRUE(all_seen.wait_for("RESUME", 5s));
    EXPECT_THAT(once_seen.items(), ElementsAre("STOP"));
}

// ---- 7. schema -------------------------------------------------------------------------------

TEST(QemuSchema, FetchedOncePerConnectionAndIndexed)
{
    qmp::Machine vm(socket_path_monitor());
    qmp::Client& client = vm.start();

    const auto schema = client.schema();
    ASSERT_TRUE(schema);
    EXPECT_EQ(client.schema().get(), schema.get()) << "fetched twice";

    EXPECT_TRUE(schema->has_command("query-status"));
    EXPECT_TRUE(schema->has_command("qmp_capabilities"));
    EXPECT_FALSE(schema->has_command("query-statsu"));
    EXPECT_FALSE(schema->has_command("STOP"));
    EXPECT_THAT(schema->command_arguments("qom-get"), ElementsAre("path", "property"));
    EXPECT_TRUE(schema->command_arguments("query-status").empty());
    EXPECT_THAT(schema->command_arguments("getfd"), ElementsAre("fdname"));
    EXPECT_THROW(schema->command_arguments("query-statsu"), qmp::UsageError);

    const auto commands = schema->commands();
    EXPECT_TRUE(std::is_sorted(commands.begin(), commands.end()));
    EXPECT_GT(commands.size(), 150u); // 216 on 7.2
    EXPECT_THAT(commands, Contains("blockdev-add"));
    const auto events = schema->events();
    EXPECT_TRUE(std::is_sorted(events.begin(), events.end()));
    EXPECT_GT(events.size(), 30u); // 52 on 7.2
    EXPECT_THAT(events, Contains("STOP"));
    EXPECT_TRUE(schema->has_event("RESUME"));
    EXPECT_FALSE(schema->has_event("query-status"));
    EXPECT_TRUE(schema->raw().is_array());
    // QEMU 7.2 also has query-stats, one deletion away from query-statsu; a transposition is
    // the likelier typo.
    EXPECT_EQ(schema->suggest_command("query-statsu"), "query-status");
    EXPECT_EQ(schema->suggest_command("query-stat"), "query-stats");
    EXPECT_EQ(schema->suggest_command("qom-gte"), "qom-get");
    EXPECT_EQ(schema->suggest_command("completely-different-thing-xyz"), "");

    // A new connection fetches it again.
    client.disconnect();
    client.connect(vm.socket_path());
    const auto refetched = client.schema();
    EXPECT_NE(refetched.get(), schema.get());
    EXPECT_EQ(refetched->commands(), commands);
}

// QEMU's large replies ({"return": ..., "id": "N"}, 207 KB for the schema) are parsed by the
// calling thread, routed by the id at their end. Pipelined with small replies and events, from
// several threads, every call gets its own reply and every event arrives.
TEST(QemuSchema, LargeRepliesPipelinedWithSmallOnesFromSeveralThreadsReachTheirCallers)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    const json expected = client.execute("query-qmp-schema");
    ASSERT_TRUE(expected.is_array());
    ASSERT_GT(expected.dump().size(), 100000u);
    const json types = client.execute("qom-list-types");

    auto lifecycle = client.listen({"STOP", "RESUME"});
    constexpr int threads = 4, rounds = 4;
    std::vector<std::thread> workers;
    std::atomic<int> mismatches{0}, failures{0};
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            try {
                for (int r = 0; r < rounds; ++r) {
                    auto schema = client.execute_async("query-qmp-schema");
                    auto status = client.execute_async("query-status");
                    auto list = client.execute_async("qom-list-types");
                    if (t == 0)
                        client.execute(r % 2 == 0 ? "stop" : "cont");
                    if (schema.get() != expected || list.get() != types ||
                        !status.get().contains("status"))
                        ++mismatches;
                }
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << e.what();
            }
        });
    }
    for (auto& worker : workers)
        worker.join();
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(client.dropped_replies(), 0u);
    for (int i = 0; i < rounds; ++i) {
        const auto event = lifecycle.pop(10s);
        ASSERT_TRUE(event.has_value()) << "event " << i;
        EXPECT_EQ(event->name, i % 2 == 0 ? "STOP" : "RESUME");
    }
    EXPECT_TRUE(client.is_connected());
}

// With check_commands, a misspelt command fails at once with a suggestion, without asking QEMU:
// it fails even while QEMU's main loop is blocked (a round trip would wait).
TEST(QemuSchema, CheckCommandsRejectsUnknownNamesWithASuggestionWithoutARoundTrip)
{
    qmp::MachineOptions options;
    options.client.check_commands = true;
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();

    try {
        client.execute("query-statsu");
        ADD_FAILURE() << "query-statsu did not throw";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.command(), "query-statsu");
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_THAT(e.description(), HasSubstr("did you mean 'query-status'"));
        EXPECT_THAT(e.what(), HasSubstr("query-statsu"));
    }
    EXPECT_EQ(client.execute("query-status")["status"], "running");

    BlockedMainLoop blocked(vm, client);
    ASSERT_TRUE(blocked.block());
    const auto started = SteadyClock::now();
    EXPECT_THROW(client.execute("query-statsu", {}, 30s), qmp::ExecuteError);
    EXPECT_THROW(client.execute_async("quert-status", {}, exec(30s)), qmp::ExecuteError);
    Pipe pipe;
    EXPECT_THROW(client.execute_with_fd("getfdd", {{"fdname", "x"}}, pipe.write, exec(30s)),
        qmp::ExecuteError);
    EXPECT_LT(ms_since(started), prompt_ms);
    try {
        client.execute("no-such-command-at-all-here", {}, 30s);
        ADD_FAILURE() << "an unknown command did not throw";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_THAT(e.description(), ::testing::Not(HasSubstr("did you mean")));
    }
    blocked.release();
    EXPECT_EQ(blocked.join(), "returned");
    EXPECT_EQ(client.dropped_replies(), 0u);
}

// ---- 8. qemu-storage-daemon block jobs -------------------------------------------------------

// A mirror job between two null-co nodes: a listener for JOB_STATUS_CHANGE sees every state in
// order, the listener for nothing else sees none of the BLOCK_JOB_* events.
TEST(QemuStorageDaemon, MirrorJobStatusChangesReachAListener)
{
    qmp::Machine vm(qmp::MachineOptions::storage_daemon());
    qmp::Client& client = vm.start();
    for (const char* node : {"src", "dst"})
        client.execute("blockdev-add",
            {{"driver", "null-co"}, {"node-name", node}, {"size", 1048576}, {"read-zeroes", true}});

    qmp::EventQueue jobs = client.listen({"JOB_STATUS_CHANGE"});
    const auto next_status = [&]() -> std::string {
        auto event = jobs.pop(10s);
        if (!event)
            return "(none within 10 s)";
        EXPECT_EQ(event->name, "JOB_STATUS_CHANGE");
        EXPECT_EQ(event->data.value("id", ""), "j0") << event->raw.dump();
        return event->data.value("status", "?");
    };

    client.execute("blockdev-mirror",
        {{"job-id", "j0"}, {"device", "src"}, {"target", "dst"}, {"sync", "full"}});
    EXPECT_EQ(next_status(), "created");
    EXPECT_EQ(next_status(), "running");
    EXPECT_EQ(next_status(), "ready");

    const qmp::Event completed =
        client.execute_and_wait("job-complete", {{"id", "j0"}}, "BLOCK_JOB_COMPLETED", 10s);
    EXPECT_EQ(completed.data.value("device", ""), "j0") << completed.raw.dump();
    EXPECT_FALSE(completed.data.contains("error")) << completed.raw.dump();

    std::vector<std::string> rest;
    for (;;) {
        const std::string status = next_status();
        rest.push_back(status);
        if (status == "null" || status.front() == '(' || rest.size() > 10)
            break;
    }
    EXPECT_THAT(rest, ElementsAre("waiting", "pending", "concluded", "null"));
    EXPECT_FALSE(jobs.try_pop());
    EXPECT_TRUE(client.execute("query-jobs").empty());
}

} // namespace

// Secrets reach QEMU but not the log: object-add of a secret, and the same through HMP, with the
// client's logger at trace (redacted) and at debug (no arguments at all).
TEST(QemuSecrets, SecretObjectsAreCreatedAndTheirDataNeverLogged)
{
    const std::string secret = "s3cr3t-value-never-logged";
    for (const auto level : {spdlog::level::trace, spdlog::level::debug}) {
        std::ostringstream log_text;
        auto logger = std::make_shared<spdlog::logger>(
            "secrets", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text));
        logger->set_level(level);
        qmp::MachineOptions options;
        options.client.logger = logger;
        qmp::Machine vm(options);
        qmp::Client& client = vm.start();

        client.execute("object-add", {{"qom-type", "secret"}, {"id", "sec0"}, {"data", secret}});
        client.execute("human-monitor-command",
            {{"command-line", "object_add secret,id=sec1,data=" + secret}});
        // Both objects exist, so QEMU got well-formed values; a secret is loaded once its data
        // was read.
        const json objects = client.execute("qom-list", {{"path", "/objects"}});
        std::vector<std::string> names;
        for (const auto& property : objects)
            names.push_back(property["name"].get<std::string>());
        EXPECT_THAT(names, IsSupersetOf({"sec0", "sec1"}));
        EXPECT_EQ(
            client.execute("qom-get", {{"path", "/objects/sec0"}, {"property", "loaded"}}), true);
        vm.shutdown();
        logger->flush();

        const std::string log = log_text.str();
        EXPECT_EQ(log.find(secret), std::string::npos) << log;
        if (level == spdlog::level::trace) {
            EXPECT_NE(log.find(R"("data":"<redacted>")"), std::string::npos) << log;
            EXPECT_NE(log.find(R"("command-line":"object_add <redacted>")"), std::string::npos)
                << log;
        } else {
            EXPECT_EQ(log.find("object-add"), std::string::npos) << log;
        }
    }
}
