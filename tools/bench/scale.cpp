// SPDX-License-Identifier: MIT
// How much work each phase does. The full run stays under 3 minutes and --quick under 20 s on
// a loaded 2-core machine; real QEMU needs ~100 us per command, so it gets fewer calls.
#include "phases.hpp"

namespace bench {

Scale scale_for(const Peer& peer, bool quick)
{
    Scale scale;
    if (peer.is_fake) {
        scale.rounds = quick ? 2 : 5;
        scale.latency_calls = quick ? 1000 : 4000;
        scale.throughput_calls = quick ? 2000 : 10000;
        scale.schema_calls = quick ? 5 : 20;
        scale.events = quick ? 100000 : 1000000;
        scale.connects = quick ? 50 : 200;
        scale.connections = 1000;
        scale.callgrind_calls = quick ? 300 : 2000;
        scale.callgrind_events = quick ? 3000 : 20000;
    } else {
        scale.rounds = quick ? 2 : 5;
        scale.latency_calls = quick ? 200 : 1000;
        scale.throughput_calls = quick ? 500 : 2000;
        scale.schema_calls = quick ? 3 : 10;
        scale.connects = quick ? 10 : 40;
        scale.backlog_pairs = quick ? 1000 : 10000;
    }
    return scale;
}

} // namespace bench
