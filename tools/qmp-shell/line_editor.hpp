// SPDX-License-Identifier: MIT
// The interactive shell's terminal input, driven by the caller's poll() loop: it never blocks,
// so events can be printed while a line is being edited.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace qmp_shell {

// Candidates for the word being completed, given the line before that word.
using Completer =
    std::function<std::vector<std::string>(const std::string& before, const std::string& word)>;

class LineEditor {
public:
    struct Input {
        bool end = false; // Ctrl-D on an empty line, or end of input
        std::optional<std::string> line;
    };

    virtual ~LineEditor() = default;

    // Shows \p prompt and starts reading a line.
    virtual void start(const std::string& prompt) = 0;
    // Call when stdin is readable. Returns a complete line, the end of input, or nothing yet.
    // After a line or the end the editor is idle until the next start().
    virtual Input on_readable() = 0;
    // True when a complete line is already buffered: call on_readable() without waiting.
    virtual bool has_buffered_line() const { return false; }
    // Prints \p text (ending in "\n") above the line being edited and redraws that line.
    virtual void print_above(const std::string& text) = 0;
    // Ctrl-C at the prompt: drops the line being typed and shows the prompt again below it.
    virtual void cancel_line() = 0;
    // Leaves the line being edited for good (the connection is gone): the cursor ends on a
    // fresh line.
    virtual void abandon() = 0;
    // Adds a line to the history (saved on destruction).
    virtual void remember(const std::string& line) = 0;
};

// libedit when the build has it, else a plain line reader. \p history_file may be empty.
std::unique_ptr<LineEditor> make_line_editor(const std::string& history_file, Completer completer);

// Which editor make_line_editor() builds, for --help and the banner.
const char* line_editor_name();

} // namespace qmp_shell
