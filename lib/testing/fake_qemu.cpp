// SPDX-License-Identifier: MIT
// The public faces of the fakes: FakeEndpoint, FakeQemu and FakeGuestAgent over one Engine.
#include <qmp/testing.hpp>

#include <qmp/error.hpp>

#include <utility>

#include "engine.hpp"

namespace qmp::testing {

FakeEndpoint::FakeEndpoint(std::unique_ptr<detail::Engine> engine) : engine_(std::move(engine))
{
}

FakeEndpoint::~FakeEndpoint() = default;

std::string FakeEndpoint::address() const
{
    return engine_->address();
}

Rule FakeEndpoint::on(std::string command)
{
    return engine_->add_rule(std::move(command), std::nullopt, false);
}

Rule FakeEndpoint::on(std::string command, json arguments)
{
    if (!arguments.is_object())
        throw UsageError("qmp: FakeEndpoint::on(" + command +
            "): the arguments to match must be an object, not " + arguments.dump());
    return engine_->add_rule(std::move(command), std::move(arguments), false);
}

std::vector<json> FakeEndpoint::received(const std::string& command) const
{
    return engine_->received(command);
}

std::vector<json> FakeEndpoint::messages() const
{
    return engine_->messages();
}

std::vector<json> FakeEndpoint::unexpected() const
{
    return engine_->unexpected();
}

bool FakeEndpoint::wait_for(
    const std::string& command, std::chrono::milliseconds timeout, std::size_t count) const
{
    return engine_->wait_for(command, timeout, count);
}

bool FakeEndpoint::wait_for_connections(std::size_t count, std::chrono::milliseconds timeout) const
{
    return engine_->wait_for_connections(count, timeout);
}

bool FakeEndpoint::wait_for_disconnect(std::chrono::milliseconds timeout) const
{
    return engine_->wait_for_disconnect(timeout);
}

std::size_t FakeEndpoint::connections() const
{
    return engine_->connections();
}

bool FakeEndpoint::is_connected() const
{
    return engine_->is_connected();
}

void FakeEndpoint::hang_up()
{
    engine_->close_connection(false);
}

void FakeEndpoint::reset()
{
    engine_->close_connection(true);
}

void FakeEndpoint::serve_with(Script script)
{
    engine_->serve_with(std::move(script));
}

bool FakeEndpoint::wait_for_scripts(std::size_t count, std::chrono::milliseconds timeout) const
{
    return engine_->wait_for_scripts(count, timeout);
}

std::vector<std::string> FakeEndpoint::script_failures() const
{
    return engine_->script_failures();
}

void FakeEndpoint::serve_connection(int fd)
{
    if (fd < 0)
        throw UsageError(
            "qmp: FakeEndpoint::serve_connection(): no socket (fd " + std::to_string(fd) + ")");
    engine_->serve_connection(fd);
}

void FakeEndpoint::stop()
{
    engine_->stop();
}

FakeQemu::FakeQemu() : FakeEndpoint(std::make_unique<detail::Engine>(detail::Dialect::qmp))
{
}

FakeQemu::~FakeQemu() = default;

Rule FakeQemu::on_connect()
{
    return engine_->add_rule("", std::nullopt, true);
}

void FakeQemu::set_greeting(const Version& version, json capabilities)
{
    json greeting = qemu_7_2_greeting(std::move(capabilities));
    greeting["QMP"]["version"] = {
        {"qemu", {{"micro", version.micro}, {"minor", version.minor}, {"major", version.major}}},
        {"package", version.package}};
    engine_->set_greeting(std::move(greeting));
}

void FakeQemu::set_greeting_message(json greeting)
{
    engine_->set_greeting(std::move(greeting));
}

void FakeQemu::disable_greeting()
{
    engine_->set_greeting(std::nullopt);
}

json FakeQemu::qemu_7_2_greeting(json capabilities)
{
    return {{"QMP",
        {{"version",
             {{"qemu", {{"micro", 22}, {"minor", 2}, {"major", 7}}},
                 {"package", "Debian 1:7.2+dfsg-7+deb12u18+b3"}}},
            {"capabilities", std::move(capabilities)}}}};
}

bool FakeQemu::emit(const std::string& name, const json& data)
{
    return engine_->emit(name, data);
}

void FakeQemu::use_schema(json schema)
{
    engine_->use_schema(std::make_shared<const detail::SchemaChecker>(std::move(schema)));
}

FakeGuestAgent::FakeGuestAgent()
    : FakeEndpoint(std::make_unique<detail::Engine>(detail::Dialect::guest_agent))
{
}

FakeGuestAgent::~FakeGuestAgent() = default;

} // namespace qmp::testing
