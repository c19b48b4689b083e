// SPDX-License-Identifier: MIT
// Events matched by name and data (qmp::EventMatch), the waits and listeners that take matches,
// Event::sequence, and ClientOptions::command_timeouts, against the scripted fake server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <qmp/qmp.hpp>

#include "call_outcome.hpp"
#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::EventMatch;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::finish;
using qmp::test::ms_since;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;
using qmp::test::slack;
using qmp::test::start;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

namespace {

qmp::Event event(const std::string& name, const json& data = nullptr)
{
    qmp::Event e;
    e.name = name;
    e.data = data;
    return e;
}

// Answers every command; for "trigger" it first sends the events in its "events" argument
// (each [name, data]), as QEMU sends the events a command causes before its reply.
void trigger_server(FakeConnection& peer)
{
    peer.handshake();
    for (;;) {
        json command;
        try {
            command = peer.read_message(10s);
        } catch (const std::exception&) {
            return; // the client left
        }
        if (command.value("execute", "") == "trigger")
            for (const json& e : command["arguments"]["events"])
                peer.send_event(e[0].get<std::string>(), e[1]);
        peer.reply(command);
    }
}

json trigger(const std::vector<std::pair<std::string, json>>& events)
{
    json list = json::array();
    for (const auto& [name, data] : events)
        list.push_back(json::array({name, data}));
    return {{"events", list}};
}

} // namespace

// ---- EventMatch alone ------------------------------------------------------------------------

TEST(EventMatch, ABareNameMatchesEveryEventOfThatNameWithOrWithoutData)
{
    const EventMatch stop{"STOP"};
    EXPECT_TRUE(stop.matches(event("STOP")));
    EXPECT_TRUE(stop.matches(event("STOP", {{"reason", "x"}})));
    EXPECT_FALSE(stop.matches(event("RESUME")));
    EXPECT_FALSE(stop.matches(event("STOPPED")));
    EXPECT_TRUE(stop.data().is_object() && stop.data().empty());
    EXPECT_TRUE(EventMatch("STOP", nullptr).matches(event("STOP")));
}

TEST(EventMatch, DataMembersMustBeThereAndEqualOthersAreIgnored)
{
    const EventMatch completed{"MIGRATION", {{"status", "completed"}}};
    EXPECT_TRUE(completed.matches(event("MIGRATION", {{"status", "completed"}})));
    EXPECT_TRUE(completed.matches(event("MIGRATION", {{"status", "completed"}, {"extra", 1}})));
    EXPECT_FALSE(completed.matches(event("MIGRATION", {{"status", "active"}})));
    EXPECT_FALSE(completed.matches(event("MIGRATION", {{"state", "completed"}})));
    EXPECT_FALSE(completed.matches(event("MIGRATION")));
    EXPECT_FALSE(completed.matches(event("MIGRATION", json::array({"completed"}))));
    EXPECT_FALSE(completed.matches(event("MIGRATION_PASS", {{"status", "completed"}})));
}

TEST(EventMatch, NestedObjectsAreMatchedMemberByMember)
{
    const EventMatch match{"X", {{"a", {{"b", {{"c", 1}}}}}}};
    EXPECT_TRUE(match.matches(event("X", {{"a", {{"b", {{"c", 1}, {"d", 2}}}, {"e", 3}}}})));
    EXPECT_FALSE(match.matches(event("X", {{"a", {{"b", {{"c", 2}}}}}})));
    EXPECT_FALSE(match.matches(event("X", {{"a", {{"b", 1}}}})));
    EXPECT_FALSE(match.matches(event("X", {{"a", {{"c", 1}}}})));
    // An empty nested object asks for an object, whatever it holds.
    const EventMatch any_object{"X", {{"a", json::object()}}};
    EXPECT_TRUE(any_object.matches(event("X", {{"a", {{"z", 0}}}})));
    EXPECT_FALSE(any_object.matches(event("X", {{"a", 0}})));
}

TEST(EventMatch, ArraysAndScalarsMustBeEqualAsAWhole)
{
    const EventMatch array{"X", {{"list", {1, 2}}}};
    EXPECT_TRUE(array.matches(event("X", {{"list", {1, 2}}})));
    EXPECT_FALSE(array.matches(event("X", {{"list", {1, 2, 3}}})));
    EXPECT_FALSE(array.matches(event("X", {{"list", {2, 1}}})));
    EXPECT_TRUE(EventMatch("X", {{"n", 1}}).matches(event("X", {{"n", 1.0}})));
    EXPECT_TRUE(EventMatch("X", {{"n", 1u}}).matches(event("X", {{"n", 1}})));
    EXPECT_FALSE(EventMatch("X", {{"n", 1}}).matches(event("X", {{"n", "1"}})));
    EXPECT_FALSE(EventMatch("X", {{"b", true}}).matches(event("X", {{"b", 1}})));
    EXPECT_TRUE(EventMatch("X", {{"v", nullptr}}).matches(event("X", {{"v", nullptr}})));
    EXPECT_FALSE(EventMatch("X", {{"v", nullptr}}).matches(event("X", {{"w", 1}})));
}

