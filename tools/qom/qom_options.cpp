// SPDX-License-Identifier: MIT
#include "qom_options.hpp"

#include <cctype>
#include <cstring>
#include <map>

#include "suggest.hpp"
#include "target_options.hpp"
#include "timeout_option.hpp"

namespace qom {

namespace {

struct CommandInfo {
    const char* name;
    std::size_t min_arguments;
    std::size_t max_arguments;
    const char* help;
};

const CommandInfo command_table[] = {
    {"ls", 1, 1,
        "Usage: qom [OPTIONS] ls PATH   (also: list)\n"
        "The children (name/), links (@name/) and other properties of the object at PATH,\n"
        "in natural order (device[2] before device[10]).\n"},
    {"get", 1, 1,
        "Usage: qom [OPTIONS] get PATH.PROPERTY\n"
        "Prints a property: a string as it is, any other value as JSON (-p: pretty-printed).\n"},
    {"set", 2, 2,
        "Usage: qom [OPTIONS] set PATH.PROPERTY VALUE\n"
        "Sets a property. VALUE is JSON if it parses as JSON (1, true, \"text\", {...}), true\n"
        "or false in any case, None, or a Python literal ({'a': True}); else a string.\n"},
    {"tree", 0, 1,
        "Usage: qom [OPTIONS] tree [PATH] [-V]\n"
        "The composition tree below PATH (default /), two spaces per level: name (type).\n"
        "-V, --values  also each object's properties, as name: VALUE (type), a property\n"
        "              that cannot be read as name: <unreadable: REASON> (type)\n"},
};

const CommandInfo* find_command(const std::string& name)
{
    const std::string canonical = name == "list" ? "ls" : name;
    for (const CommandInfo& info : command_table)
        if (canonical == info.name)
            return &info;
    return nullptr;
}

bool is_number(const char* text)
{
    return (text[0] == '-' || text[0] == '+') &&
        (std::isdigit(static_cast<unsigned char>(text[1])) || text[1] == '.');
}

} // namespace

std::string usage_text()
{
    return std::string(
               "Usage: qom [OPTIONS] [ADDRESS] COMMAND [ARGS] [OPTIONS]\n"
               "       qom [OPTIONS] COMMAND [ARGS] --launch [-- [PROGRAM] [QEMU ARGS...]]\n"
               "\n"
               "Commands (qom COMMAND --help for one):\n"
               "  ls PATH                   children (name/), links (@name/) and properties of\n"
               "                            PATH; also: list\n"
               "  get PATH.PROPERTY         print a property (strings as they are, others as "
               "JSON)\n"
               "  set PATH.PROPERTY VALUE   set a property; VALUE is JSON if it parses as JSON\n"
               "                            (1, true, \"text\", {...}), else a string\n"
               "  tree [PATH]               the composition tree below PATH (default /), "
               "indented;\n"
               "                            -V: with property values\n"
               "\n"
               "Options (anywhere on the line):\n"
               "  -s, --socket ADDRESS  where to connect (as ADDRESS; Python's qom spells it so)\n"
               "  -p, --pretty          pretty-print JSON values\n"
               "  -V, --values          tree: show each object's property values\n"
               "  -l, --log FILE        log all QMP traffic to FILE\n"
               "      --timeout S       bound each command (default 30 s) and --listen's wait\n"
               "                        (default 60 s)\n"
               "  -h, --help            show this help\n"
               "\n") +
        qmp_tools::target_help +
        "\n"
        "Exit status: 0 success; 1 QEMU refused a command; 2 bad arguments (also no address\n"
        "and no --launch); 3 cannot connect or start QEMU, or the connection was lost; 128+N\n"
        "after signal N.\n";
}

std::string command_help(const std::string& command)
{
    const CommandInfo* info = find_command(command);
    return info ? info->help : "";
}

QomOptions parse_options(int argc, char** argv)
{
    qmp_tools::TargetOptions target(argc, argv);
    QomOptions options;
    std::vector<std::string> positional;
    std::string socket;
    const int count = target.argc();
    char** args = target.argv();
    for (int i = 1; i < count; ++i) {
        const std::string arg = args[i];
        const auto value = [&](const std::string& name, const std::string& attached) {
            if (!attached.empty())
                return attached;
            if (i + 1 >= count)
                throw qmp_tools::UsageError("missing value: " + name);
            return std::string(args[++i]);
        };
        if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
            const auto equals = arg.find('=');
            const std::string name = arg.substr(0, equals);
            const std::string attached = equals == std::string::npos ? "" : arg.substr(equals + 1);
            if (equals != std::string::npos && attached.empty())
                throw qmp_tools::UsageError("missing value: " + name);
            if (name == "--help")
                options.help = true;
            else if (name == "--pretty")
                options.pretty = true;
            else if (name == "--values")
                options.values = true;
            else if (name == "--launch")
                target.launch = true;
            else if (name == "--socket")
                socket = value(name, attached);
            else if (name == "--log")
                options.log_file = value(name, attached);
            else if (name == "--timeout")
                options.timeout = qmp_tools::parse_timeout_seconds(value(name, attached).c_str());
            else if (name == "--listen")
                target.listen = value(name, attached);
            else if (name == "--fd")
                target.fd = value(name, attached);
            else
                throw qmp_tools::UsageError("unknown option: " + name +
                    qmp_tools::did_you_mean(name,
                        {"--help", "--pretty", "--values", "--launch", "--socket", "--log",
                            "--timeout", "--listen", "--fd"}));
            if (equals != std::string::npos &&
                (name == "--help" || name == "--pretty" || name == "--values" ||
                    name == "--launch"))
                throw qmp_tools::UsageError(name + " takes no value");
            continue;
        }
        if (arg.size() > 1 && arg[0] == '-' && !is_number(args[i])) {
            for (std::size_t k = 1; k < arg.size(); ++k) {
                const char c = arg[k];
                const std::string rest = arg.substr(k + 1);
                if (c == 'h') {
                    options.help = true;
                } else if (c == 'p') {
                    options.pretty = true;
                } else if (c == 'V') {
                    options.values = true;
                } else if (c == 's' || c == 'l') {
                    const std::string given = value(std::string("-") + c, rest);
                    (c == 's' ? socket : options.log_file) = given;
                    break;
                } else {
                    throw qmp_tools::UsageError(std::string("unknown option: -") + c);
                }
            }
            continue;
        }
        positional.push_back(arg);
    }

