// SPDX-License-Identifier: MIT
// Runs what the user typed: parses a line, sends it, prints the reply or the error. Shared by
// the interactive loop, the line-per-line script mode and -c.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <qmp/qmp.hpp>

#include "command_syntax.hpp"
#include "interrupt.hpp"
#include "options.hpp"
#include "schema.hpp"

namespace qmp_shell {

enum class LineResult {
    ok, // done, or nothing to do (blank line, inside a transaction)
    failed, // QEMU refused it, it timed out, or it did not parse
    quit, // the `quit` command ended QEMU
    disconnected, // the connection is gone
};

class Runner {
public:
    Runner(qmp::Client& client, const ShellOptions& options, bool pretty);

    LineResult run_line(const std::string& line);

    // The prompt for the next line.
    std::string prompt() const;

    // Command names at once, arguments once \p with_arguments is asked for (query-qmp-schema
    // is 200 KB: loaded on first need only). Never throws; empty when QEMU does not answer.
    const Schema& schema(bool with_arguments);

    // Called before a reply or an error is printed: the interactive loop prints the events
    // that arrived meanwhile first, as they came before the reply.
    void set_before_output(std::function<void()> action) { before_output_ = std::move(action); }

    // An interactive shell: Ctrl-C (Interrupt::ctrl_c_fd()) abandons the command running.
    void set_interrupt(qmp_tools::Interrupt* interrupt) { interrupt_ = interrupt; }

private:
    LineResult run_hmp(const std::string& line);
    LineResult select_cpu(const std::string& argument);
    LineResult run_help(const std::string& line);
    LineResult run_request(const qmp_tools::Request& request);
    LineResult run_raw(const qmp_tools::Request& request);
    void print_error(const std::string& text);
    // The message refusing an argument \p command does not have (with the closest name), or ""
    // when every top-level argument is known or the schema cannot tell.
    std::string unknown_argument(const std::string& command, const qmp::json& arguments);
    // " (did you mean 'path'?)" for QEMU's "Parameter 'pth' is unexpected", else "".
    std::string argument_hint(const std::string& command, const std::string& description);
    // execute(), abandoned on Ctrl-C when set_interrupt() was called. \throws Interrupted
    qmp::json execute(const std::string& command, const qmp::json& arguments);

    qmp::Client& client_;
    const ShellOptions& options_;
    bool pretty_;
    bool colour_;
    qmp_tools::CommandReader reader_;
    Schema schema_;
    bool names_loaded_ = false;
    bool arguments_loaded_ = false;
    std::function<void()> before_output_;
    qmp_tools::Interrupt* interrupt_ = nullptr;
    std::optional<int> cpu_index_; // -H: set by `cpu N`, passed as cpu-index with each line
};

} // namespace qmp_shell
