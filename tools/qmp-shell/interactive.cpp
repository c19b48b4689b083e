// SPDX-License-Identifier: MIT
#include "interactive.hpp"

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <poll.h>
#include <unistd.h>

#include "completion.hpp"
#include "event_pump.hpp"
#include "line_editor.hpp"
#include "live_names.hpp"
#include "output.hpp"
#include "runner.hpp"

namespace qmp_shell {

namespace {

std::string history_path()
{
    const char* home = std::getenv("HOME");
    return home && *home ? std::string(home) + "/.qmp-shell_history" : std::string();
}

std::string banner(qmp_tools::Session& session, const qmp_tools::Target& target)
{
    const qmp::Version version = session.client().greeting().version;
    const std::string text = "Welcome to qmp-shell, connected to QEMU " +
        std::to_string(version.major) + "." + std::to_string(version.minor) + "." +
        std::to_string(version.micro);
    const bool editing = std::string(line_editor_name()) != "plain";
    const std::string which = target.launch_by_default
        ? "No address given: this is a disposable " + target.launch->binary +
            ", removed when you leave (give ADDRESS or set QMP_SOCKET for your VM).\n"
        : "";
    return text + " (" + session.describe() + ").\n" + which + "Type 'help' for the commands, " +
        (editing ? "TAB to complete, " : "") + "Ctrl-D to leave.\n";
}

} // namespace

int run_interactive(qmp_tools::Session& session, const ShellOptions& options, bool pretty,
    qmp_tools::Interrupt& interrupt)
{
    qmp::Client& client = session.client();
    Runner runner(client, options, pretty);
    std::cout << banner(session, options.target) << std::flush;
    if (!options.hmp)
        runner.schema(false); // command names for TAB, now rather than on the first TAB

    std::vector<std::string> hmp_commands;
    std::vector<std::string> hmp_info;
    if (options.hmp) {
        hmp_commands = hmp_command_names(hmp_text(client, "help"));
        hmp_info = hmp_command_names(hmp_text(client, "help info"), "info ");
    }
    Completer completer = [&](const std::string& before, const std::string& word) {
        if (options.hmp)
            return complete_hmp(hmp_commands, hmp_info, before, word);
        const bool in_transaction = runner.prompt() == "TRANS> ";
        CompletionSources sources{runner.schema(false),
            needs_arguments(before, in_transaction) ? &runner.schema(true) : nullptr,
            in_transaction, [&](const std::string& path) { return qom_names(client, path, true); },
            [&](const std::string& path) { return qom_names(client, path, false); }};
        return complete(sources, before, word);
    };
    auto editor = make_line_editor(history_path(), completer);
    // The pump is destroyed (and its thread joined) before the editor restores the terminal.
    EventPump pump(client);

    // One line per event unless -p or -C asked for whole JSON messages; none with --no-events.
    auto show_events = [&] {
        for (const qmp::Event& event : pump.take()) {
            if (options.hide_events)
                continue;
            editor->print_above(
                (options.pretty ? qmp_tools::format_event_json(event.raw, pretty)
                                : qmp_tools::format_event_line(event.name, event.data)) +
                "\n");
        }
    };

    runner.set_before_output(show_events);
    // Ctrl-C cancels the line being typed or the command running, not the shell.
    interrupt.set_ctrl_c_cancels(true);
    runner.set_interrupt(&interrupt);
    struct Restore {
        qmp_tools::Interrupt& interrupt;
        ~Restore() { interrupt.set_ctrl_c_cancels(false); }
    } restore{interrupt};

    int status = exit_ok;
    editor->start(runner.prompt());
    for (;;) {
        if (!editor->has_buffered_line()) {
            pollfd fds[] = {{STDIN_FILENO, POLLIN, 0}, {pump.fd(), POLLIN, 0},
                {interrupt.fd(), POLLIN, 0}, {interrupt.ctrl_c_fd(), POLLIN, 0}};
            if (::poll(fds, 4, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            if (fds[2].revents) {
                editor->abandon(); // leave the prompt's line
                status = interrupt.exit_status();
                break;
            }
            if (fds[3].revents && interrupt.take_ctrl_c()) {
                editor->cancel_line(); // as in every shell; Ctrl-D leaves
                continue;
            }
            if (fds[1].revents) {
                show_events();
                if (const auto why = pump.ended()) {
                    editor->abandon();
                    std::cout << "qmp-shell: " << *why << std::endl;
                    status = exit_connection;
                    break;
                }
            }
            if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
        }
        const LineEditor::Input input = editor->on_readable();
        if (input.end) {
            std::cout << std::endl;
            break;
        }
        if (!input.line)
            continue;
        editor->remember(*input.line);
        const LineResult result = runner.run_line(*input.line);
        show_events();
        if (result == LineResult::quit)
            break;
        if (result == LineResult::disconnected) {
            status = interrupt.requested() ? interrupt.exit_status() : exit_connection;
            break;
        }
        editor->start(runner.prompt());
    }
    return status;
}

} // namespace qmp_shell
