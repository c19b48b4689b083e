// SPDX-License-Identifier: MIT
// Asynchronous and raw execution, OOB flow control, listeners, callbacks and introspection,
// against qmp::testing::FakeQemu where rules can say it, the scripted fake server elsewhere.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include <poll.h>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;
using qmp::testing::FakeQemu;

namespace {

// A tiny query-qmp-schema reply.
json small_schema()
{
    return json::array({
        {{"name", "query-status"}, {"meta-type", "command"}, {"arg-type", "0"}, {"ret-type", "1"}},
        {{"name", "qom-get"}, {"meta-type", "command"}, {"arg-type", "2"}, {"ret-type", "any"}},
        {{"name", "query-qmp-schema"}, {"meta-type", "command"}, {"arg-type", "0"}},
        {{"name", "STOP"}, {"meta-type", "event"}, {"arg-type", "0"}},
        {{"name", "0"}, {"meta-type", "object"}, {"members", json::array()}},
        {{"name", "2"}, {"meta-type", "object"},
            {"members",
                json::array({{{"name", "path"}, {"type", "str"}},
                    {{"name", "property"}, {"type", "str"}}})}},
    });
}

} // namespace

TEST(ClientAsync, ManyCallsInFlightFromOneThread)
{
    constexpr int calls = 50;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake(json::array()); // no OOB: no in-flight limit
        std::vector<json> commands;
        for (int i = 0; i < calls; ++i)
            commands.push_back(peer.read_message());
        for (auto it = commands.rbegin(); it != commands.rend(); ++it) // answer in reverse
            peer.reply(*it, (*it)["arguments"]);
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    std::vector<qmp::PendingReply> pending;
    for (int i = 0; i < calls; ++i)
        pending.push_back(client.execute_async("echo", {{"n", i}}));
    for (int i = 0; i < calls; ++i)
        EXPECT_EQ(pending[i].get()["n"], i);
    EXPECT_EQ(client.dropped_replies(), 0u);
}

TEST(ClientAsync, GetThrowsLikeExecute)
{
    FakeQemu fake;
    fake.on("fail").error("GenericError", "no");
    qmp::Client client(quick_options());
    client.connect(fake.address());
    auto reply = client.execute_async("fail");
    EXPECT_TRUE(reply.wait_for(5s));
    EXPECT_TRUE(reply.ready());
    EXPECT_THROW(reply.get(), qmp::ExecuteError);
    EXPECT_THROW(reply.get(), qmp::UsageError); // collected already
}

