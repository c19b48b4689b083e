// SPDX-License-Identifier: MIT
// A user's unit test with qmp::testing::FakeQemu: the code under test (a tiny "pause the VM if
// it runs" helper) runs against a scripted fake QEMU instead of a real one, including the
// failures a real QEMU cannot be made to show on demand.
//
// Build: link with qmp-testing and GoogleTest (gtest_main), e.g.
//   c++ -std=c++17 fake_qemu_test.cpp $(pkg-config --cflags --libs qmp-testing gtest_main)
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include <qmp/qmp.hpp>
#include <qmp/testing.hpp>

using namespace std::chrono_literals;

// The code under test: pauses the VM if it is running; true if it paused it.
bool pause_if_running(qmp::Client& client)
{
    if (!client.execute("query-status").at("running").get<bool>())
        return false;
    client.execute_and_wait("stop", {}, "STOP", 5s);
    return true;
}

class PauseIfRunning : public ::testing::Test {
protected:
    void SetUp() override
    {
        qmp::ClientOptions options;
        options.command_timeout = 2s; // a silent fake fails the test quickly
        client = std::make_unique<qmp::Client>(options);
    }

    void TearDown() override
    {
        // Nothing the program sent was refused (unknown command, wrong arguments).
        EXPECT_TRUE(fake.unexpected().empty()) << qmp::json(fake.unexpected()).dump(2);
    }

    qmp::testing::FakeQemu fake;
    std::unique_ptr<qmp::Client> client;
};

TEST_F(PauseIfRunning, StopsARunningVm)
{
    fake.on("query-status").reply({{"status", "running"}, {"running", true}});
    fake.on("stop").emit("STOP").reply(qmp::json::object()); // the event first, as QEMU does
    client->connect(fake.address());

    EXPECT_TRUE(pause_if_running(*client));
    EXPECT_EQ(fake.received("stop").size(), 1u);
}

TEST_F(PauseIfRunning, LeavesAPausedVmAlone)
{
    fake.on("query-status").reply({{"status", "paused"}, {"running", false}});
    client->connect(fake.address());

    EXPECT_FALSE(pause_if_running(*client));
    EXPECT_TRUE(fake.received("stop").empty());
}

TEST_F(PauseIfRunning, ReportsWhenQemuRefuses)
{
    fake.on("query-status").reply({{"status", "running"}, {"running", true}});
    fake.on("stop").error("GenericError", "the VM is migrating");
    client->connect(fake.address());

    EXPECT_THROW(pause_if_running(*client), qmp::ExecuteError);
}

TEST_F(PauseIfRunning, ReportsWhenQemuGoesAway)
{
    fake.on("query-status").reply({{"status", "running"}, {"running", true}});
    fake.on("stop").hang_up(); // QEMU died before answering
    client->connect(fake.address());

    EXPECT_THROW(pause_if_running(*client), qmp::DisconnectedError);
}

TEST_F(PauseIfRunning, SendsOnlyWhatQemu72Accepts)
{
#ifdef QMP_SCHEMA_FILE
    // A capture of `query-qmp-schema` from the QEMU the program targets.
    std::ifstream capture(QMP_SCHEMA_FILE);
    fake.use_schema(qmp::json::parse(capture));
#endif
    fake.on("query-status").reply({{"status", "running"}, {"running", true}});
    fake.on("stop").emit("STOP").reply(qmp::json::object());
    client->connect(fake.address());

    EXPECT_TRUE(pause_if_running(*client)); // TearDown() checks nothing was refused
}
