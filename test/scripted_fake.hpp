// SPDX-License-Identifier: MIT
// qmp's own tests on qmp::testing's fake, served by scripts (FakeEndpoint::serve_with()) where
// rules cannot say it: garbage, hang-ups in the middle of a message, huge or deep messages,
// replies out of order, silence. One fake for every test: this only ties a script's failures to
// the test that ran it.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include <qmp/json.hpp>
#include <qmp/testing.hpp>

#include "fake_options.hpp" // quick_options(), quick_agent_options()
#include "process_probe.hpp"
#include "temporary_directory.hpp"

namespace qmp::test {

using namespace std::chrono_literals;
using qmp::testing::FakeConnection;

/// A fake (FakeQemu or FakeGuestAgent) whose every connection is served by \p script; what the
/// script threw fails the test when the fake is destroyed.
template <class Fake> class Scripted : public Fake {
public:
    explicit Scripted(qmp::testing::FakeEndpoint::Script script)
    {
        this->serve_with(std::move(script));
    }
    ~Scripted() override
    {
        this->stop(); // no script runs any more: every failure is recorded
        for (const std::string& failure : this->script_failures())
            ADD_FAILURE() << "the fake's script failed: " << failure;
    }

    using Fake::wait_for_scripts;
    /// Waits (at most 10 s) until \p count scripts have returned.
    bool wait_for_scripts(std::size_t count) const { return Fake::wait_for_scripts(count, 10s); }

    /// The socket's path (address() without "unix:").
    std::string path() const { return this->address().substr(5); }
};

using ScriptedQemu = Scripted<qmp::testing::FakeQemu>;
using ScriptedAgent = Scripted<qmp::testing::FakeGuestAgent>;

/// A socket path in a private directory where nothing listens, until move_here() puts a fake's
/// socket there (for clients that connect before their peer is up).
class MissingSocket {
public:
    MissingSocket() : directory_(qmp::detail::TemporaryDirectory::create()) { }

    std::string path() const { return directory_.path() + "/qmp.sock"; }
    std::string address() const { return "unix:" + path(); }

    /// Moves \p fake's listening socket to path(): clients connecting there reach it from now on.
    template <class Fake> void move_here(const Scripted<Fake>& fake) const
    {
        ASSERT_EQ(std::rename(fake.path().c_str(), path().c_str()), 0);
    }

private:
    qmp::detail::TemporaryDirectory directory_;
};

/// A greeting like QEMU 7.2's.
inline json qemu_greeting(const json& capabilities = json::array({"oob"}))
{
    return qmp::testing::FakeQemu::qemu_7_2_greeting(capabilities);
}

} // namespace qmp::test