TEST(ClientAsync, CancelledCallsLateReplyIsDroppedQuietly)
{
    std::promise<void> cancelled;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json first = peer.read_message();
        cancelled.get_future().wait();
        peer.reply(first, {{"late", true}});
        peer.answer({{"second", true}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    {
        auto abandoned = client.execute_async("slow"); // destroyed without get(): cancelled
    }
    cancelled.set_value();
    EXPECT_EQ(client.execute("next")["second"], true);
    EXPECT_EQ(client.dropped_replies(), 0u); // quiet: cancelled on purpose
}

TEST(ClientAsync, TimeoutCountsFromSending)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.read_message();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::ExecOptions exec;
    exec.timeout = 100ms;
    auto reply = client.execute_async("never", {}, exec);
    EXPECT_THROW(reply.get(), qmp::TimeoutError);
}

TEST(ClientRaw, ReturnsTheWholeReplyAndKeepsTheCallersId)
{
    json seen;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        seen = peer.read_message();
        peer.send_message(
            {{"id", seen["id"]}, {"error", {{"class", "GenericError"}, {"desc", "x"}}}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const json reply =
        client.execute_raw({{"execute", "foo"}, {"arguments", {{"a", 1}}}, {"id", "mine"}});
    EXPECT_EQ(reply["id"], "mine");
    EXPECT_EQ(reply["error"]["class"], "GenericError"); // returned, not thrown
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    EXPECT_EQ(seen["arguments"]["a"], 1);
}

TEST(ClientRaw, RejectsBadMessages)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_THROW(client.execute_raw({{"execute", "x"}, {"id", 5}}), qmp::UsageError);
    EXPECT_THROW(client.execute_raw({{"nothing", "x"}}), qmp::UsageError);
    EXPECT_THROW(client.execute_raw(json::array()), qmp::UsageError);
}

TEST(ClientRaw, IdClashingWithACallInFlightIsRejected)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json first = peer.read_message();
        peer.wait_for_close(); // the clashing message never comes: caught before sending
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    auto first = client.execute_async("slow");
    // Ids are decimal counters: the negotiation took "1", so this call is "2".
    EXPECT_THROW(client.execute_raw({{"execute", "x"}, {"id", "2"}}), qmp::UsageError);
    first.cancel();
    client.disconnect();
}

TEST(ClientOob, RefusedWhenNotNegotiated)
{
    FakeQemu fake;
    fake.set_greeting_message(FakeQemu::qemu_7_2_greeting(json::array()));
    qmp::Client client(quick_options());
    client.connect(fake.address());
    qmp::ExecOptions exec;
    exec.oob = true;
    EXPECT_THROW(client.execute("yank", {}, exec), qmp::UsageError);
    EXPECT_TRUE(fake.received("yank").empty()) << "refused before anything was sent";
}

TEST(ClientOob, AtMostEightInBandInFlightAndOobOvertakes)
{
    std::promise<int> first_batch;
    std::promise<json> oob_seen;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        std::vector<json> in_band;
        // The client sends 8 in-band commands, holds the other 12 back, then sends exec-oob.
        json message;
        while (!(message = peer.read_message()).contains("exec-oob"))
            in_band.push_back(message);
        first_batch.set_value(static_cast<int>(in_band.size()));
        oob_seen.set_value(message);
        peer.reply(message, {{"oob", true}});
        // Drain: answering each in-band command lets the client send the next.
        for (std::size_t answered = 0; answered < 20; ++answered) {
            peer.reply(in_band[answered], {{"n", in_band[answered]["arguments"]["n"]}});
            if (in_band.size() < 20)
                in_band.push_back(peer.read_message());
        }
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    ASSERT_TRUE(client.greeting().oob_enabled);
    std::vector<std::future<qmp::PendingReply>> senders;
    std::vector<qmp::PendingReply> replies;
    // execute_async waits for room beyond 8, so the extra ones are started on other threads.
    for (int i = 0; i < 8; ++i)
        replies.push_back(client.execute_async("slow", {{"n", i}}));
    for (int i = 8; i < 20; ++i)
        senders.push_back(std::async(std::launch::async, [&client, i] {
            return client.execute_async("slow", {{"n", i}});
        }));
    qmp::ExecOptions oob;
    oob.oob = true;
    EXPECT_EQ(client.execute("query-yank", {}, oob)["oob"], true);
    EXPECT_EQ(first_batch.get_future().get(), 8);
    EXPECT_EQ(oob_seen.get_future().get()["exec-oob"], "query-yank");
    for (auto& sender : senders)
        replies.push_back(sender.get());
    std::set<int> seen;
    for (auto& reply : replies)
        seen.insert(reply.get()["n"].get<int>());
    EXPECT_EQ(seen.size(), 20u);
}

TEST(ClientListeners, SelectedEventsOnlyFromCreationOn)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.send_event("RESET");
        peer.answer(); // sync: the listener below is created after RESET arrived
        peer.read_message();
        peer.send_event("STOP");
        peer.send_event("RTC_CHANGE");
        peer.send_event("RESUME");
        peer.answer();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    client.execute("sync");
    auto listener = client.listen({"STOP", "RESUME"});
    auto predicate = client.listen([](const qmp::Event& e) { return e.name.rfind("RTC", 0) == 0; });
    client.execute_async("go").cancel();
    client.execute("sync");
    EXPECT_EQ(listener.pop(5s)->name, "STOP");
    EXPECT_EQ(listener.pop(5s)->name, "RESUME");
    EXPECT_FALSE(listener.try_pop());
    EXPECT_EQ(predicate.pop(5s)->name, "RTC_CHANGE");
    EXPECT_EQ(client.events().size(), 4u); // the default queue sees everything
}

