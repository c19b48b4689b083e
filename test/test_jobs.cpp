// SPDX-License-Identifier: MIT
// qmp::Job against the scripted fake server: the status sequences of block and generic jobs,
// failures and cancellation as JobError, what is sent (and what is not), silence and hang-ups.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <qmp/qmp.hpp>

#include "call_outcome.hpp"
#include "scripted_fake.hpp"

using namespace std::chrono_literals;
using qmp::JobStatus;
using qmp::json;
using qmp::test::FakeConnection;
using qmp::test::finish;
using qmp::test::ms_since;
using qmp::test::quick_options;
using qmp::test::ScriptedQemu;
using qmp::test::slack;
using qmp::test::start;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

namespace {

void status(FakeConnection& peer, const std::string& id, const std::string& status)
{
    peer.send_event("JOB_STATUS_CHANGE", {{"id", id}, {"status", status}});
}

// Reads the next command, expecting \p name; returns it.
json expect(FakeConnection& peer, const std::string& name)
{
    json command = peer.read_message();
    if (command.value("execute", "") != name)
        throw std::runtime_error("expected '" + name + "', got " + command.dump());
    return command;
}

// Reads \p command, the start of job \p id, and answers it after the job's \p statuses (QEMU
// sends the first ones before the reply).
void started(FakeConnection& peer, const std::string& command, const std::string& id,
    std::initializer_list<const char*> statuses = {"created", "running"})
{
    const json start = expect(peer, command);
    for (const char* s : statuses)
        status(peer, id, s);
    peer.reply(start);
}

// Reads job-dismiss and answers it after job \p id's last status, null; returns the command.
json dismissed(FakeConnection& peer, const std::string& id)
{
    const json dismiss = expect(peer, "job-dismiss");
    status(peer, id, "null");
    peer.reply(dismiss);
    return dismiss;
}

// What the client sent after the job's commands: the script records every command name until
// the client leaves.
std::vector<std::string> rest_of(FakeConnection& peer)
{
    std::vector<std::string> names;
    for (;;) {
        try {
            const json command = peer.read_message(10s);
            names.push_back(command.value("execute", "?"));
            peer.reply(command);
        } catch (const std::exception&) {
            return names;
        }
    }
}

const json mirror_args = {
    {"job-id", "m0"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"}};

} // namespace

TEST(Job, MirrorReadyCompleteConcludedWithEveryStatusInOrder)
{
    std::vector<std::string> after;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-mirror", "m0"); // created and running before the reply
        status(peer, "other", "ready"); // another job's
        peer.send_event("BLOCK_JOB_READY", {{"device", "m0"}, {"type", "mirror"}});
        status(peer, "m0", "ready");
        const json complete = expect(peer, "job-complete");
        if (complete["arguments"] != json{{"id", "m0"}})
            throw std::runtime_error("job-complete arguments: " + complete.dump());
        peer.reply(complete);
        status(peer, "m0", "waiting");
        status(peer, "m0", "pending");
        peer.send_event("BLOCK_JOB_COMPLETED", {{"device", "m0"}, {"type", "mirror"}});
        status(peer, "m0", "concluded");
        status(peer, "m0", "null");
        after = rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("blockdev-mirror", mirror_args);
    EXPECT_EQ(job.id(), "m0");
    job.wait_until(JobStatus::ready, 5s);
    EXPECT_EQ(job.status(), JobStatus::ready);
    job.wait_until(JobStatus::running, 0ms); // reached since start_job(), and left: at once
    job.complete();
    job.wait(5s);
    EXPECT_EQ(job.status(), JobStatus::null);
    EXPECT_THAT(job.history(),
        ElementsAre(JobStatus::created, JobStatus::running, JobStatus::ready, JobStatus::waiting,
            JobStatus::pending, JobStatus::concluded, JobStatus::null));
    // Statuses before the last command (job-complete) do not count.
    EXPECT_THROW(job.wait_until(JobStatus::running, 0ms), qmp::JobError);
    client.execute("sync");
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    EXPECT_THAT(after, ElementsAre("sync")); // an auto-dismissed job needs no job-dismiss
}

TEST(Job, ABlockJobsFailureIsAJobErrorWithQemusText)
{
    std::vector<std::string> after;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-backup", "b0");
        status(peer, "b0", "aborting");
        peer.send_event("BLOCK_JOB_COMPLETED",
            {{"device", "b0"}, {"type", "backup"}, {"error", "No space left on device"}});
        status(peer, "b0", "concluded");
        status(peer, "b0", "null");
        after = rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b0"}, {"device", "disk0"}, {"target", "t0"}, {"sync", "full"}});
    try {
        job.wait(5s);
        FAIL() << "no JobError";
    } catch (const qmp::JobError& e) {
        EXPECT_EQ(e.job_id(), "b0");
        EXPECT_EQ(e.description(), "No space left on device");
        EXPECT_FALSE(e.cancelled());
        EXPECT_STREQ(e.what(), "qmp: job 'b0' failed: No space left on device");
    }
    client.execute("sync");
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    EXPECT_THAT(after, ElementsAre("sync"));
}

TEST(Job, ACancelledBlockJobIsAJobErrorThatSaysSo)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-backup", "b0");
        const json cancel = expect(peer, "job-cancel");
        status(peer, "b0", "aborting");
        peer.reply(cancel);
        peer.send_event("BLOCK_JOB_CANCELLED", {{"device", "b0"}, {"type", "backup"}});
        status(peer, "b0", "concluded");
        status(peer, "b0", "null");
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b0"}, {"device", "disk0"}, {"target", "t0"}, {"sync", "full"}});
    job.cancel();
    try {
        job.wait(5s);
        FAIL() << "no JobError";
    } catch (const qmp::JobError& e) {
        EXPECT_TRUE(e.cancelled());
        EXPECT_THAT(e.what(), HasSubstr("job 'b0' was cancelled"));
    }
}

TEST(Job, AGenericJobsErrorIsReadFromQueryJobsBeforeItIsDismissed)
{
    std::vector<std::string> after;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json start = expect(peer, "snapshot-save");
        status(peer, "s0", "created");
        peer.send_event("STOP");
        peer.reply(start);
        status(peer, "s0", "running");
        status(peer, "s0", "aborting");
        peer.send_event("RESUME");
        status(peer, "s0", "concluded");
        const json query = expect(peer, "query-jobs");
        peer.reply(query,
            json::array({{{"id", "other"}, {"status", "running"}},
                {{"id", "s0"}, {"type", "snapshot-save"}, {"status", "concluded"},
                    {"current-progress", 1}, {"total-progress", 1},
                    {"error", "Device 'disk0' is writable but does not support snapshots"}}}));
        dismissed(peer, "s0");
        after = rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("snapshot-save",
        {{"job-id", "s0"}, {"tag", "t"}, {"vmstate", "disk0"}, {"devices", {"disk0"}}});
    try {
        job.wait(5s);
        FAIL() << "no JobError";
    } catch (const qmp::JobError& e) {
        EXPECT_EQ(e.description(), "Device 'disk0' is writable but does not support snapshots");
        EXPECT_FALSE(e.cancelled());
    }
    EXPECT_EQ(job.status(), JobStatus::null);
    client.execute("sync");
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    EXPECT_THAT(after, ElementsAre("sync"));
}

TEST(Job, AGenericJobThatSucceedsIsDismissedAndWaitReturns)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-create", "c0");
        status(peer, "c0", "waiting");
        status(peer, "c0", "pending");
        status(peer, "c0", "concluded");
        const json query = expect(peer, "query-jobs");
        peer.reply(query, json::array({{{"id", "c0"}, {"status", "concluded"}}}));
        dismissed(peer, "c0");
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job =
        client.start_job("blockdev-create", {{"job-id", "c0"}, {"options", json::object()}});
    job.wait_until(JobStatus::concluded, 5s);
    job.wait(5s);
    EXPECT_EQ(job.status(), JobStatus::null);
}

