// SPDX-License-Identifier: MIT
// Jobs and matched events against real QEMU 7.2 (TCG, no guest): block mirror, backup and a
// cancelled rate-limited backup, a failing blockdev-create, snapshot-save/-load/-delete on a q35
// machine with a qcow2 disk, a migration between two QEMUs over a unix socket, and waits on
// several events. Images are made with qemu-img in each test's private directory. Public API
// only; nothing synchronises by sleeping.

#include <qmp/qmp.hpp>

#include "qemu_helpers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <spawn.h>
#include <sys/wait.h>

#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using qmp::EventMatch;
using qmp::JobStatus;
using qmp::json;
using ::testing::Contains;
using ::testing::HasSubstr;
using namespace qmp_test;

// Runs a program (looked up in PATH) to completion, its output to /dev/null; its exit status.
int run(const std::vector<std::string>& command)
{
    std::vector<char*> argv;
    for (const std::string& word : command)
        argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        throw std::runtime_error(command[0] + ": " + std::strerror(rc));
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid)
        throw std::runtime_error("waitpid " + command[0] + ": " + std::strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A qcow2 image of \p size in \p directory.
std::string qcow2(const std::string& directory, const std::string& name, const std::string& size)
{
    const std::string path = directory + "/" + name + ".qcow2";
    if (run({"qemu-img", "create", "-q", "-f", "qcow2", path, size}) != 0)
        throw std::runtime_error("qemu-img create " + path + " failed");
    return path;
}

void add_qcow2_node(qmp::Client& client, const std::string& node, const std::string& path)
{
    client.execute("blockdev-add",
        {{"driver", "qcow2"}, {"node-name", node},
            {"file", {{"driver", "file"}, {"filename", path}}}});
}

// Writes \p pattern over the first \p bytes of \p node (HMP qemu-io): data for a job to copy.
void write_pattern(qmp::Client& client, const std::string& node, int pattern, int bytes)
{
    const json out = client.execute("human-monitor-command",
        {{"command-line",
            "qemu-io " + node + " \"write -P " + std::to_string(pattern) + " 0 " +
                std::to_string(bytes) + "\""}});
    // HMP's qemu-io prints its report on QEMU's stdout; the monitor gets only errors.
    ASSERT_EQ(out, "") << out.dump();
}

// A machine with two qcow2 nodes, "disk0" (with data) and "copy0" (empty), in its directory.
struct TwoDisks {
    TwoDisks(const std::string& size = "16M")
    {
        client = &vm.start();
        source = qcow2(vm.directory(), "disk0", size);
        target = qcow2(vm.directory(), "copy0", size);
        add_qcow2_node(*client, "disk0", source);
        add_qcow2_node(*client, "copy0", target);
    }
    qmp::Machine vm;
    qmp::Client* client = nullptr;
    std::string source, target;
};

TEST(QemuJobs, MirrorReachesReadyIsCompletedAndConcludes)
{
    TwoDisks disks;
    qmp::Client& client = *disks.client;
    write_pattern(client, "disk0", 0x5a, 1 << 20);
    qmp::Job job = client.start_job("blockdev-mirror",
        {{"job-id", "m0"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"}});
    EXPECT_EQ(job.id(), "m0");
    job.wait_until(JobStatus::ready, 30s);
    EXPECT_EQ(job.status(), JobStatus::ready);
    job.complete();
    job.wait(60s);
    EXPECT_EQ(job.status(), JobStatus::null);
    const auto history = job.history();
    EXPECT_EQ(history.front(), JobStatus::created);
    EXPECT_THAT(history, Contains(JobStatus::ready));
    EXPECT_THAT(history, Contains(JobStatus::concluded));
    EXPECT_TRUE(client.execute("query-jobs").empty()); // dismissed by QEMU itself
    for (const char* node : {"copy0", "disk0"})
        client.execute("blockdev-del", {{"node-name", node}});
    EXPECT_EQ(run({"qemu-img", "compare", "-q", disks.source, disks.target}), 0);
    // ... and the data was there to copy: the source differs from an empty image.
    const std::string blank = qcow2(disks.vm.directory(), "blank", "16M");
    EXPECT_EQ(run({"qemu-img", "compare", "-q", disks.source, blank}), 1);
}

TEST(QemuJobs, FullBackupEndsAndTheCopyEqualsTheSource)
{
    TwoDisks disks;
    qmp::Client& client = *disks.client;
    write_pattern(client, "disk0", 0x33, 2 << 20);
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b0"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"}});
    job.wait(60s);
    EXPECT_EQ(job.history().back(), JobStatus::null);
    EXPECT_THAT(job.history(), Contains(JobStatus::concluded));
    for (const char* node : {"copy0", "disk0"})
        client.execute("blockdev-del", {{"node-name", node}});
    EXPECT_EQ(run({"qemu-img", "compare", "-q", disks.source, disks.target}), 0);
    // ... and the data was there to copy: the source differs from an empty image.
    const std::string blank = qcow2(disks.vm.directory(), "blank", "16M");
    EXPECT_EQ(run({"qemu-img", "compare", "-q", disks.source, blank}), 1);
}

TEST(QemuJobs, ARateLimitedBackupIsCancelledAndWaitSaysSo)
{
    TwoDisks disks("64M");
    qmp::Client& client = *disks.client;
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b0"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"},
            {"speed", 65536}});
    job.wait_until(JobStatus::running, 10s);
    job.cancel();
    try {
        job.wait(30s);
        ADD_FAILURE() << "a cancelled backup ended without a JobError";
    } catch (const qmp::JobError& e) {
        EXPECT_TRUE(e.cancelled()) << e.what();
        EXPECT_EQ(e.job_id(), "b0");
        EXPECT_THAT(e.what(), HasSubstr("job 'b0' was cancelled"));
    }
    EXPECT_EQ(job.status(), JobStatus::null);
    EXPECT_TRUE(client.execute("query-jobs").empty());
}