TEST(ClientListeners, ExecuteAndWaitReturnsTheEventTheCommandCauses)
{
    FakeQemu fake;
    fake.on("stop").emit("STOP").reply(); // the event before the reply, as QEMU does
    fake.on("noop").reply();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    EXPECT_EQ(client.execute_and_wait("stop", {}, "STOP", 5s).name, "STOP");
    EXPECT_THROW(client.execute_and_wait("noop", {}, "RESUME", 100ms), qmp::TimeoutError);
}

TEST(ClientListeners, APredicateThatCallsTheClientTimesOutAndNothingHangs)
{
    // Against the rules: a predicate runs on the thread reading the connection (here the one in
    // execute("stop"), or the reader thread), so a command it runs cannot get its reply read
    // until it returns. It must time out, not hang or crash, and the client must stay usable.
    FakeQemu fake;
    fake.on("stop").emit("STOP").reply(); // the event before the reply, as QEMU does
    fake.on("query-status").reply(json{{"status", "paused"}});
    qmp::Client client(quick_options());
    client.connect(fake.address());
    std::atomic<bool> timed_out{false};
    auto stops = client.listen([&](const qmp::Event& e) {
        if (e.name == "STOP") {
            try {
                client.execute("query-status", json(), 100ms);
            } catch (const qmp::TimeoutError&) {
                timed_out = true;
            }
        }
        return e.name == "STOP";
    });
    EXPECT_EQ(client.execute("stop"), json::object());
    EXPECT_TRUE(timed_out);
    EXPECT_EQ(stops.pop(5s)->name, "STOP");
    EXPECT_EQ(client.execute("query-status"), (json{{"status", "paused"}}));
    EXPECT_EQ(client.dropped_replies(), 1u); // the late reply to the predicate's query-status
}

TEST(ClientListeners, ACallerReturnsWithItsReplyWhileEventsKeepFlooding)
{
    // The peer answers, then writes events as fast as the socket takes them until the client's
    // next command arrives. The thread in execute() reads the reply itself; it must return with
    // it, not keep reading the flood (which would also let the unread queue overflow).
    std::string burst;
    for (int i = 0; i < 400; ++i)
        burst +=
            R"({"event":"RTC_CHANGE","data":{"offset":1},"timestamp":{"seconds":1,"microseconds":2}})"
            "\r\n";
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        // The reply and the first events in one write: the client's first read is full.
        const json first = peer.read_message();
        peer.send(json{{"return", json::object()}, {"id", first.at("id")}}.dump() + "\r\n" + burst);
        const auto start = std::chrono::steady_clock::now();
        pollfd next{peer.fd(), POLLIN, 0};
        while (::poll(&next, 1, 0) == 0 && std::chrono::steady_clock::now() - start < 20s)
            peer.send(burst);
        peer.answer(); // "second"
        peer.wait_for_close(20s);
    });
    qmp::Client client(quick_options(30s));
    client.connect(server.address());
    const auto start = std::chrono::steady_clock::now();
    client.execute("first");
    const auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start)
                             .count();
    EXPECT_LT(took_ms, 5000) << "execute() kept reading the events behind its reply";
    EXPECT_EQ(client.execute("second"), json::object());
}

TEST(ClientListeners, ListenerEndsWithTheConnection)
{
    FakeQemu fake;
    fake.on("sync").reply().emit("STOP").hang_up();
    qmp::Client client(quick_options());
    client.connect(fake.address());
    auto listener = client.listen(std::vector<std::string>{});
    client.execute("sync");
    EXPECT_EQ(listener.pop().name, "STOP");
    EXPECT_THROW(listener.pop(), qmp::DisconnectedError);
}

