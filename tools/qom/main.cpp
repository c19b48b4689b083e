// SPDX-License-Identifier: MIT
// qom: list, read, write and draw QEMU's object model (QOM) over QMP.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <unistd.h>

#include <qmp/qmp.hpp>

#include "command_syntax.hpp"
#include "interrupt.hpp"
#include "output.hpp"
#include "qom_commands.hpp"
#include "qom_options.hpp"
#include "session.hpp"
#include "traffic_log.hpp"

namespace {

using qom::QomOptions;

enum { exit_ok = 0, exit_failed = 1, exit_usage = 2, exit_connection = 3 };

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
            qom::tree(client, options.command.size() > 1 ? options.command[1] : "/", options.values,
                std::cout);
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
        options = qom::parse_options(argc, argv);
        if (options.help) {
            std::cout << (options.command.empty() ? qom::usage_text()
                                                  : qom::command_help(options.command[0]));
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
