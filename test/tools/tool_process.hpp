// SPDX-License-Identifier: MIT
// Runs a built tool as a child process, through pipes or a pseudo-terminal, and waits for its
// output with bounded polling reads: no sleeps stand in for synchronisation.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "../temp_dir.hpp"

namespace tools_test {

using namespace std::chrono_literals;

// The path of a tool, from the environment variable meson's test() sets (QMP_SHELL, QOM).
std::string tool_path(const char* variable);

class ToolProcess {
public:
    struct Options {
        bool terminal = false; // stdin, stdout and stderr on one pseudo-terminal
        // Environment changes; an empty value unsets the variable.
        std::map<std::string, std::string> environment;
    };

    ToolProcess(const std::vector<std::string>& argv, Options options);
    // Kills (SIGKILL) and reaps the process if it still runs.
    ~ToolProcess();
    ToolProcess(const ToolProcess&) = delete;
    ToolProcess& operator=(const ToolProcess&) = delete;

    pid_t pid() const { return pid_; }

    void write(const std::string& text);
    void close_stdin();
    void signal(int signal_number);

    // Reads until \p needle appears in stdout (the terminal in terminal mode) at or after
    // \p from, or \p timeout passes. Returns whether it appeared.
    bool wait_for_output(
        const std::string& needle, std::chrono::milliseconds timeout = 20s, std::size_t from = 0);
    bool wait_for_error(const std::string& needle, std::chrono::milliseconds timeout = 20s);

    // Waits for the exit (reading all output meanwhile) and returns the exit status, 128+N
    // for signal N, or nothing on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout = 30s);

    const std::string& output() const { return out_; }
    const std::string& error_output() const { return err_; }

private:
    // Reads whatever is available within \p timeout; false when nothing more can come.
    bool pump(std::chrono::milliseconds timeout);
    bool reap(bool block);

    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    int stderr_ = -1;
    std::string out_;
    std::string err_;
    std::optional<int> status_;
};

// Runs a tool to its end with \p input on stdin; convenience for one-shot calls.
struct Result {
    int status = -1;
    std::string out;
    std::string err;
};
Result run_tool(const std::vector<std::string>& argv, const std::string& input = "",
    std::map<std::string, std::string> environment = {});

// Children of \p parent (from /proc), e.g. the QEMU a tool started.
std::vector<pid_t> children_of(pid_t parent);
// The arguments of a process, from /proc/PID/cmdline.
std::vector<std::string> command_line_of(pid_t pid);
bool process_exists(pid_t pid);

// A private temporary directory, removed with everything in it.
using qmp::test::TemporaryDirectory;

} // namespace tools_test
