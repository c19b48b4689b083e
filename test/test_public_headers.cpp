// SPDX-License-Identifier: MIT
// Compiles the umbrella header alone: the public API must not need any private header, and
// spdlog must not be needed by a consumer that does not log. The headers added since are
// included first, each on its own, to show they need nothing before them. The library's version
// is the headers' (both come from this build).
#include <qmp/event_match.hpp>
#include <qmp/job.hpp>

#include <cstring>

#include <qmp/qmp.hpp>

static_assert(
    QMP_VERSION == QMP_VERSION_MAJOR * 10000 + QMP_VERSION_MINOR * 100 + QMP_VERSION_PATCH);

int main()
{
    qmp::ClientOptions options;
    options.command_timeouts["blockdev-add"] = std::chrono::seconds(60);
    qmp::Client client{options};
    if (std::strcmp(qmp::version(), QMP_VERSION_STRING) != 0)
        return 1;
    const qmp::EventMatch match{"MIGRATION", {{"status", "completed"}}};
    return client.is_connected() || match.name().empty() ||
            qmp::to_string(qmp::JobStatus::ready) == nullptr
        ? 1
        : 0;
}
