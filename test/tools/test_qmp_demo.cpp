// SPDX-License-Identifier: MIT
// qmp-demo end to end against real QEMU: the normal run, and a QEMU that sends no STOP event.
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include "tool_process.hpp"

using namespace tools_test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::string demo()
{
    return tool_path("QMP_DEMO");
}

} // namespace

TEST(QmpDemo, ShowsRepliesAndTheEventsTheyCause)
{
    const Result result = run_tool({demo()});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr("event: {\"event\":\"STOP\""));
    EXPECT_THAT(result.out, HasSubstr("event: {\"event\":\"RESUME\""));
    EXPECT_THAT(result.out, HasSubstr("quit: QEMU exited with status 0"));
}

// QEMU started paused (-S) answers `stop` without a STOP event: the demo's first wait for an
// event times out, which it must report rather than read an event that is not there.
TEST(QmpDemo, ReportsAMissingEvent)
{
    TemporaryDirectory dir;
    const std::string paused_qemu = dir.file("paused-qemu");
    std::ofstream(paused_qemu) << "#!/bin/sh\nexec qemu-system-x86_64 -S \"$@\"\n";
    ASSERT_EQ(::chmod(paused_qemu.c_str(), 0700), 0);

    const Result result = run_tool({demo(), paused_qemu});
    EXPECT_EQ(result.status, 0) << result.out << result.err;
    EXPECT_THAT(result.out, HasSubstr("event: none within 5 s (expected STOP)\n"));
    EXPECT_THAT(result.out, HasSubstr("event: {\"event\":\"RESUME\""));
    EXPECT_THAT(result.out, HasSubstr("quit: QEMU exited with status 0"));
}