    // ADDRESS COMMAND ... or COMMAND ...: a first word that is no command is an address only
    // when a command follows it.
    if (!positional.empty() && !find_command(positional[0]) && positional.size() > 1 &&
        find_command(positional[1])) {
        target.address = positional[0];
        positional.erase(positional.begin());
    }
    if (!socket.empty()) {
        if (!target.address.empty())
            throw qmp_tools::UsageError("give either ADDRESS or --socket, not both");
        target.address = socket;
    }
    if (positional.empty()) {
        if (options.help)
            return options;
        throw qmp_tools::UsageError("no command (ls, get, set or tree)");
    }
    const CommandInfo* info = find_command(positional[0]);
    if (!info)
        throw qmp_tools::UsageError("unknown command: " + positional[0] +
            qmp_tools::did_you_mean(positional[0], {"ls", "list", "get", "set", "tree"}));
    positional[0] = info->name;
    options.command = positional;
    if (options.help)
        return options; // qom COMMAND --help: no QEMU needed
    const std::size_t arguments = positional.size() - 1;
    if (arguments < info->min_arguments || arguments > info->max_arguments)
        throw qmp_tools::UsageError(std::string("wrong number of arguments for '") + info->name +
            "' (qom " + info->name + " --help)");
    options.target = target.target();
    if (options.timeout)
        options.target.listen_timeout = *options.timeout;
    return options;
}

} // namespace qom
