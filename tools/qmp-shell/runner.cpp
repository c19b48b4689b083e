// SPDX-License-Identifier: MIT
#include "runner.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <sys/ioctl.h>
#include <unistd.h>

#include "output.hpp"
#include "pager.hpp"
#include "suggest.hpp"

namespace qmp_shell {

using qmp_tools::Request;

namespace {

std::size_t terminal_width()
{
    winsize size{};
    if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

// HMP answers with "\r\n" line ends, which show as ^M in files and pipes.
// HMP's `quit` (or `q`) ends QEMU, which may close the socket before answering.
bool is_hmp_quit(const std::string& line)
{
    const auto first = line.find_first_not_of(" \t");
    const auto end = line.find_first_of(" \t", first);
    const std::string word = first == std::string::npos ? "" : line.substr(first, end - first);
    return word == "quit" || word == "q";
}

std::string without_carriage_returns(std::string text)
{
    std::string result;
    for (char c : text)
        if (c != '\r')
            result += c;
    return result;
}

// QEMU's "Parameter 'pth' is unexpected": the unknown argument's name, or "".
std::string unexpected_parameter(const std::string& description)
{
    const std::string head = "Parameter '";
    const std::string tail = "' is unexpected";
    if (description.rfind(head, 0) != 0 || description.size() < head.size() + tail.size() ||
        description.compare(description.size() - tail.size(), tail.size(), tail) != 0)
        return {};
    return description.substr(head.size(), description.size() - head.size() - tail.size());
}

// Ctrl-C during a command.
struct Interrupted { };

} // namespace

qmp::json Runner::execute(const std::string& command, const qmp::json& arguments)
{
    if (!interrupt_)
        return client_.execute(command, arguments);
    // A Ctrl-C pressed since Enter counts too: the user wants this command stopped.
    qmp::PendingReply reply = client_.execute_async(command, arguments);
    while (!reply.wait_for(std::chrono::milliseconds(20))) {
        if (interrupt_->take_ctrl_c()) {
            reply.cancel();
            throw Interrupted{};
        }
    }
    return reply.get();
}

std::string Runner::unknown_argument(const std::string& command, const qmp::json& arguments)
{
    // device_add takes the properties of whichever device it adds; its schema names only three.
    if (!arguments.is_object() || arguments.empty() || command == "device_add")
        return {};
    const Schema& schema = this->schema(true);
    if (!schema.has_arguments() || schema.arguments_type(command).empty())
        return {};
    // Top-level names only: every union branch's members count (no false refusal), and nested
    // mistakes are left to QEMU, whose error argument_hint() completes.
    std::vector<std::string> known;
    for (const std::string& name : schema.argument_names(command))
        known.push_back(name.substr(0, name.find('.')));
    std::sort(known.begin(), known.end());
    known.erase(std::unique(known.begin(), known.end()), known.end());
    for (const auto& member : arguments.items())
        if (!std::binary_search(known.begin(), known.end(), member.key()))
            return "qmp-shell: " + command + " has no argument '" + member.key() + "'" +
                qmp_tools::did_you_mean(member.key(), known) + "; nothing was sent";
    return {};
}

std::string Runner::argument_hint(const std::string& command, const std::string& description)
{
    const std::string name = unexpected_parameter(description);
    if (name.empty())
        return {};
    return qmp_tools::did_you_mean(name, schema(true).argument_names(command));
}

Runner::Runner(qmp::Client& client, const ShellOptions& options, bool pretty)
    : client_(client),
      options_(options),
      pretty_(pretty),
      colour_(qmp_tools::use_colour(STDERR_FILENO))
{
}

std::string Runner::prompt() const
{
    if (options_.hmp)
        return "(HMP) ";
    return reader_.in_transaction() ? "TRANS> " : "(QEMU) ";
}

const Schema& Runner::schema(bool with_arguments)
{
    if (names_loaded_ && (arguments_loaded_ || !with_arguments))
        return schema_;
    try {
        const qmp::json commands = client_.execute("query-commands");
        qmp::json entities;
        if (with_arguments) {
            entities = client_.schema()->raw(); // the client's copy: fetched once per connection
            arguments_loaded_ = true;
        }
        schema_ = Schema(commands, entities);
        names_loaded_ = true;
    } catch (const qmp::Error&) {
        // Completion and help are conveniences: without them the shell still works.
    }
    return schema_;
}

void Runner::print_error(const std::string& text)
{
    if (before_output_)
        before_output_();
    std::cout.flush();
    std::cerr << text << std::endl;
}

LineResult Runner::run_line(const std::string& line)
{
    // Comments as in scripts (no QMP command or HMP command starts with '#').
    const auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#' && !reader_.in_transaction())
        return LineResult::ok;
    if (options_.hmp)
        return run_hmp(line);
    try {
        const std::vector<qmp_tools::Word> words = qmp_tools::split_words(line);
        if (!reader_.in_transaction() && !words.empty() && words.front().text == "help")
            return run_help(line);
        const std::optional<Request> request = reader_.feed(line);
        return request ? run_request(*request) : LineResult::ok;
    } catch (const qmp_tools::SyntaxError& e) {
        print_error(qmp_tools::format_syntax_error(line, e));
        return LineResult::failed;
    }
}

LineResult Runner::run_help(const std::string& line)
{
    const std::vector<qmp_tools::Word> words = qmp_tools::split_words(line);
    if (words.size() > 2)
        throw qmp_tools::SyntaxError("help takes at most one command name", words[2].column);
    const Schema& schema = this->schema(words.size() == 2);
    if (!client_.is_connected()) {
        print_error("qmp-shell: disconnected");
        return LineResult::disconnected;
    }
    if (words.size() == 1) {
        print_paged(schema.list_commands(terminal_width()) +
            "Type 'help COMMAND' for a command's arguments.\n");
        return LineResult::ok;
    }
    if (!schema.has_command(words[1].text)) {
        print_error("qmp-shell: no such command: " + words[1].text +
            qmp_tools::did_you_mean(words[1].text, schema.command_names()));
        return LineResult::failed;
    }
    std::string text = schema.describe(words[1].text);
    if (words[1].text == "transaction") {
        text += "  actions, one per line or all on one: transaction( ACTION KEY=VALUE ... )\n";
        for (const std::string& action : schema.action_names())
            text += "    " + action + "\n";
    }
    print_paged(text);
    return LineResult::ok;
}

LineResult Runner::run_request(const Request& request)
{
    try {
        if (!request.raw.is_null())
            return run_raw(request);
        if (const std::string refused = unknown_argument(request.command, request.arguments);
            !refused.empty()) {
            print_error(refused);
            return LineResult::failed;
        }
        const qmp::json value = execute(request.command, request.arguments);
        if (before_output_)
            before_output_();
        std::cout << qmp_tools::format_json(qmp::json{{"return", value}}, pretty_) << std::endl;
        return request.command == "quit" ? LineResult::quit : LineResult::ok;
    } catch (const qmp::ExecuteError& e) {
        print_error(qmp_tools::format_error(e.error_class(), e.description(), colour_) +
            argument_hint(request.command, e.description()));
        return LineResult::failed;
    } catch (const Interrupted&) {
        print_error("qmp-shell: interrupted; QEMU may still carry out " + request.command);
        return LineResult::failed;
    } catch (const qmp::TimeoutError& e) {
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::failed;
    } catch (const qmp::UsageError& e) {
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::failed;
    } catch (const qmp::DisconnectedError& e) {
        // QEMU may close the socket before it answers `quit`: that is the expected end.
        if (request.command == "quit") {
            std::cout << qmp_tools::format_json(qmp::json{{"return", qmp::json::object()}}, pretty_)
                      << std::endl;
            return LineResult::quit;
        }
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::disconnected;
    }
}

// A JSON object line: sent exactly as typed, and its reply shown whole (with the id).
LineResult Runner::run_raw(const Request& request)
{
    const qmp::json reply = client_.execute_raw(request.raw);
    if (before_output_)
        before_output_();
    const auto error = reply.find("error");
    if (error != reply.end() && error->is_object()) {
        print_error(qmp_tools::format_error(
            error->value("class", "Error"), error->value("desc", ""), colour_));
        return LineResult::failed;
    }
    std::cout << qmp_tools::format_json(reply, pretty_) << std::endl;
    return request.command == "quit" ? LineResult::quit : LineResult::ok;
}

// HMP's `cpu N` only lasts for one human-monitor-command: as Python's qmp-shell does, remember N
// (once QEMU accepts it) and pass it as cpu-index with every later line.
LineResult Runner::select_cpu(const std::string& argument)
{
    char* end = nullptr;
    const long index = std::strtol(argument.c_str(), &end, 10);
    if (argument.empty() || *end != '\0' || index < 0 || index > INT_MAX) {
        print_error("qmp-shell: cpu takes a CPU index, e.g. cpu 1");
        return LineResult::failed;
    }
    try {
        client_.execute("human-monitor-command",
            {{"command-line", "info version"}, {"cpu-index", static_cast<int>(index)}});
    } catch (const qmp::ExecuteError&) {
        print_error("qmp-shell: no CPU " + argument);
        return LineResult::failed;
    } catch (const qmp::DisconnectedError& e) {
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::disconnected;
    } catch (const qmp::Error& e) {
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::failed;
    }
    cpu_index_ = static_cast<int>(index);
    return LineResult::ok;
}

LineResult Runner::run_hmp(const std::string& line)
{
    if (line.find_first_not_of(" \t") == std::string::npos)
        return LineResult::ok;
    const std::vector<std::string> words = [&line] {
        std::vector<std::string> result;
        std::istringstream stream(line);
        for (std::string word; stream >> word;)
            result.push_back(word);
        return result;
    }();
    if (words[0] == "cpu" && words.size() == 2)
        return select_cpu(words[1]);
    qmp::json arguments{{"command-line", line}};
    if (cpu_index_)
        arguments["cpu-index"] = *cpu_index_;
    try {
        const qmp::json value = execute("human-monitor-command", arguments);
        if (before_output_)
            before_output_();
        std::cout << without_carriage_returns(
                         value.is_string() ? value.get<std::string>() : value.dump())
                  << std::flush;
        return is_hmp_quit(line) ? LineResult::quit : LineResult::ok;
    } catch (const qmp::ExecuteError& e) {
        print_error(qmp_tools::format_error(e.error_class(), e.description(), colour_));
        return LineResult::failed;
    } catch (const Interrupted&) {
        print_error("qmp-shell: interrupted; QEMU may still carry out the HMP command");
        return LineResult::failed;
    } catch (const qmp::DisconnectedError& e) {
        if (is_hmp_quit(line))
            return LineResult::quit;
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::disconnected;
    } catch (const qmp::Error& e) {
        print_error(std::string("qmp-shell: ") + e.what());
        return LineResult::failed;
    }
}

} // namespace qmp_shell
