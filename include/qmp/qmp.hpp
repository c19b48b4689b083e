// SPDX-License-Identifier: MIT
/// \file
/// The whole public API of qmp, a C++ client for the QEMU Machine Protocol.
#pragma once

#include <qmp/client.hpp>
#include <qmp/error.hpp>
#include <qmp/event.hpp>
#include <qmp/event_match.hpp>
#include <qmp/event_queue.hpp>
#include <qmp/guest_agent.hpp>
#include <qmp/job.hpp>
#include <qmp/json.hpp>
#include <qmp/machine.hpp>
#include <qmp/options.hpp>
#include <qmp/pending_reply.hpp>
#include <qmp/schema.hpp>
#include <qmp/server.hpp>
#include <qmp/version.hpp>

/// Everything of qmp's API. (Namespace qmp::detail, used by the headers for private types, is
/// not part of it.)
namespace qmp {
}
