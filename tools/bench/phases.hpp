// SPDX-License-Identifier: MIT
// The measured phases of qmp-bench (the phases 1-6 and 8; phase 7 is
// callgrind_phase.hpp).
// Each runs the library and the baseline against the same peer, alternating them round by
// round so that load from other processes hits both alike, and adds rows to the report.
#pragma once

#include <string>

#include <qmp/options.hpp>

#include "report.hpp"

namespace bench {

/// Where both clients connect. With real QEMU each side has its own monitor of the same QEMU
/// (QMP serves one client per monitor); the fake server takes any number of clients.
struct Peer {
    std::string name; // "fake" or "qemu"
    std::string library_socket; // unix socket path for qmp::Client
    std::string baseline_socket; // unix socket path for BaselineClient
    bool is_fake = false;
    std::string burst_socket; // QEMU only: a third monitor, where phase 8 sends stop/cont
};

/// How much work each phase does: --quick shrinks everything for a smoke run.
struct Scale {
    int rounds = 5; // library/baseline alternations per figure
    int latency_calls = 4000; // per side and round
    int throughput_calls = 4000; // per side and round
    int schema_calls = 20; // per side and round
    int events = 1000000; // per side and round
    int connects = 200; // per side and round
    int connections = 1000; // phase 6
    int backlog_pairs = 10000; // phase 8: stop/cont pairs per burst (2 events each)
    int callgrind_calls = 2000; // phase 7: execute() calls counted per side
    int callgrind_events = 20000; // phase 7: events counted per side
};

/// Scale for \p peer: real QEMU takes ~100 us per command, so it gets fewer calls.
Scale scale_for(const Peer& peer, bool quick);

void run_latency(const Peer& peer, const Scale& scale, Report& report);
void run_logging_cost(const Peer& peer, const Scale& scale, Report& report);
void run_throughput(const Peer& peer, const Scale& scale, Report& report);
void run_schema(const Peer& peer, const Scale& scale, Report& report);
void run_events(const Peer& peer, const Scale& scale, Report& report);
void run_connect(const Peer& peer, const Scale& scale, Report& report);
void run_memory(const Peer& peer, const Scale& scale, Report& report);
/// Phase 8 (real QEMU only): draining a backlog of events queued during a burst of commands.
void run_backlog(const Peer& peer, const Scale& scale, Report& report);

} // namespace bench
