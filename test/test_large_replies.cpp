// SPDX-License-Identifier: MIT
// Large replies in the shape QEMU writes them ({"return": ..., "id": ...}, id last, spread over
// many reads): each reply reaches its own caller, events sent before it are queued before the
// caller wakes, late and cancelled replies are dropped, and a malformed one is a ProtocolError
// that ends the session and wakes everyone else. Against the scripted fake server; no sleeps
// order anything.
#include <gtest/gtest.h>

#include <future>
#include <string>

#include <qmp/qmp.hpp>

#include "call_outcome.hpp"
#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::test::contains;
using qmp::test::FakeConnection;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;

namespace {

// A value whose reply takes several reads, different for each \p tag.
json large_value(const std::string& tag)
{
    json items = json::array();
    for (int i = 0; i < 400; ++i)
        items.push_back({{"name", tag + "-" + std::to_string(i)}, {"meta-type", "command"}});
    return items;
}

// The reply as QEMU 7.2 writes it: "return" first, "id" last, spaces after ':' and ','.
std::string qemu_reply(const json& id, const std::string& value_text)
{
    return "{\"return\": " + value_text + ", \"id\": " + id.dump() + "}\r\n";
}

void send_qemu_reply(FakeConnection& peer, const json& command, const json& value)
{
    const std::string text = qemu_reply(command["id"], value.dump());
    ASSERT_GE(text.size(), 8u * 1024) << "the test needs a large reply";
    peer.send(text);
}

} // namespace

TEST(LargeReplies, ReachTheirCaller)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        send_qemu_reply(peer, peer.read_message(), large_value("a"));
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("query-qmp-schema"), large_value("a"));
    EXPECT_EQ(client.dropped_replies(), 0u);
    EXPECT_TRUE(client.is_connected());
}

TEST(LargeReplies, WithTheIdFirstAreParsedByTheReaderAndReachTheirCaller)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        peer.reply(peer.read_message(), large_value("b")); // nlohmann sorts: "id" first
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("query-qmp-schema"), large_value("b"));
}

TEST(LargeReplies, OutOfOrderReachTheirOwnCallers)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json first = peer.read_message();
        const json second = peer.read_message();
        send_qemu_reply(peer, second, large_value(second["execute"].get<std::string>()));
        send_qemu_reply(peer, first, large_value(first["execute"].get<std::string>()));
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    auto first = client.execute_async("first");
    auto second = client.execute_async("second");
    EXPECT_EQ(second.get(), large_value("second"));
    EXPECT_EQ(first.get(), large_value("first"));
}

// The event and the reply go out in one write, so that the reader finds both in one read and
// holds the event in its batch when it hands the reply over: hand-over must deliver it first.
// (Were it delivered just after, the caller would still usually find it, as parsing the reply
// takes longer than the reader's next step: this test exercises the path, it cannot force the
// race.)
TEST(LargeReplies, EventsSentBeforeAreQueuedBeforeTheCallerWakes)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        json value = json::array();
        for (int i = 0; i < 400; ++i) // about 8 KB: one read holds event and reply
            value.push_back({{"name", "item-" + std::to_string(i)}});
        const std::string reply = qemu_reply(command["id"], value.dump());
        const json event = {
            {"event", "STOP"}, {"timestamp", {{"seconds", 1}, {"microseconds", 2}}}};
        peer.send(event.dump() + "\r\n" + reply);
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_EQ(client.execute("stop").size(), 400u);
    const auto event = client.events().try_pop(); // no waiting: it must be there already
    ASSERT_TRUE(event.has_value());
    EXPECT_EQ(event->name, "STOP");
}

TEST(LargeReplies, LateReplyIsDroppedCountedAndTheNextCallGetsItsOwn)
{
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json first = peer.read_message();
        const json second = peer.read_message(); // sent only after the first timed out
        send_qemu_reply(peer, first, large_value("late"));
        send_qemu_reply(peer, second, large_value("second"));
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    EXPECT_THROW(client.execute("first", {}, 200ms), qmp::TimeoutError);
    EXPECT_EQ(client.execute("second", {}, 5s), large_value("second"));
    EXPECT_EQ(client.dropped_replies(), 1u);
    EXPECT_TRUE(client.is_connected());
}

TEST(LargeReplies, CancelledCallsReplyIsDroppedQuietly)
{
    std::promise<void> cancelled;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json first = peer.read_message();
        cancelled.get_future().wait();
        send_qemu_reply(peer, first, large_value("cancelled"));
        send_qemu_reply(peer, peer.read_message(), large_value("next"));
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    client.execute_async("slow").cancel();
    cancelled.set_value();
    EXPECT_EQ(client.execute("next"), large_value("next"));
    EXPECT_EQ(client.dropped_replies(), 0u); // quiet: cancelled on purpose
}

TEST(LargeReplies, RawCallWithAnEscapedIdGetsTheWholeReply)
{
    const std::string id = "we\"ird";
    ScriptedQemu server([](FakeConnection& peer) {
        peer.handshake();
        const json command = peer.read_message();
        const std::string text = qemu_reply(command["id"], large_value("raw").dump());
        peer.send(text);
        peer.wait_for_close();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    const json reply = client.execute_raw({{"execute", "query-qmp-schema"}, {"id", id}});
    EXPECT_EQ(reply["id"], id);
    EXPECT_EQ(reply["return"], large_value("raw"));
}

// Malformed text is found by the caller's parse, not the reader's: the caller gets the
// ProtocolError, and the session ends for everyone as if the reader had found it.
TEST(LargeReplies, MalformedReplyIsAProtocolErrorThatEndsTheSessionForEveryone)
{
    for (const std::string damage : {"tru", "1e999"}) {
        SCOPED_TRACE(damage);
        ScriptedQemu server([&](FakeConnection& peer) {
            peer.handshake();
            const json first = peer.read_message();
            peer.read_message(); // the second is never answered
            std::string value = large_value("bad").dump();
            value.insert(value.size() - 1, "," + damage);
            peer.send(qemu_reply(first["id"], value));
            peer.wait_for_close(20s);
        });
        qmp::Client client(quick_options(30s));
        client.connect(server.address());
        auto first = client.execute_async("query-qmp-schema");
        auto second = client.execute_async("query-status");
        const auto begin = std::chrono::steady_clock::now();
        try {
            first.get();
            ADD_FAILURE() << "a malformed reply was accepted";
        } catch (const qmp::ProtocolError& e) {
            EXPECT_TRUE(contains(e.what(), "malformed JSON")) << e.what();
            EXPECT_TRUE(contains(e.what(), "query-qmp-schema")) << e.what();
        }
        // The other caller is woken at once, not after its 30 s timeout.
        EXPECT_THROW(second.get(), qmp::DisconnectedError);
        EXPECT_LT(std::chrono::steady_clock::now() - begin, 10s);
        EXPECT_FALSE(client.is_connected());
        EXPECT_THROW(client.events().pop(5s), qmp::ProtocolError);
    }
}
