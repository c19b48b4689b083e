// SPDX-License-Identifier: MIT
#include "agent.hpp"

#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <qmp/qmp.hpp>

#include "agent_commands.hpp"
#include "command_syntax.hpp"
#include "line_editor.hpp"
#include "output.hpp"
#include "runner.hpp"
#include "schema.hpp"
#include "script.hpp"
#include "traffic_log.hpp"

namespace qmp_shell {

namespace {

using qmp_tools::Request;

std::size_t terminal_width()
{
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

std::string history_path()
{
    const char* home = std::getenv("HOME");
    return home && *home ? std::string(home) + "/.qmp-shell-agent_history" : std::string();
}

// QMP mode's Runner for the guest agent: parses a line, sends it, prints the reply or error.
class AgentRunner {
public:
    AgentRunner(qmp::GuestAgent& agent, const ShellOptions& options, bool pretty)
        : agent_(agent),
          options_(options),
          pretty_(pretty),
          colour_(qmp_tools::use_colour(STDERR_FILENO))
    {
    }

    LineResult run_line(const std::string& line)
    {
        try {
            const std::vector<qmp_tools::Word> words = qmp_tools::split_words(line);
            if (!reader_.in_transaction() && !words.empty() && words.front().text == "help")
                return run_help(words);
            const std::optional<Request> request = reader_.feed(line);
            return request ? run_request(*request) : LineResult::ok;
        } catch (const qmp_tools::SyntaxError& e) {
            print_error(qmp_tools::format_syntax_error(line, e));
            return LineResult::failed;
        }
    }

    std::string prompt() const { return reader_.in_transaction() ? "TRANS> " : "(QGA) "; }

    // guest-info, asked once; null when the agent did not answer.
    const qmp::json& info()
    {
        if (!info_loaded_) {
            try {
                info_ = agent_.execute("guest-info");
                commands_ = enabled_agent_commands(info_);
                info_loaded_ = true;
            } catch (const qmp::Error&) {
                // Completion and help are conveniences: without them the shell still works.
            }
        }
        return info_;
    }

    const std::vector<std::string>& commands()
    {
        info();
        return commands_;
    }

private:
    void print_error(const std::string& text)
    {
        std::cout.flush();
        std::cerr << text << std::endl;
    }

    LineResult run_help(const std::vector<qmp_tools::Word>& words)
    {
        if (words.size() > 2)
            throw qmp_tools::SyntaxError("help takes at most one command name", words[2].column);
        const qmp::json& info = this->info();
        if (!agent_.is_connected()) {
            print_error("qmp-shell: disconnected");
            return LineResult::disconnected;
        }
        if (words.size() == 1) {
            qmp::json names = qmp::json::array();
            for (const std::string& name : commands_)
                names.push_back({{"name", name}});
            std::cout << Schema(names, nullptr).list_commands(terminal_width())
                      << "The guest agent describes no arguments; see QEMU's qemu-ga-ref."
                      << std::endl;
            return LineResult::ok;
        }
        const std::string& name = words[1].text;
        if (info.is_object() && info.contains("supported_commands") &&
            info["supported_commands"].is_array()) {
            for (const auto& command : info["supported_commands"]) {
                if (!command.is_object() || command.value("name", "") != name)
                    continue;
                std::cout << name << ": "
                          << (command.value("enabled", true) ? "enabled" : "disabled")
                          << (command.value("success-response", true) ? ""
                                                                      : ", no reply on success")
                          << std::endl;
                return LineResult::ok;
            }
        }
        print_error("qmp-shell: no such command: " + name);
        return LineResult::failed;
    }

    LineResult run_request(const Request& request)
    {
        // The agent client sends "execute" and "arguments" only: no ids of the user's, no oob.
        if (!request.raw.is_null()) {
            for (const auto& member : request.raw.items()) {
                if (member.key() != "execute" && member.key() != "arguments") {
                    print_error("qmp-shell: the guest agent takes only \"execute\" and "
                                "\"arguments\", not \"" +
                        member.key() + "\"");
                    return LineResult::failed;
                }
            }
        }
        // guest-shutdown ends the agent with the guest, as `quit` ends QEMU in QMP mode.
        const bool ends = request.command == "guest-shutdown";
        try {
            const qmp::json value = agent_.execute(request.command, request.arguments);
            std::cout << qmp_tools::format_json(qmp::json{{"return", value}}, pretty_) << std::endl;
            return ends ? LineResult::quit : LineResult::ok;
        } catch (const qmp::ExecuteError& e) {
            print_error(qmp_tools::format_error(e.error_class(), e.description(), colour_));
            return LineResult::failed;
        } catch (const qmp::TimeoutError& e) {
            print_error(std::string("qmp-shell: ") + e.what());
            return LineResult::failed;
        } catch (const qmp::UsageError& e) {
            print_error(std::string("qmp-shell: ") + e.what());
            return LineResult::failed;
        } catch (const qmp::DisconnectedError& e) {
            print_error(std::string("qmp-shell: ") + e.what());
            return LineResult::disconnected;
        }
    }

    qmp::GuestAgent& agent_;
    const ShellOptions& options_;
    bool pretty_;
    bool colour_;
    qmp_tools::CommandReader reader_;
    qmp::json info_;
    std::vector<std::string> commands_;
    bool info_loaded_ = false;
};

// While it lives, an interrupt (Ctrl-C, SIGTERM) disconnects the agent so that blocked calls
// return.
class DisconnectOnInterrupt {
public:
    DisconnectOnInterrupt(qmp_tools::Interrupt& interrupt, qmp::GuestAgent& agent)
        : interrupt_(interrupt)
    {
        interrupt_.on_interrupt([&agent] { agent.disconnect(); });
    }
    ~DisconnectOnInterrupt() { interrupt_.on_interrupt({}); }
    DisconnectOnInterrupt(const DisconnectOnInterrupt&) = delete;
    DisconnectOnInterrupt& operator=(const DisconnectOnInterrupt&) = delete;

private:
    qmp_tools::Interrupt& interrupt_;
};

int run_interactive_agent(
    qmp::GuestAgent& agent, AgentRunner& runner, qmp_tools::Interrupt& interrupt)
{
    const qmp::json& info = runner.info(); // command names for TAB, now rather than on the first
    const std::string version =
        info.is_object() && info.contains("version") && info["version"].is_string()
        ? " " + info["version"].get<std::string>()
        : std::string();
    const bool editing = std::string(line_editor_name()) != "plain";
    std::cout << "Welcome to qmp-shell, connected to the QEMU guest agent" << version << " ("
              << agent.address() << ").\nType 'help' for the commands, "
              << (editing ? "TAB to complete, " : "") << "Ctrl-D to leave.\n"
              << std::flush;

    Completer completer = [&runner](const std::string& before, const std::string& word) {
        return complete_agent_command(runner.commands(), before, word);
    };
    auto editor = make_line_editor(history_path(), completer);
    // At the prompt Ctrl-C cancels the line, as in every shell. While a command runs it is the
    // interrupt it always was: the agent client is disconnected and the shell ends (a guest
    // agent command cannot be abandoned and the channel kept in step without waiting for it).
    struct CtrlCAtThePrompt {
        qmp_tools::Interrupt& interrupt;
        CtrlCAtThePrompt(qmp_tools::Interrupt& i) : interrupt(i)
        {
            interrupt.set_ctrl_c_cancels(true);
        }
        ~CtrlCAtThePrompt() { interrupt.set_ctrl_c_cancels(false); }
    } at_the_prompt{interrupt};
    int status = exit_ok;
    editor->start(runner.prompt());
    for (;;) {
        if (!editor->has_buffered_line()) {
            pollfd fds[] = {{STDIN_FILENO, POLLIN, 0}, {interrupt.fd(), POLLIN, 0},
                {interrupt.ctrl_c_fd(), POLLIN, 0}};
            if (::poll(fds, 3, -1) < 0) {
                if (errno == EINTR)
                    continue;
                break;
            }
            if (fds[1].revents) {
                editor->abandon(); // leave the prompt's line
                status = interrupt.exit_status();
                break;
            }
            if (fds[2].revents && interrupt.take_ctrl_c()) {
                editor->cancel_line();
                continue;
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
        interrupt.set_ctrl_c_cancels(false);
        if (interrupt.take_ctrl_c()) { // pressed as Enter was: the line is cancelled
            interrupt.set_ctrl_c_cancels(true);
            editor->start(runner.prompt());
            continue;
        }
        const LineResult result = runner.run_line(*input.line);
        interrupt.set_ctrl_c_cancels(true);
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

} // namespace

int run_agent(const ShellOptions& options, qmp_tools::Interrupt& interrupt)
{
    const bool interactive = options.commands.empty() && ::isatty(STDIN_FILENO);
    const bool pretty = options.pretty.value_or(::isatty(STDOUT_FILENO) != 0);

    qmp::GuestAgentOptions agent_options;
    if (options.timeout)
        agent_options.command_timeout = *options.timeout;
    // -v echoes the bytes the library sends (the synchronisations too), as in QMP mode.
    agent_options.logger = qmp_tools::make_traffic_logger(options.log_file, options.verbose);
    qmp::GuestAgent agent(agent_options);
    // Ctrl-C also ends the connect (and its synchronisation with the agent).
    interrupt.interruptible(
        [&] {
            if (!interrupt.requested())
                agent.connect(*options.agent);
        },
        [&agent] { agent.disconnect(); });
    const DisconnectOnInterrupt disconnect_on_interrupt(interrupt, agent);
    if (interrupt.requested())
        return interrupt.exit_status();
    if (options.verbose)
        std::cerr << "qmp-shell: connected to the guest agent at " << agent.address() << std::endl;

    AgentRunner runner(agent, options, pretty);
    int status = exit_ok;
    if (interactive) {
        status = run_interactive_agent(agent, runner, interrupt);
    } else if (!options.commands.empty()) {
        status = run_commands(
            options.commands, [&runner](const std::string& line) { return runner.run_line(line); },
            [&runner] { return runner.prompt(); });
    } else {
        status = run_script(
            [&runner](const std::string& line) { return runner.run_line(line); }, interrupt);
    }
    if (interrupt.requested())
        return interrupt.exit_status();
    return status;
}

} // namespace qmp_shell