TEST(EventMatch, AnEmptyNameOrDataThatIsNotAnObjectIsAUsageError)
{
    EXPECT_THROW(EventMatch(""), qmp::UsageError);
    try {
        EventMatch("STOP", json::array({1}));
        FAIL() << "no UsageError";
    } catch (const qmp::UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("must be a JSON object"));
    }
    EXPECT_THROW(EventMatch("STOP", "running"), qmp::UsageError);
}

TEST(EventMatch, ToStringNamesTheEventAndItsData)
{
    EXPECT_EQ(EventMatch("STOP").to_string(), "STOP");
    EXPECT_EQ(EventMatch("MIGRATION", {{"status", "completed"}}).to_string(),
        R"(MIGRATION {"status":"completed"})");
}

// ---- with a client ---------------------------------------------------------------------------

TEST(ClientEventMatch, ExecuteAndWaitSkipsEventsWhoseDataDiffersAndCatchesOneBeforeTheReply)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    const qmp::Event e = client.execute_and_wait("trigger",
        trigger({{"MIGRATION", {{"status", "setup"}}}, {"STOP", nullptr},
            {"MIGRATION", {{"status", "completed"}, {"n", 1}}},
            {"MIGRATION", {{"status", "completed"}, {"n", 2}}}}),
        EventMatch{"MIGRATION", {{"status", "completed"}}}, 5s);
    EXPECT_EQ(e.data["n"], 1); // the first match, sent before the reply
}

TEST(ClientEventMatch, AnEventReceivedBeforeTheCallNeverSatisfiesIt)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.send_event("DEVICE_DELETED", {{"device", "net0"}, {"n", 1}});
        const json sync = peer.read_message();
        peer.reply(sync); // the event is received before this reply
        const json go = peer.read_message();
        peer.send_event("DEVICE_DELETED", {{"device", "net0"}, {"n", 2}});
        peer.reply(go);
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    client.execute("sync");
    const EventMatch deleted{"DEVICE_DELETED", {{"device", "net0"}}};
    EXPECT_THROW(client.wait_for_event(deleted, 100ms), qmp::TimeoutError);
    auto listener = client.listen(deleted);
    EXPECT_FALSE(listener.try_pop());
    const qmp::Event second = client.execute_and_wait("go", {}, deleted, 5s);
    EXPECT_EQ(second.data["n"], 2);
    EXPECT_EQ(listener.pop(5s)->data["n"], 2);
    const auto first = client.events().pop(5s);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->data["n"], 1);
    EXPECT_LT(first->sequence, second.sequence);
}

TEST(ClientEventMatch, TheFirstEventMatchingAnyOfSeveralWins)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    const std::vector<EventMatch> either = {
        EventMatch{"GUEST_PANICKED"}, EventMatch{"GUEST_CRASHLOADED"}};
    const qmp::Event crashed = client.execute_and_wait("trigger",
        trigger({{"STOP", nullptr}, {"GUEST_CRASHLOADED", {{"action", "run"}}},
            {"GUEST_PANICKED", {{"action", "pause"}}}}),
        either, 5s);
    EXPECT_EQ(crashed.name, "GUEST_CRASHLOADED");
    const qmp::Event panicked =
        client.execute_and_wait("trigger", trigger({{"GUEST_PANICKED", {{"action", "pause"}}}}),
            {EventMatch{"GUEST_PANICKED"}, EventMatch{"GUEST_CRASHLOADED"}}, 5s);
    EXPECT_EQ(panicked.name, "GUEST_PANICKED");
    EXPECT_GT(panicked.sequence, crashed.sequence);
}