TEST(Job, ABlockJobWithoutAutoDismissIsDismissedByWait)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "block-stream", "s1");
        peer.send_event("BLOCK_JOB_COMPLETED", {{"device", "s1"}, {"type", "stream"}});
        status(peer, "s1", "concluded");
        const json query = expect(peer, "query-jobs");
        peer.reply(query, json::array({{{"id", "s1"}, {"status", "concluded"}}}));
        dismissed(peer, "s1");
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job(
        "block-stream", {{"job-id", "s1"}, {"device", "top"}, {"auto-dismiss", false}});
    job.wait(5s);
    EXPECT_EQ(job.status(), JobStatus::null);
}

TEST(Job, WaitUntilAStatusTheJobNeverReachesIsAJobErrorWithTheReason)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-mirror", "m0");
        status(peer, "m0", "aborting");
        peer.send_event("BLOCK_JOB_COMPLETED",
            {{"device", "m0"}, {"type", "mirror"}, {"error", "Input/output error"}});
        status(peer, "m0", "concluded");
        status(peer, "m0", "null");
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    // The fake sends the job's last events after the one that ends the wait: the client stays
    // until they came (closing earlier would fail the fake's sends, as seen under memcheck).
    qmp::EventQueue last =
        client.listen(qmp::EventMatch{"JOB_STATUS_CHANGE", {{"id", "m0"}, {"status", "null"}}});
    qmp::Job job = client.start_job("blockdev-mirror", mirror_args);
    try {
        job.wait_until(JobStatus::ready, 5s);
        FAIL() << "no JobError";
    } catch (const qmp::JobError& e) {
        EXPECT_EQ(e.description(), "Input/output error");
        EXPECT_THAT(
            e.what(), HasSubstr("job 'm0' failed without reaching ready: Input/output error"));
    }
    EXPECT_TRUE(last.pop(std::chrono::milliseconds(slack(5000))));
}

