// SPDX-License-Identifier: MIT
// qom: list, read, write and draw QEMU's object model (QOM) over QMP.
#include <cstdio>
#include <cstdlib>
#include <getopt.h>
#include <iostream>
#include <set>
#include <unistd.h>

#include <qmp/qmp.hpp>

#include "command_syntax.hpp"
#include "interrupt.hpp"
#include "output.hpp"
#include "qom_commands.hpp"
#include "session.hpp"
#include "target_options.hpp"
#include "timeout_option.hpp"
#include "traffic_log.hpp"

namespace {

const char* const usage_text =
    "Usage: qom [OPTIONS] [ADDRESS | --listen ADDRESS | --fd N] COMMAND [ARGS]\n"
    "       qom [OPTIONS] COMMAND [ARGS] [--launch] [-- [PROGRAM] [QEMU ARGS...]]\n"
    "\n"
    "Commands:\n"
    "  ls PATH                   children (name/), links (@name/) and properties of PATH\n"
    "  get PATH.PROPERTY         print a property (strings as they are, others as JSON)\n"
    "  set PATH.PROPERTY VALUE   set a property; VALUE is JSON if it parses as JSON\n"
    "                            (1, true, \"text\", {...}), else a string\n"
    "  tree [PATH]               the composition tree below PATH (default /), indented\n"
    "\n"
    "Options:\n"
    "  -p, --pretty     pretty-print JSON values\n"
    "  -l, --log FILE   log all QMP traffic to FILE\n"
    "      --timeout S  bound each command (default 30 s) and --listen's wait (default 60 s)\n"
    "  -h, --help       show this help\n"
    "\n"
    "%s"
    "\n"
    "Exit status: 0 success; 1 QEMU refused a command; 2 bad arguments; 3 cannot connect or\n"
    "start QEMU, or the connection was lost; 128+N after signal N.\n";

enum { exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_connection = 3 };

struct QomOptions {
    qmp_tools::Target target;
    std::vector<std::string> command; // the command and its arguments
    bool pretty = false;
    std::string log_file;
    std::optional<std::chrono::milliseconds> timeout;
    bool help = false;
};

const std::set<std::string> commands = {"ls", "get", "set", "tree"};

QomOptions parse_options(int argc, char** argv)
{
    enum { opt_timeout = 256 };
    static const option long_options[] = {
        {"pretty", no_argument, nullptr, 'p'},
        {"log", required_argument, nullptr, 'l'},
        {"timeout", required_argument, nullptr, opt_timeout},
        qmp_tools::TargetOptions::launch_option,
        qmp_tools::TargetOptions::listen_option,
        qmp_tools::TargetOptions::fd_option,
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    qmp_tools::TargetOptions target(argc, argv);
    QomOptions options;
    opterr = 0;
    optind = 1;
    for (;;) {
        // '+': stop at the first non-option, so "qom set /x.y -1" takes -1 as the value.
        const int c = getopt_long(target.argc(), target.argv(), "+pl:h", long_options, nullptr);
        if (c == -1)
            break;
        switch (c) {
        case 'p':
            options.pretty = true;
            break;
        case 'l':
            options.log_file = optarg;
            break;
        case opt_timeout:
            options.timeout = qmp_tools::parse_timeout_seconds(optarg);
            break;
        case qmp_tools::TargetOptions::launch_code:
            target.launch = true;
            break;
        case qmp_tools::TargetOptions::listen_code:
            target.listen = optarg;
            break;
        case qmp_tools::TargetOptions::fd_code:
            target.fd = optarg;
            break;
        case 'h':
            options.help = true;
            return options;
        default:
            throw target.unknown_option();
        }
    }
    std::vector<std::string> rest(target.argv() + optind, target.argv() + target.argc());
    if (!rest.empty() && !commands.count(rest.front())) {
        target.address = rest.front();
        rest.erase(rest.begin());
    }
    if (rest.empty())
        throw qmp_tools::UsageError("no command (ls, get, set or tree)");
    if (!commands.count(rest.front()))
        throw qmp_tools::UsageError("unknown command: " + rest.front());
    const std::string& name = rest.front();
    const std::size_t arguments = rest.size() - 1;
    if ((name == "ls" && arguments != 1) || (name == "get" && arguments != 1) ||
        (name == "set" && arguments != 2) || (name == "tree" && arguments > 1))
        throw qmp_tools::UsageError("wrong number of arguments for '" + name + "'");
    options.command = rest;
    options.target = target.target();
    if (options.timeout)
        options.target.listen_timeout = *options.timeout;
    return options;
}

int run(const QomOptions& options, qmp_tools::Interrupt& interrupt)
{
    qmp::ClientOptions client_options;
    if (options.timeout)
        client_options.command_timeout = *options.timeout;
    if (!options.log_file.empty())
        client_options.logger = qmp_tools::make_traffic_logger(options.log_file);
    qmp_tools::Session session(options.target, client_options, interrupt, "qom");
    qmp::Client& client = session.client();
    const std::string& name = options.command[0];
    try {
        if (name == "ls")
            qom::list(client, options.command[1], std::cout);
        else if (name == "get")
            qom::get(client, options.command[1], options.pretty, std::cout);
        else if (name == "set")
            qom::set(client, options.command[1], options.command[2]);
        else
            qom::tree(client, options.command.size() > 1 ? options.command[1] : "/", std::cout);
    } catch (const qmp::ExecuteError& e) {
        std::cout.flush();
        std::cerr << qmp_tools::format_error(
                         e.error_class(), e.description(), qmp_tools::use_colour(STDERR_FILENO))
                  << std::endl;
        return exit_failed;
    } catch (const qmp::TimeoutError& e) {
        std::cerr << "qom: " << e.what() << std::endl;
        return exit_failed;
    }
    std::cout.flush();
    return exit_ok;
}

} // namespace

int main(int argc, char** argv)
{
    qmp_tools::Interrupt interrupt; // first, before any thread (see Interrupt)
    QomOptions options;
    try {
        options = parse_options(argc, argv);
        if (options.help) {
            std::printf(usage_text, qmp_tools::target_help);
            return exit_ok;
        }
    } catch (const qmp_tools::UsageError& e) {
        std::cerr << "qom: " << e.what() << "\nTry 'qom --help'." << std::endl;
        return exit_usage;
    }
    try {
        return run(options, interrupt);
    } catch (const qmp_tools::UsageError& e) {
        std::cerr << "qom: " << e.what() << std::endl;
        return exit_usage;
    } catch (const qmp_tools::SyntaxError& e) {
        std::cerr << "qom: " << e.what() << std::endl;
        return exit_usage;
    } catch (const std::exception& e) {
        if (interrupt.requested())
            return interrupt.exit_status();
        std::cerr << "qom: " << e.what() << std::endl;
        return exit_connection;
    }
}