TEST(ClientCallbacks, RunOnTheirOwnThreadAndMayExecute)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.answer(); // sync after registering
        peer.send_event("STOP");
        peer.answer({{"from", "callback"}});
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    std::promise<json> result;
    std::atomic<int> thrown{0};
    client.on_event([&](const qmp::Event&) {
        ++thrown;
        throw std::runtime_error("a failing callback");
    });
    client.on_event([&](const qmp::Event& e) {
        if (e.name == "STOP")
            result.set_value(client.execute("query-status")); // no deadlock: not the reader
    });
    client.execute("sync");
    auto future = result.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(future.get()["from"], "callback");
    EXPECT_EQ(thrown, 1);
}

TEST(ClientCallbacks, RemovedCallbackIsNotCalledAgain)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.send_event("A");
        peer.answer();
        peer.read_message();
        peer.send_event("B");
        peer.answer();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    std::atomic<int> calls{0};
    std::promise<void> first;
    const auto id = client.on_event([&](const qmp::Event& e) {
        if (++calls == 1 && e.name == "A")
            first.set_value();
    });
    client.connect(server.address());
    client.execute("sync");
    first.get_future().wait();
    client.remove_callback(id);
    client.execute_async("go").cancel();
    client.execute("sync");
    EXPECT_EQ(client.events().pop(5s)->name, "A");
    EXPECT_EQ(client.events().pop(5s)->name, "B"); // B arrived...
    EXPECT_EQ(calls, 1); // ...but reached no removed callback
}

TEST(ClientCallbacks, RemoveWaitsForTheRunningCallbackWithoutHoldingALock)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        peer.send_event("A");
        peer.answer();
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    std::promise<void> entered, gate;
    auto gate_opened = gate.get_future().share();
    const auto id = client.on_event([&](const qmp::Event&) {
        entered.set_value();
        gate_opened.wait();
    });
    client.connect(server.address());
    client.execute("sync");
    ASSERT_EQ(entered.get_future().wait_for(5s), std::future_status::ready);
    // Adding a callback while one runs does not wait; removing one waits for the dispatch.
    const auto other = client.on_event([](const qmp::Event&) {});
    auto removing = std::async(std::launch::async, [&] { client.remove_callback(id); });
    EXPECT_EQ(removing.wait_for(200ms), std::future_status::timeout)
        << "remove_callback() returned while its callback was still running";
    gate.set_value();
    EXPECT_EQ(removing.wait_for(5s), std::future_status::ready);
    client.remove_callback(other);
}

TEST(ClientSchema, FetchedOnceAndIndexed)
{
    FakeQemu fake;
    fake.use_schema(small_schema()); // and answers query-qmp-schema with it
    qmp::Client client(quick_options());
    client.connect(fake.address());
    const auto schema = client.schema();
    EXPECT_EQ(client.schema(), schema);
    EXPECT_EQ(fake.received("query-qmp-schema").size(), 1u);
    EXPECT_TRUE(schema->has_command("query-status"));
    EXPECT_FALSE(schema->has_command("STOP"));
    EXPECT_TRUE(schema->has_event("STOP"));
    EXPECT_EQ(schema->command_arguments("qom-get"), (std::vector<std::string>{"path", "property"}));
    EXPECT_TRUE(schema->command_arguments("query-status").empty());
    EXPECT_THROW(schema->command_arguments("nope"), qmp::UsageError);
    EXPECT_EQ(schema->suggest_command("query-statsu"), "query-status");
    EXPECT_EQ(schema->suggest_command("completely-different"), "");
}

TEST(ClientSchema, CheckCommandsFailsUnknownNamesWithoutARoundTrip)
{
    FakeQemu fake;
    fake.use_schema(small_schema());
    fake.on("query-status").reply({{"status", "running"}});
    auto options = quick_options();
    options.check_commands = true;
    qmp::Client client(options);
    client.connect(fake.address());
    try {
        client.execute("query-statsu");
        FAIL();
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_NE(e.description().find("did you mean 'query-status'?"), std::string::npos)
            << e.description();
    }
    EXPECT_EQ(client.execute("query-status")["status"], "running");
    EXPECT_TRUE(fake.received("query-statsu").empty()) << "no round trip";
    EXPECT_EQ(fake.received("query-qmp-schema").size(), 1u);
}
