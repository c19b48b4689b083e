// SPDX-License-Identifier: MIT
#include "options.hpp"

#include <cerrno>
#include <cstdlib>
#include <getopt.h>
#include <unistd.h>

#include "target_options.hpp"
#include "timeout_option.hpp"

namespace qmp_shell {

const char* const usage_text =
    "Usage: qmp-shell [OPTIONS] [ADDRESS | --listen ADDRESS | --fd N]\n"
    "       qmp-shell [OPTIONS] [--launch] [-- [PROGRAM] [QEMU ARGS...]]\n"
    "       qmp-shell [OPTIONS] --agent ADDRESS\n"
    "\n"
    "An interactive shell for QEMU's QMP monitor. Each line is a command:\n"
    "  COMMAND [KEY=VALUE ...]   e.g. device_add driver=virtio-rng-pci id=rng0\n"
    "    a VALUE that parses as JSON is JSON (1, true, null, \"text\", [..], {..}); as in\n"
    "    Python's qmp-shell True/FALSE are booleans, None is null and {'a': True} works;\n"
    "    'quoted' or anything else is a string; dotted keys nest: cache.direct=true\n"
    "  # TEXT                    a comment\n"
    "  {\"execute\": ..., \"arguments\": {...}}   a JSON command, sent exactly as typed\n"
    "                            (\"id\", \"exec-oob\" too); its whole reply is shown\n"
    "  transaction( ACTION [KEY=VALUE ...] ... )   a transaction, also over several lines\n"
    "  help [COMMAND]            list the commands, or describe one's arguments\n"
    "  (-H) cpu N                select CPU N for the HMP lines that follow\n"
    "\n"
    "When stdin is a terminal: line editing, history (~/.qmp-shell_history), TAB completion of\n"
    "commands, arguments and values, and events shown as they arrive, one line each\n"
    "(EVENT NAME {data}; whole JSON with -p or -C). Ctrl-C cancels the line or the command\n"
    "running, Ctrl-R searches the history, Ctrl-D leaves. Otherwise one command per line,\n"
    "one JSON reply per line on stdout, errors on stderr.\n"
    "\n"
    "Options:\n"
    "  -c, --command LINE   run LINE and exit; several -c run in turn (status: the worst)\n"
    "      --wait-event NAME  wait for event NAME (after -c, if given), print it and exit\n"
    "      --events         print events as they arrive until interrupted\n"
    "      --no-events      do not show events in the interactive shell (also with -H)\n"
    "  -H, --hmp            HMP mode: send each line through human-monitor-command; `cpu N`\n"
    "                       selects CPU N for the lines after it (cpu-index)\n"
    "  -p, --pretty         pretty-print replies (the default on a terminal)\n"
    "  -C, --compact        one line per reply (the default otherwise)\n"
    "  -v, --verbose        echo each JSON command sent (on stderr, prefixed \"-> \")\n"
    "  -l, --log FILE       log all QMP traffic to FILE\n"
    "      --num-retries N  retry connecting N times, --retry-delay apart, and reconnect\n"
    "                       (as often as it takes) when the connection drops (qmp-tui's)\n"
    "      --retry-delay S  the pause between two attempts (default 2 s)\n"
    "      --timeout S      bound each command (default 30 s), --wait-event (default none)\n"
    "                       and the wait of --listen (default 60 s)\n"
    "      --agent ADDRESS  talk to the QEMU guest agent (qemu-ga) at ADDRESS (unix:PATH, the\n"
    "                       socket of QEMU's chardev for the guest's agent, or of qemu-ga\n"
    "                       --method=unix-listen): the same lines, help, history\n"
    "                       (~/.qmp-shell-agent_history) and TAB completion of the enabled\n"
    "                       commands of guest-info; no events and no -H\n"
    "  -h, --help           show this help\n"
    "\n"
    "%s"
    "\n"
    "Exit status: 0 success; 1 a command failed, a line did not parse or --wait-event timed\n"
    "out; 2 bad arguments; 3 cannot connect, start QEMU or reach the agent, or the connection\n"
    "was lost (also when --listen waited in vain); 128+N after signal N (130 for Ctrl-C;\n"
    "--events ends with 0).\n";

ShellOptions parse_options(int argc, char** argv)
{
    enum {
        opt_wait_event = 256,
        opt_events,
        opt_timeout,
        opt_agent,
        opt_no_events,
        opt_num_retries,
        opt_retry_delay
    };
    static const option long_options[] = {
        {"command", required_argument, nullptr, 'c'},
        {"wait-event", required_argument, nullptr, opt_wait_event},
        {"events", no_argument, nullptr, opt_events},
        {"no-events", no_argument, nullptr, opt_no_events},
        {"hmp", no_argument, nullptr, 'H'},
        {"pretty", no_argument, nullptr, 'p'},
        {"compact", no_argument, nullptr, 'C'},
        {"verbose", no_argument, nullptr, 'v'},
        {"log", required_argument, nullptr, 'l'},
        {"timeout", required_argument, nullptr, opt_timeout},
        {"agent", required_argument, nullptr, opt_agent},
        {"num-retries", required_argument, nullptr, opt_num_retries},
        {"retry-delay", required_argument, nullptr, opt_retry_delay},
        qmp_tools::TargetOptions::launch_option,
        qmp_tools::TargetOptions::listen_option,
        qmp_tools::TargetOptions::fd_option,
        {"help", no_argument, nullptr, 'h'},
        {nullptr, 0, nullptr, 0},
    };
    qmp_tools::TargetOptions target(argc, argv);
    ShellOptions options;
    opterr = 0;
    optind = 1;
    for (;;) {
        const int c = getopt_long(target.argc(), target.argv(), "c:HpCvl:h", long_options, nullptr);
        if (c == -1)
            break;
        switch (c) {
        case 'c':
            options.commands.emplace_back(optarg);
            break;
        case opt_wait_event:
            options.wait_event = optarg;
            break;
        case opt_events:
            options.events = true;
            break;
        case opt_no_events:
            options.hide_events = true;
            break;
        case 'H':
            options.hmp = true;
            break;
        case 'p':
            options.pretty = true;
            break;
        case 'C':
            options.pretty = false;
            break;
        case 'v':
            options.verbose = true;
            break;
        case 'l':
            options.log_file = optarg;
            break;
        case opt_timeout:
            options.timeout = qmp_tools::parse_timeout_seconds(optarg);
            break;
        case opt_agent:
            options.agent = optarg;
            break;
        case opt_num_retries: {
            char* end = nullptr;
            errno = 0;
            const unsigned long n = std::strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' || n > 1000000)
                throw qmp_tools::UsageError(
                    std::string("--num-retries: not a number of retries: ") + optarg);
            options.num_retries = static_cast<unsigned>(n);
            break;
        }
        case opt_retry_delay:
            options.retry_delay = qmp_tools::parse_timeout_seconds(optarg);
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
    if (optind < target.argc())
        target.address = target.argv()[optind++];
    if (optind < target.argc())
        throw qmp_tools::UsageError(std::string("unexpected argument: ") + target.argv()[optind]);
    if (options.events && (!options.commands.empty() || options.wait_event))
        throw qmp_tools::UsageError("--events cannot be combined with -c or --wait-event");
    if (options.events && options.hide_events)
        throw qmp_tools::UsageError("--events cannot be combined with --no-events");
    if (options.agent) {
        if (options.agent->empty())
            throw qmp_tools::UsageError("--agent: empty address");
        if (target.given())
            throw qmp_tools::UsageError(
                "--agent cannot be combined with ADDRESS, --listen, --fd or --launch");
        if (options.hmp || options.events || options.wait_event)
            throw qmp_tools::UsageError(
                "--agent cannot be combined with -H, --events or --wait-event");
        return options;
    }
    // Only an interactive shell, whose banner says so, starts a disposable QEMU by itself.
    if (options.num_retries > 0 && (target.launch || !target.listen.empty() || !target.fd.empty()))
        throw qmp_tools::UsageError(
            "--num-retries needs an address, not --launch, --listen or --fd");
    options.target = target.target(options.commands.empty() && !options.wait_event &&
        !options.events && ::isatty(STDIN_FILENO));
    if (options.timeout)
        options.target.listen_timeout = *options.timeout;
    return options;
}

} // namespace qmp_shell
