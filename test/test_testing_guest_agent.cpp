// SPDX-License-Identifier: MIT
// qmp::testing::FakeGuestAgent with qmp::GuestAgent: the synchronisation qemu-ga does (0xFF both
// ways, guest-sync-delimited), rules, unexpected commands, silence and hang-ups.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

#include "fake_options.hpp"

using namespace std::chrono_literals;
using qmp::json;
using qmp::testing::FakeGuestAgent;

namespace {

// The commands that reply only on error are given 300 ms.
qmp::GuestAgentOptions quick()
{
    return qmp::test::quick_agent_options(300ms);
}

} // namespace

TEST(FakeGuestAgent, SynchronisesAndAnswersByTheRules)
{
    FakeGuestAgent fake;
    fake.on("guest-info").reply({{"version", "7.2.22"}, {"supported_commands", json::array()}});
    fake.on("guest-file-open", {{"path", "/etc/hostname"}}).reply(1000);
    qmp::GuestAgent agent{quick()};
    agent.connect(fake.address());
    EXPECT_EQ(fake.received("guest-sync-delimited").size(), 1u);
    EXPECT_TRUE(fake.received("guest-sync-delimited")[0]["id"].is_number_integer());
    EXPECT_EQ(agent.execute("guest-info")["version"], "7.2.22");
    EXPECT_EQ(agent.execute("guest-file-open", {{"path", "/etc/hostname"}}), 1000);
    EXPECT_EQ(agent.dropped_replies(), 0u);
    EXPECT_TRUE(fake.unexpected().empty());
}

TEST(FakeGuestAgent, UnknownCommandIsRecorded)
{
    FakeGuestAgent fake;
    qmp::GuestAgent agent{quick()};
    agent.connect(fake.address());
    try {
        agent.execute("guest-nope");
        FAIL() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.error_class(), "CommandNotFound");
        EXPECT_EQ(e.description(), "The command guest-nope has not been found");
    }
    ASSERT_EQ(fake.unexpected().size(), 1u);
    EXPECT_EQ(fake.unexpected()[0]["message"]["execute"], "guest-nope");
}

TEST(FakeGuestAgent, TimeoutForcesANewSynchronisation)
{
    FakeGuestAgent fake;
    fake.on("guest-fsfreeze-freeze").no_reply();
    fake.on("guest-ping").reply();
    qmp::GuestAgent agent{quick()};
    agent.connect(fake.address());
    EXPECT_THROW(agent.execute("guest-fsfreeze-freeze", {}, 200ms), qmp::TimeoutError);
    agent.execute("guest-ping");
    EXPECT_EQ(fake.received("guest-sync-delimited").size(), 2u);
}

TEST(FakeGuestAgent, ShutdownWithoutReplyAndHangUp)
{
    FakeGuestAgent fake;
    fake.on("guest-shutdown").hang_up();
    qmp::GuestAgent agent{quick()};
    agent.connect(fake.address());
    agent.execute("guest-shutdown");
    EXPECT_TRUE(fake.wait_for_disconnect(5s));
    EXPECT_EQ(fake.received("guest-shutdown").size(), 1u);
}

TEST(FakeGuestAgent, ScriptedSyncTakesPrecedence)
{
    FakeGuestAgent fake;
    fake.on("guest-sync-delimited").no_reply(); // an agent that is not running yet
    qmp::GuestAgentOptions options = quick();
    options.connect_timeout = 300ms;
    qmp::GuestAgent agent{options};
    EXPECT_THROW(agent.connect(fake.address()), qmp::ConnectError);
    EXPECT_EQ(fake.received("guest-sync-delimited").size(), 1u);
}

TEST(FakeGuestAgent, ServesTheNextClientAfterAHangUp)
{
    FakeGuestAgent fake;
    fake.on("guest-ping").reply();
    {
        qmp::GuestAgent agent{quick()};
        agent.connect(fake.address());
        agent.execute("guest-ping");
    }
    qmp::GuestAgent agent{quick()};
    agent.connect(fake.address());
    agent.execute("guest-ping");
    EXPECT_TRUE(fake.wait_for_connections(2, 5s));
}