TEST(QemuJobs, ARateLimitedBackupIsPausedResumedAndCancelled)
{
    TwoDisks disks("64M");
    qmp::Client& client = *disks.client;
    qmp::Job job = client.start_job("blockdev-backup",
        {{"job-id", "b1"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"},
            {"speed", 65536}});
    job.wait_until(JobStatus::running, 10s);
    job.pause();
    job.wait_until(JobStatus::paused, 10s);
    const json listed = client.execute("query-jobs");
    ASSERT_EQ(listed.size(), 1u) << listed.dump();
    EXPECT_EQ(listed[0].value("status", ""), "paused") << listed.dump();
    job.resume();
    job.cancel();
    try {
        job.wait(30s);
        ADD_FAILURE() << "a cancelled backup ended without a JobError";
    } catch (const qmp::JobError& e) {
        EXPECT_TRUE(e.cancelled()) << e.what();
    }
    EXPECT_THAT(job.history(), Contains(JobStatus::paused));
}

TEST(QemuJobs, AFailingBlockdevCreateIsAJobErrorWithQemusText)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    const std::string path = vm.directory() + "/new.qcow2";
    ASSERT_EQ(run({"qemu-img", "create", "-q", "-f", "raw", path, "0"}), 0);
    client.execute("blockdev-add", {{"driver", "file"}, {"node-name", "f0"}, {"filename", path}});
    qmp::Job bad = client.start_job("blockdev-create",
        {{"job-id", "c0"}, {"options", {{"driver", "qcow2"}, {"file", "f0"}, {"size", 1000}}}});
    try {
        bad.wait(30s);
        ADD_FAILURE() << "blockdev-create with a size of 1000 bytes succeeded";
    } catch (const qmp::JobError& e) {
        EXPECT_FALSE(e.cancelled());
        EXPECT_THAT(e.description(), HasSubstr("512")) << e.what(); // "a multiple of 512 bytes"
        EXPECT_THAT(e.what(), HasSubstr("job 'c0' failed: " + e.description()));
    }
    EXPECT_EQ(bad.status(), JobStatus::null);
    EXPECT_TRUE(client.execute("query-jobs").empty()); // read, then dismissed

    // The same job with a good size succeeds, and its id can be used again.
    qmp::Job good = client.start_job("blockdev-create",
        {{"job-id", "c0"}, {"options", {{"driver", "qcow2"}, {"file", "f0"}, {"size", 1 << 20}}}});
    good.wait(30s);
    EXPECT_EQ(good.history().front(), JobStatus::created); // none of the first c0's statuses
    EXPECT_TRUE(client.execute("query-jobs").empty());
}

