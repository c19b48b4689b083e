// SPDX-License-Identifier: MIT
// A block mirror from start to switch-over, on a disposable QEMU (no guest, TCG).
//
// The disks are qcow2 images that QEMU itself creates with blockdev-create jobs in the
// machine's private directory; qemu-io (through HMP) writes some data to the source; then a
// blockdev-mirror job copies it, reaches "ready", is completed (job-complete) and ends.
//
//     ./example_block_mirror
#include <qmp/qmp.hpp>

#include <chrono>
#include <iostream>
#include <string>

using namespace std::chrono_literals;
using qmp::json;

namespace {

// Creates a qcow2 image at \p path with two generic jobs (the file, then the format) and
// opens it as block node \p node.
void create_qcow2(qmp::Client& client, const std::string& node, const std::string& path)
{
    client
        .start_job("blockdev-create",
            {{"job-id", "create-" + node + "-file"},
                {"options", {{"driver", "file"}, {"filename", path}, {"size", 0}}}})
        .wait(30s); // qmp::JobError with QEMU's text if it fails
    client.execute(
        "blockdev-add", {{"driver", "file"}, {"node-name", node + "-file"}, {"filename", path}});
    client
        .start_job("blockdev-create",
            {{"job-id", "create-" + node},
                {"options", {{"driver", "qcow2"}, {"file", node + "-file"}, {"size", 64 << 20}}}})
        .wait(30s);
    client.execute(
        "blockdev-add", {{"driver", "qcow2"}, {"node-name", node}, {"file", node + "-file"}});
}

} // namespace

int main()
{
    try {
        qmp::Machine vm; // qemu-system-x86_64 -machine none: only the monitor runs
        qmp::Client& client = vm.start();
        create_qcow2(client, "disk0", vm.directory() + "/disk0.qcow2");
        create_qcow2(client, "copy0", vm.directory() + "/copy0.qcow2");
        client.execute(
            "human-monitor-command", {{"command-line", "qemu-io disk0 \"write -P 0x5a 0 8M\""}});

        // [snippet mirror]
        // The job is watched from before the command is sent: no status is missed.
        qmp::Job job = client.start_job("blockdev-mirror",
            {{"job-id", "m0"}, {"device", "disk0"}, {"target", "copy0"}, {"sync", "full"}});
        job.wait_until(qmp::JobStatus::ready, 60s);
        std::cout << "mirror " << job.id() << " is ready: the copy is in sync\n";
        job.complete(); // job-complete: switch over to the copy
        job.wait(5min); // until it ended; qmp::JobError if it failed or was cancelled
        std::cout << "mirror " << job.id() << " ended; statuses:";
        for (const qmp::JobStatus status : job.history())
            std::cout << ' ' << qmp::to_string(status);
        std::cout << '\n';
        // [end]
        vm.shutdown();
        return 0;
    } catch (const qmp::JobError& e) {
        std::cerr << e.what() << '\n';
    } catch (const qmp::Error& e) {
        std::cerr << e.what() << '\n';
    }
    return 1;
}
