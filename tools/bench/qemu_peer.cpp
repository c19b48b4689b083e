// SPDX-License-Identifier: MIT
#include "qemu_peer.hpp"

#include <fstream>
#include <vector>

#include "baseline_client.hpp"

namespace bench {

namespace {

std::vector<std::string> monitor_args(const std::string& id, const std::string& path)
{
    return {"-chardev", "socket,id=" + id + ",path=" + path + ",server=on,wait=off", "-mon",
        "chardev=" + id + ",mode=control"};
}

void copy_schema(const std::string& qemu_socket, const std::string& schema_path)
{
    BaselineClient client;
    client.connect(qemu_socket);
    client.send("query-qmp-schema");
    const std::string_view line = client.read_raw_message();
    const auto begin = line.find('['), end = line.rfind(']');
    std::ofstream(schema_path) << line.substr(begin, end + 1 - begin);
}

} // namespace

QemuPeer start_qemu(const std::string& dir, const std::string& schema_path)
{
    QemuPeer peer;
    peer.library_socket = dir + "/lib.sock";
    peer.baseline_socket = dir + "/base.sock";
    peer.burst_socket = dir + "/burst.sock";
    qmp::MachineOptions options;
    for (const auto& args : {monitor_args("benchlib", peer.library_socket),
             monitor_args("benchbase", peer.baseline_socket),
             monitor_args("benchburst", peer.burst_socket)})
        options.args.insert(options.args.end(), args.begin(), args.end());
    peer.machine = std::make_unique<qmp::Machine>(options);
    peer.machine->start();
    copy_schema(peer.baseline_socket, schema_path);
    return peer;
}

} // namespace bench
