// SPDX-License-Identifier: MIT
// qmp-shell: an interactive and scriptable shell for QEMU's QMP monitor. See usage_text.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <poll.h>
#include <unistd.h>

#include <qmp/qmp.hpp>

#include "agent.hpp"
#include "interactive.hpp"
#include "interrupt.hpp"
#include "options.hpp"
#include "output.hpp"
#include "runner.hpp"
#include "schema.hpp"
#include "script.hpp"
#include "session.hpp"
#include "suggest.hpp"
#include "target_options.hpp"
#include "traffic_log.hpp"

using namespace qmp_shell;

namespace {

// On a terminal an event is one line (EVENT STOP {...}) unless -p or -C asked for JSON; in a
// pipe it is the whole JSON message, for programs.
std::string format_event(const qmp::Event& event, const ShellOptions& options, bool pretty)
{
    if (!options.pretty && ::isatty(STDOUT_FILENO))
        return qmp_tools::format_event_line(event.name, event.data);
    return qmp_tools::format_event_json(event.raw, pretty);
}

int run_wait_event(qmp_tools::Session& session, const ShellOptions& options, bool pretty)
{
    const std::string& name = *options.wait_event;
    // A name QEMU never sends (a typo, the wrong case) would wait forever.
    try {
        const Schema schema(qmp::json::array(), session.client().execute("query-qmp-schema"));
        const std::vector<std::string> events = schema.event_names();
        if (!events.empty() && !std::binary_search(events.begin(), events.end(), name)) {
            std::cerr << "qmp-shell: --wait-event: QEMU has no event " << name
                      << qmp_tools::did_you_mean(name, events) << std::endl;
            return exit_usage;
        }
    } catch (const qmp::ExecuteError&) {
        // No schema (an old QEMU): wait as asked.
    }
    if (options.verbose)
        std::cerr << "qmp-shell: waiting for event " << name << std::endl;
    const auto timeout = options.timeout.value_or(qmp::wait_forever);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (timeout == qmp::wait_forever)
            left = qmp::wait_forever;
        else if (left.count() <= 0)
            break;
        const std::optional<qmp::Event> event = session.client().events().pop(left);
        if (!event)
            break;
        if (event->name == name) {
            std::cout << format_event(*event, options, pretty) << std::endl;
            return exit_ok;
        }
    }
    std::cerr << "qmp-shell: no " << name << " event within " << timeout.count() / 1000.0 << " s"
              << std::endl;
    return exit_command_failed;
}

int run_events(qmp_tools::Session& session, const ShellOptions& options, bool pretty,
    qmp_tools::Interrupt& interrupt)
{
    if (options.verbose)
        std::cerr << "qmp-shell: printing events until interrupted" << std::endl;
    try {
        for (;;)
            std::cout << format_event(session.client().events().pop(), options, pretty)
                      << std::endl;
    } catch (const qmp::DisconnectedError& e) {
        if (interrupt.requested())
            return exit_ok; // the way --events is meant to end
        std::cerr << "qmp-shell: " << e.what() << std::endl;
        return exit_connection;
    }
}

int run(const ShellOptions& options, qmp_tools::Interrupt& interrupt)
{
    const bool interactive = options.commands.empty() && !options.wait_event && !options.events &&
        ::isatty(STDIN_FILENO);
    const bool pretty = options.pretty.value_or(::isatty(STDOUT_FILENO) != 0);

    qmp::ClientOptions client_options;
    if (options.timeout)
        client_options.command_timeout = *options.timeout;
    client_options.logger = qmp_tools::make_traffic_logger(options.log_file, options.verbose);
    if (options.num_retries > 0) {
        client_options.retry_connect = true;
        client_options.retry_interval = options.retry_delay;
        client_options.connect_timeout = std::max(client_options.connect_timeout,
            options.retry_delay * static_cast<int>(options.num_retries + 1));
        client_options.reconnect = true;
        client_options.reconnect_delay = options.retry_delay;
        client_options.reconnect_max_delay = options.retry_delay;
        client_options.on_state_change = [](qmp::ConnectionState state) {
            if (state == qmp::ConnectionState::reconnecting)
                std::fprintf(stderr, "qmp-shell: connection lost, reconnecting\n");
        };
    }
    // Unknown command names fail before anything is sent, with the closest known name.
    client_options.check_commands = true;

    qmp_tools::Session session(options.target, client_options, interrupt, "qmp-shell");
    if (options.verbose && session.launched())
        std::cerr << "qmp-shell: started " << session.describe() << std::endl;
    if (interrupt.requested())
        return interrupt.exit_status();

    if (options.events)
        return run_events(session, options, pretty, interrupt);
    if (interactive)
        return run_interactive(session, options, pretty, interrupt);
    int status = exit_ok;
    if (!options.commands.empty()) {
        Runner runner(session.client(), options, pretty);
        status = run_commands(
            options.commands, [&runner](const std::string& line) { return runner.run_line(line); },
            [&runner] { return runner.prompt(); });
    }
    if (options.wait_event && status == exit_ok)
        status = run_wait_event(session, options, pretty);
    if (options.commands.empty() && !options.wait_event) {
        Runner runner(session.client(), options, pretty);
        status = run_script(
            [&runner](const std::string& line) { return runner.run_line(line); }, interrupt);
    }
    if (interrupt.requested())
        return interrupt.exit_status();
    return status;
}

} // namespace

int main(int argc, char** argv)
{
    // First: blocks SIGINT/SIGTERM before any other thread exists (see Interrupt).
    qmp_tools::Interrupt interrupt;
    ShellOptions options;
    try {
        options = parse_options(argc, argv);
    } catch (const qmp_tools::UsageError& e) {
        std::cerr << "qmp-shell: " << e.what() << "\nTry 'qmp-shell --help'." << std::endl;
        return exit_usage;
    }
    if (options.help) {
        std::printf(usage_text, qmp_tools::target_help);
        return exit_ok;
    }
    try {
        return options.agent ? run_agent(options, interrupt) : run(options, interrupt);
    } catch (const qmp_tools::UsageError& e) {
        std::cerr << "qmp-shell: " << e.what() << std::endl;
        return exit_usage;
    } catch (const qmp::DisconnectedError& e) {
        if (interrupt.requested())
            return interrupt.exit_status();
        std::cerr << "qmp-shell: " << e.what() << std::endl;
        return exit_connection;
    } catch (const qmp::Error& e) {
        if (interrupt.requested())
            return interrupt.exit_status();
        std::cerr << "qmp-shell: " << e.what() << std::endl;
        return exit_connection;
    } catch (const std::exception& e) {
        std::cerr << "qmp-shell: " << e.what() << std::endl;
        return exit_connection;
    }
}