TEST(Job, SilenceIsATimeoutErrorAndTheJobIsLeftAlone)
{
    std::vector<std::string> after;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-mirror", "m0");
        after = rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    {
        qmp::Job job = client.start_job("blockdev-mirror", mirror_args);
        const auto begin = Clock::now();
        try {
            job.wait_until(JobStatus::ready, 200ms);
            FAIL() << "no TimeoutError";
        } catch (const qmp::TimeoutError& e) {
            EXPECT_THAT(e.what(), HasSubstr("job 'm0' did not reach ready within 200 ms"));
            EXPECT_THAT(e.what(), HasSubstr("its status is running"));
        }
        EXPECT_GE(ms_since(begin), 200);
        EXPECT_LT(ms_since(begin), slack(2000));
        EXPECT_THROW(job.wait(100ms), qmp::TimeoutError);
        EXPECT_EQ(job.status(), JobStatus::running);
    } // destroyed while running: nothing is sent
    client.execute("sync");
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    EXPECT_THAT(after, ElementsAre("sync"));
}

TEST(Job, AHangUpWakesAWaiterWithDisconnectedError)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-mirror", "m0", {"created"});
        expect(peer, "sync");
        peer.hang_up();
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("blockdev-mirror", mirror_args);
    auto waiter = start([&] {
        job.wait(30s);
        return json();
    });
    const auto begin = Clock::now();
    EXPECT_THROW(client.execute("sync"), qmp::DisconnectedError);
    EXPECT_EQ(finish(waiter, 40s).kind, "DisconnectedError");
    EXPECT_LT(ms_since(begin), slack(2000));
}

TEST(Job, DisconnectFromAnotherThreadWakesAWaiter)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "snapshot-load", "l0", {"created"});
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("snapshot-load", {{"job-id", "l0"}, {"tag", "t"}});
    auto waiter = start([&] {
        job.wait_until(JobStatus::concluded, 30s);
        return json();
    });
    const auto begin = Clock::now();
    client.execute("sync");
    client.disconnect();
    EXPECT_EQ(finish(waiter, 40s).kind, "DisconnectedError");
    EXPECT_LT(ms_since(begin), slack(2000));
}

TEST(Job, EventsOfAnEarlierJobWithTheSameIdDoNotCount)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        status(peer, "m0", "concluded"); // an earlier m0
        status(peer, "m0", "null");
        peer.reply(expect(peer, "sync"));
        started(peer, "blockdev-mirror", "m0");
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    client.execute("sync");
    qmp::Job job = client.start_job("blockdev-mirror", mirror_args);
    EXPECT_THAT(job.history(), ElementsAre(JobStatus::created, JobStatus::running));
    EXPECT_THROW(job.wait(100ms), qmp::TimeoutError);
}

TEST(Job, WithoutAJobIdNothingIsSentAndItIsAUsageError)
{
    std::vector<std::string> after;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        after = rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    try {
        client.start_job(
            "drive-mirror", {{"device", "disk0"}, {"target", "/tmp/x"}, {"sync", "full"}});
        FAIL() << "no UsageError";
    } catch (const qmp::UsageError& e) {
        EXPECT_THAT(e.what(), HasSubstr("start_job('drive-mirror') needs a string \"job-id\""));
    }
    EXPECT_THROW(client.start_job("blockdev-mirror", {{"job-id", 7}}), qmp::UsageError);
    EXPECT_THROW(client.start_job("blockdev-mirror", nullptr), qmp::UsageError);
    client.execute("sync");
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    EXPECT_THAT(after, ElementsAre("sync"));
}