// wait_for_event() with several matches on one thread, while another thread keeps causing
// events (only the waiter knows when its listener exists).
TEST(ClientEventMatch, WaitForEventWithSeveralMatchesTakesTheFirstOneAfterTheCall)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    std::atomic<bool> done{false};
    qmp::Event received;
    std::string failure;
    std::thread waiter([&] {
        try {
            received = client.wait_for_event(
                {EventMatch{"SHUTDOWN", {{"guest", true}}}, EventMatch{"GUEST_PANICKED"}}, 10s);
        } catch (const std::exception& e) {
            failure = e.what();
        }
        done = true;
    });
    const auto begin = Clock::now();
    while (!done && ms_since(begin) < 10000)
        client.execute("trigger",
            trigger({{"SHUTDOWN", {{"guest", false}}}, {"STOP", nullptr},
                {"SHUTDOWN", {{"guest", true}, {"reason", "guest-shutdown"}}}}));
    waiter.join();
    EXPECT_EQ(failure, "");
    EXPECT_EQ(received.name, "SHUTDOWN");
    EXPECT_EQ(received.data["reason"], "guest-shutdown");
}

TEST(ClientEventMatch, SilenceIsATimeoutErrorNamingWhatWasAwaited)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    const auto begin = Clock::now();
    try {
        client.wait_for_event(
            {EventMatch{"MIGRATION", {{"status", "completed"}}}, EventMatch{"STOP"}}, 200ms);
        FAIL() << "no TimeoutError";
    } catch (const qmp::TimeoutError& e) {
        EXPECT_THAT(e.what(), HasSubstr(R"(MIGRATION {"status":"completed"} or STOP)"));
        EXPECT_THAT(e.what(), HasSubstr("200 ms"));
    }
    EXPECT_GE(ms_since(begin), 200);
    EXPECT_LT(ms_since(begin), slack(2000));
    // The command succeeds, the event does not follow.
    try {
        client.execute_and_wait("trigger", trigger({{"MIGRATION", {{"status", "failed"}}}}),
            EventMatch{"MIGRATION", {{"status", "completed"}}}, 200ms);
        FAIL() << "no TimeoutError";
    } catch (const qmp::TimeoutError& e) {
        EXPECT_THAT(e.what(), HasSubstr("'trigger' succeeded but no MIGRATION"));
    }
    EXPECT_TRUE(client.is_connected());
}

TEST(ClientEventMatch, AHangUpWakesAWaiterWithDisconnectedError)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json bye = peer.read_message();
        peer.send_event("MIGRATION", {{"status", "active"}});
        peer.reply(bye);
        peer.hang_up();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const auto begin = Clock::now();
    EXPECT_THROW(
        client.execute_and_wait("bye", {}, EventMatch{"MIGRATION", {{"status", "completed"}}}, 30s),
        qmp::DisconnectedError);
    EXPECT_LT(ms_since(begin), slack(2000));
    EXPECT_THROW(client.wait_for_event(EventMatch{"STOP"}, 30s), qmp::DisconnectedError);
    EXPECT_LT(ms_since(begin), slack(2000));
}

TEST(ClientEventMatch, DisconnectFromAnotherThreadWakesAWaiter)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    auto waiter = start([&] {
        client.wait_for_event({EventMatch{"A"}, EventMatch{"B"}}, 30s);
        return json();
    });
    const auto begin = Clock::now();
    client.execute("sync");
    client.disconnect();
    EXPECT_EQ(finish(waiter, 40s).kind, "DisconnectedError");
    EXPECT_LT(ms_since(begin), slack(2000));
}

TEST(ClientEventMatch, AFailedCommandIsAnExecuteErrorAndNoMatchesAUsageError)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        peer.send_message({{"id", command["id"]},
            {"error", {{"class", "GenericError"}, {"desc", "no migration"}}}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_THROW(client.execute_and_wait("migrate", {{"uri", "x"}}, EventMatch{"MIGRATION"}, 5s),
        qmp::ExecuteError);
    EXPECT_THROW(client.wait_for_event(std::vector<EventMatch>{}, 5s), qmp::UsageError);
    EXPECT_THROW(client.execute_and_wait("x", {}, std::vector<EventMatch>{}, 5s), qmp::UsageError);
}

TEST(ClientEventMatch, AListenerTakesOnlyMatchingEventsAndNamesStillWork)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    auto ready = client.listen(EventMatch{"BLOCK_JOB_READY", {{"device", "m0"}}});
    auto by_name = client.listen({"BLOCK_JOB_READY"});
    client.execute("trigger",
        trigger({{"BLOCK_JOB_READY", {{"device", "m1"}}}, {"BLOCK_JOB_READY", {{"device", "m0"}}},
            {"JOB_STATUS_CHANGE", {{"id", "m0"}, {"status", "ready"}}}}));
    const auto mine = ready.pop(5s);
    ASSERT_TRUE(mine);
    EXPECT_EQ(mine->data["device"], "m0");
    EXPECT_FALSE(ready.try_pop());
    EXPECT_EQ(by_name.size(), 2u);
    // The name-only and predicate overloads keep working.
    EXPECT_EQ(
        client.execute_and_wait("trigger", trigger({{"STOP", nullptr}}), "STOP", 5s).name, "STOP");
}

