// SPDX-License-Identifier: MIT
// Without libedit: the terminal's own line editing (cooked mode), no history, no completion.
#include <iostream>
#include <termios.h>
#include <unistd.h>

#include "fd_lines.hpp"
#include "line_editor.hpp"

namespace qmp_shell {

namespace {

class PlainEditor : public LineEditor {
public:
    void start(const std::string& prompt) override
    {
        prompt_ = prompt;
        std::cout << prompt_ << std::flush;
    }

    Input on_readable() override
    {
        Input input;
        input.line = lines_.next(false);
        if (!input.line)
            input.line = lines_.next(true);
        input.end = !input.line && lines_.at_end();
        return input;
    }

    bool has_buffered_line() const override { return lines_.has_line(); }

    void print_above(const std::string& text) override
    {
        // The terminal holds the half-typed line; we cannot redraw it, only the prompt.
        std::cout << "\n" << text << prompt_ << std::flush;
    }

    void cancel_line() override
    {
        // The terminal holds the typed line: discard it.
        ::tcflush(STDIN_FILENO, TCIFLUSH);
        std::cout << "^C\n" << prompt_ << std::flush;
    }

    void abandon() override { std::cout << "\n" << std::flush; }

    void remember(const std::string&) override { }

private:
    FdLines lines_{STDIN_FILENO};
    std::string prompt_;
};

} // namespace

std::unique_ptr<LineEditor> make_line_editor(const std::string&, Completer)
{
    return std::make_unique<PlainEditor>();
}

const char* line_editor_name()
{
    return "plain";
}

} // namespace qmp_shell