TEST(Job, ARefusedStartIsAnExecuteError)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        const json start = expect(peer, "blockdev-mirror");
        peer.send_message({{"id", start["id"]},
            {"error", {{"class", "GenericError"}, {"desc", "Cannot find device='disk0'"}}}});
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    try {
        client.start_job("blockdev-mirror", mirror_args);
        FAIL() << "no ExecuteError";
    } catch (const qmp::ExecuteError& e) {
        EXPECT_EQ(e.description(), "Cannot find device='disk0'");
    }
}

TEST(Job, CommandsAfterTheClientIsGoneAreDisconnectedErrors)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-mirror", "m0", {"created"});
        rest_of(peer);
    });
    std::optional<qmp::Job> job;
    {
        qmp::Client client(quick_options());
        client.connect(server.address());
        job.emplace(client.start_job("blockdev-mirror", mirror_args));
    }
    EXPECT_THROW(job->complete(), qmp::DisconnectedError);
    EXPECT_THROW(job->wait(5s), qmp::DisconnectedError);
    EXPECT_EQ(job->status(), JobStatus::created);
}

TEST(Job, StatusNamesAreQemus)
{
    EXPECT_STREQ(qmp::to_string(JobStatus::created), "created");
    EXPECT_STREQ(qmp::to_string(JobStatus::standby), "standby");
    EXPECT_STREQ(qmp::to_string(JobStatus::concluded), "concluded");
    EXPECT_STREQ(qmp::to_string(JobStatus::null), "null");
}

TEST(Job, PauseResumeFinalizeAndDismissSendTheirCommandsForThisJob)
{
    std::vector<json> commands;
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-backup", "b0");
        const json pause = expect(peer, "job-pause");
        status(peer, "b0", "paused"); // QEMU 7.2 sends it when the job reaches a pause point
        peer.reply(pause);
        const json resume = expect(peer, "job-resume");
        peer.reply(resume);
        status(peer, "b0", "running");
        status(peer, "b0", "waiting");
        status(peer, "b0", "pending");
        const json finalize = expect(peer, "job-finalize");
        peer.send_event("BLOCK_JOB_COMPLETED", {{"device", "b0"}, {"type", "backup"}});
        status(peer, "b0", "concluded");
        peer.reply(finalize);
        const json dismiss = dismissed(peer, "b0");
        commands = {pause, resume, finalize, dismiss};
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b0"}, {"device", "disk0"}, {"target", "t0"}, {"sync", "full"},
            {"auto-finalize", false}, {"auto-dismiss", false}});
    job.pause();
    EXPECT_EQ(job.status(), JobStatus::paused);
    job.resume();
    job.wait_until(JobStatus::pending, 5s);
    job.finalize();
    EXPECT_EQ(job.status(), JobStatus::concluded);
    job.dismiss();
    EXPECT_EQ(job.status(), JobStatus::null);
    job.wait(0ms); // already gone: returns at once
    client.disconnect();
    ASSERT_TRUE(server.wait_for_scripts(1));
    ASSERT_EQ(commands.size(), 4u);
    for (const json& command : commands)
        EXPECT_EQ(command["arguments"], (json{{"id", "b0"}})) << command.dump();
}

// QEMU 7.2 pauses a backup briefly while starting it (created, running, paused, running before
// the reply): that pause must not answer a wait for the pause that job-pause asks for.
TEST(Job, AStatusFromBeforeTheLastCommandDoesNotAnswerAWaitAfterIt)
{
    ScriptedQemu server([&](FakeConnection& peer) {
        peer.handshake();
        started(peer, "blockdev-backup", "b0", {"created", "running", "paused", "running"});
        peer.reply(expect(peer, "job-pause")); // the job pauses later, at its pause point
        const json sync = expect(peer, "sync");
        status(peer, "b0", "paused");
        peer.reply(sync);
        rest_of(peer);
    });
    qmp::Client client(quick_options());
    client.connect(server.address());
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b0"}, {"device", "disk0"}, {"target", "t0"}, {"sync", "full"}});
    job.wait_until(JobStatus::running, 5s);
    job.pause();
    EXPECT_THROW(job.wait_until(JobStatus::paused, 100ms), qmp::TimeoutError);
    client.execute("sync");
    job.wait_until(JobStatus::paused, 5s);
    EXPECT_EQ(job.status(), JobStatus::paused);
}
