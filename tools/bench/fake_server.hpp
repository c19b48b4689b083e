// SPDX-License-Identifier: MIT
// The instant fake QMP server: a separate process that answers as fast as it can.
//
// Why a separate process (fork + exec of qmp-bench itself) rather than a thread:
//  - its memory and file descriptors stay out of the client process, so the RSS figures and the
//    1,000-connection figure measure the client alone;
//  - under valgrind (phase 7) an exec'd child runs natively (no --trace-children), so callgrind
//    counts only the client and the server still answers at full speed;
//  - QEMU is a separate process too: every reply crosses the same process boundary and wakes
//    the client the same way, so only QEMU's processing time differs between the two peers.
#pragma once

#include <string>
#include <sys/types.h>

namespace bench {

/// Serves QMP on the unix socket \p socket_path until SIGTERM. Replies to qmp_capabilities,
/// query-status, query-qmp-schema (the bytes of \p schema_path, loaded on first use: the
/// parent stores there what real QEMU sent) and bench-events {"count": N} (replies, then sends
/// N events of 81 bytes). Anything else gets a CommandNotFound error.
/// \returns the process exit status.
int run_fake_server(const std::string& socket_path, const std::string& schema_path);

/// A fake server child process, killed and reaped by the destructor.
class FakeServerProcess {
public:
    /// Starts `self --fake-server SOCKET SCHEMA` and waits until the socket accepts.
    FakeServerProcess(
        const std::string& self, const std::string& socket_path, const std::string& schema_path);
    ~FakeServerProcess();
    FakeServerProcess(const FakeServerProcess&) = delete;
    FakeServerProcess& operator=(const FakeServerProcess&) = delete;

    const std::string& socket_path() const { return socket_path_; }

private:
    std::string socket_path_;
    pid_t pid_ = -1;
};

} // namespace bench