// ---- Event::sequence -------------------------------------------------------------------------

TEST(EventSequence, NumbersIncreaseByOneAreSharedByAllQueuesAndContinueAcrossReconnects)
{
    ScriptedQemu server(trigger_server);
    qmp::Client client(quick_options());
    client.connect(server.address());
    auto stops = client.listen({"STOP"});
    client.execute("trigger", trigger({{"STOP", nullptr}, {"RESUME", nullptr}, {"STOP", nullptr}}));
    std::vector<std::uint64_t> all;
    while (auto e = client.events().try_pop())
        all.push_back(e->sequence);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_GT(all[0], 0u);
    EXPECT_EQ(all[1], all[0] + 1);
    EXPECT_EQ(all[2], all[0] + 2);
    EXPECT_EQ(stops.pop(5s)->sequence, all[0]);
    EXPECT_EQ(stops.pop(5s)->sequence, all[2]);

    client.disconnect();
    client.connect(server.address());
    client.execute("trigger", trigger({{"RESUME", nullptr}}));
    const auto after = client.events().pop(5s);
    ASSERT_TRUE(after);
    EXPECT_EQ(after->sequence, all[2] + 1);
}

// ---- ClientOptions::command_timeouts ---------------------------------------------------------

// Answers everything except "slow", whose reply comes only after the next command.
void slow_server(FakeConnection& peer)
{
    peer.handshake();
    std::vector<json> held;
    for (;;) {
        json command;
        try {
            command = peer.read_message(10s);
        } catch (const std::exception&) {
            return;
        }
        if (command.value("execute", "") == "slow") {
            held.push_back(command);
            continue;
        }
        for (const json& late : held)
            peer.reply(late);
        held.clear();
        peer.reply(command);
    }
}

TEST(CommandTimeouts, ACommandsOwnDefaultBoundsItAndTheMessageSaysHowToKeepWaiting)
{
    ScriptedQemu server(slow_server);
    auto options = quick_options(30s);
    options.command_timeouts["slow"] = 200ms;
    qmp::Client client(options);
    client.connect(server.address());
    const auto begin = Clock::now();
    try {
        client.execute("slow");
        FAIL() << "no TimeoutError";
    } catch (const qmp::TimeoutError& e) {
        EXPECT_THAT(e.what(), HasSubstr("'slow'"));
        EXPECT_THAT(e.what(), HasSubstr("200 ms"));
        EXPECT_THAT(e.what(), HasSubstr("may still complete"));
        EXPECT_THAT(e.what(), HasSubstr("late reply will be dropped and counted"));
        EXPECT_THAT(e.what(), HasSubstr("execute_async() and PendingReply::wait_for()"));
    }
    EXPECT_GE(ms_since(begin), 200);
    EXPECT_LT(ms_since(begin), slack(5000));
    client.execute("sync"); // brings the late reply, which is dropped
    EXPECT_EQ(client.dropped_replies(), 1u);
    // Through execute_async() too.
    auto pending = client.execute_async("slow");
    EXPECT_THROW(pending.get(), qmp::TimeoutError);
}

TEST(CommandTimeouts, APerCallTimeoutWinsAndOtherCommandsKeepTheGeneralDefault)
{
    ScriptedQemu server(slow_server);
    auto options = quick_options(200ms);
    options.command_timeouts["slow"] = 30s;
    qmp::Client client(options);
    client.connect(server.address());
    const auto begin = Clock::now();
    EXPECT_THROW(client.execute("slow", {}, 200ms), qmp::TimeoutError);
    EXPECT_LT(ms_since(begin), slack(5000));
    // Under the 200 ms general default, with its 30 s: answered by the next command.
    auto pending = client.execute_async("slow");
    EXPECT_FALSE(pending.wait_for(300ms));
    client.execute("sync");
    EXPECT_NO_THROW(pending.get());
}

TEST(CommandTimeouts, ANonPositiveValueIsAUsageError)
{
    auto options = quick_options();
    options.command_timeouts["blockdev-add"] = 0ms;
    try {
        qmp::Client client(options);
        FAIL() << "no UsageError";
    } catch (const qmp::UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("command_timeouts[\"blockdev-add\"]"));
    }
}