TEST(QemuJobs, SnapshotSaveLoadAndDeleteOnQ35WithAQcow2Disk)
{
    TemporaryDirectory directory;
    const std::string disk = qcow2(directory.path(), "disk", "32M");
    qmp::MachineOptions options;
    options.args = {"-machine", "q35", "-nodefaults", "-display", "none", "-S", "-blockdev",
        "driver=qcow2,node-name=disk0,file.driver=file,file.filename=" + disk};
    qmp::Machine vm(options);
    qmp::Client& client = vm.start();

    qmp::Job save = client.start_job("snapshot-save",
        {{"job-id", "save0"}, {"tag", "snap0"}, {"vmstate", "disk0"}, {"devices", {"disk0"}}});
    save.wait(60s);
    EXPECT_THAT(save.history(), Contains(JobStatus::concluded));
    EXPECT_EQ(save.status(), JobStatus::null);
    const json info = client.execute("human-monitor-command", {{"command-line", "info snapshots"}});
    EXPECT_THAT(info.get<std::string>(), HasSubstr("snap0"));

    qmp::Job load = client.start_job("snapshot-load",
        {{"job-id", "load0"}, {"tag", "snap0"}, {"vmstate", "disk0"}, {"devices", {"disk0"}}});
    load.wait(60s);

    qmp::Job missing = client.start_job("snapshot-load",
        {{"job-id", "load1"}, {"tag", "nosuch"}, {"vmstate", "disk0"}, {"devices", {"disk0"}}});
    try {
        missing.wait(60s);
        ADD_FAILURE() << "loading a missing snapshot succeeded";
    } catch (const qmp::JobError& e) {
        EXPECT_EQ(e.job_id(), "load1");
        EXPECT_THAT(e.description(), HasSubstr("nosuch")) << e.what();
    }

    qmp::Job remove = client.start_job(
        "snapshot-delete", {{"job-id", "del0"}, {"tag", "snap0"}, {"devices", {"disk0"}}});
    remove.wait(60s);
    const json after =
        client.execute("human-monitor-command", {{"command-line", "info snapshots"}});
    EXPECT_THAT(after.get<std::string>(), ::testing::Not(HasSubstr("snap0")));
    EXPECT_TRUE(client.execute("query-jobs").empty());
}

TEST(QemuEvents, MigrationBetweenTwoQemusIsWaitedForOnBothSidesByStatus)
{
    qmp::MachineOptions destination_options;
    destination_options.args = {
        "-machine", "none", "-nodefaults", "-display", "none", "-incoming", "defer"};
    qmp::Machine source_vm;
    qmp::Machine destination_vm(destination_options);
    qmp::Client& source = source_vm.start();
    qmp::Client& destination = destination_vm.start();
    const json events_on = {{"capabilities", {{{"capability", "events"}, {"state", true}}}}};
    source.execute("migrate-set-capabilities", events_on);
    destination.execute("migrate-set-capabilities", events_on);

    const std::string uri = "unix:" + destination_vm.directory() + "/migration.sock";
    const EventMatch completed{"MIGRATION", {{"status", "completed"}}};
    qmp::EventQueue arrived = destination.listen(completed);
    destination.execute("migrate-incoming", {{"uri", uri}});
    const qmp::Event sent = source.execute_and_wait("migrate", {{"uri", uri}}, completed, 60s);
    EXPECT_EQ(sent.data["status"], "completed");
    const auto received = arrived.pop(60s);
    ASSERT_TRUE(received) << "no MIGRATION completed on the destination";
    EXPECT_EQ(received->data["status"], "completed");
    EXPECT_FALSE(arrived.try_pop());
    EXPECT_EQ(source.execute("query-migrate").value("status", ""), "completed");
    EXPECT_EQ(destination.execute("query-status").value("status", ""), "running");
}

TEST(QemuEvents, SeveralMatchesTheFirstEventThatMatchesAnyWins)
{
    qmp::Machine vm;
    qmp::Client& client = vm.start();
    const std::vector<EventMatch> stop_or_reset = {EventMatch{"RESET"}, EventMatch{"STOP"}};
    const qmp::Event stop = client.execute_and_wait("stop", {}, stop_or_reset, 5s);
    EXPECT_EQ(stop.name, "STOP");
    // RESUME is neither; a wait that QEMU never satisfies times out.
    EXPECT_THROW(client.execute_and_wait("cont", {}, stop_or_reset, 300ms), qmp::TimeoutError);

    // wait_for_event() on one thread while this one makes QEMU send events; the waiter gets
    // the first one after its call.
    std::atomic<bool> done{false};
    qmp::Event received;
    std::thread waiter = spawn_checked("wait_for_event", [&] {
        received = client.wait_for_event(
            {EventMatch{"RESET", {{"guest", false}}}, EventMatch{"POWERDOWN"}}, 30s);
        done = true;
    });
    const auto begin = SteadyClock::now();
    while (!done && ms_since(begin) < 30000) {
        client.execute("stop");
        client.execute("cont");
        client.execute("system_reset");
    }
    waiter.join();
    EXPECT_EQ(received.name, "RESET");
    EXPECT_EQ(received.data.value("reason", ""), "host-qmp-system-reset") << received.raw.dump();
}

} // namespace
