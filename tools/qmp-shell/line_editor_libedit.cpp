// SPDX-License-Identifier: MIT
// libedit through its readline-compatible interface, in callback mode: the caller's poll() loop
// feeds it one keystroke at a time (rl_callback_read_char), so the loop can also print events
// while a line is being edited, clearing and redrawing that line around them.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

// libedit's readline.h needs <cstdio> first and is C without extern "C" guards on some versions.
extern "C" {
#include <editline/readline.h>
}

#include "history_file.hpp"
#include "line_editor.hpp"

namespace qmp_shell {

namespace {

class LibeditEditor;
// readline's callbacks carry no user pointer: there is one editor per process.
LibeditEditor* current_editor = nullptr;

class LibeditEditor : public LineEditor {
public:
    LibeditEditor(std::string history_file, Completer completer)
        : history_file_(std::move(history_file)), completer_(std::move(completer))
    {
        current_editor = this;
        have_terminal_ = ::tcgetattr(STDIN_FILENO, &saved_terminal_) == 0;
        rl_readline_name = "qmp-shell";
        // Signals are ours (qmp_tools::Interrupt): libedit must not install handlers that
        // re-raise them to the whole process group.
        rl_catch_signals = 0;
        using_history();
        stifle_history(static_cast<int>(history_limit));
        // Not libedit's read_history(): its file format is not the plain one Python's
        // qmp-shell reads and writes (history_file.hpp).
        if (!history_file_.empty())
            for (const std::string& entry : load_history(history_file_))
                add_history(entry.c_str());
        rl_attempted_completion_function = &LibeditEditor::complete;
        // Only blanks end a word: command names contain '-' and argument names '.'.
        static char word_breaks[] = " \t";
        rl_completer_word_break_characters = word_breaks;
    }

    ~LibeditEditor() override
    {
        if (active_)
            rl_callback_handler_remove();
        if (!history_file_.empty() && !added_.empty() && !save_history(history_file_, added_))
            std::fprintf(
                stderr, "qmp-shell: cannot write the history file %s\n", history_file_.c_str());
        if (have_terminal_)
            ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_terminal_);
        current_editor = nullptr;
    }

    void start(const std::string& prompt) override
    {
        prompt_ = prompt;
        active_ = true;
        rl_callback_handler_install(prompt_.c_str(), &LibeditEditor::on_line);
    }

    Input on_readable() override
    {
        input_ = Input{};
        rl_callback_read_char();
        return input_;
    }

    void print_above(const std::string& text) override
    {
        if (!active_) {
            std::fputs(text.c_str(), stdout);
            std::fflush(stdout);
            return;
        }
        // Erase the prompt and the half-typed line (which may wrap over several rows: go up to
        // its first row), print, then let libedit draw them again below.
        std::string out;
        const std::size_t rows = edited_rows();
        if (rows > 1)
            out += "\033[" + std::to_string(rows - 1) + "A";
        out += "\r\033[J";
        write_raw(out + text);
        rl_forced_update_display();
    }

    void cancel_line() override
    {
        if (!active_)
            return;
        write_raw("^C\n");
        // libedit's rl_replace_line() leaves the buffer as it is: start afresh instead.
        rl_callback_handler_remove();
        rl_callback_handler_install(prompt_.c_str(), &LibeditEditor::on_line);
    }

    void abandon() override
    {
        if (!active_)
            return;
        rl_callback_handler_remove();
        active_ = false;
        write_raw("\n");
    }

    void remember(const std::string& line) override
    {
        if (line.find_first_not_of(" \t") == std::string::npos)
            return;
        add_history(line.c_str());
        added_.push_back(line);
    }

private:
    // Writes \p text; without output processing "\n" only moves down, so add "\r".
    static void write_raw(const std::string& text)
    {
        termios now{};
        const bool raw_output = ::tcgetattr(STDOUT_FILENO, &now) == 0 && !(now.c_oflag & OPOST);
        std::string out;
        for (char c : text) {
            if (c == '\n' && raw_output)
                out += '\r';
            out += c;
        }
        std::fputs(out.c_str(), stdout);
        std::fflush(stdout);
    }

    // How many terminal rows the prompt and the line up to the cursor take (libedit leaves the
    // cursor at rl_point).
    std::size_t edited_rows() const
    {
        winsize size{};
        if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0 || size.ws_col == 0)
            return 1;
        const std::size_t columns =
            prompt_.size() + static_cast<std::size_t>(std::max(rl_point, 0));
        return columns / size.ws_col + 1;
    }

    static void on_line(char* line)
    {
        LibeditEditor& self = *current_editor;
        if (line) {
            self.input_.line = std::string(line);
            std::free(line);
        } else {
            self.input_.end = true;
        }
        // Idle until start(): the command's output must not be taken for the edited line, and
        // libedit leaves buffered mode after a line, which would block in the next read.
        rl_callback_handler_remove();
        self.active_ = false;
    }

    static char* generate(const char* text, int state)
    {
        LibeditEditor& self = *current_editor;
        (void)text; // complete() has computed the matches
        if (state == 0)
            self.next_match_ = 0;
        if (self.next_match_ >= self.matches_.size())
            return nullptr;
        return ::strdup(self.matches_[self.next_match_++].c_str());
    }

    // libedit may start the word it replaces after '=' or '/' whatever the break characters
    // say, so the completer gets the whole blank-separated word and its candidates are cut to
    // the part libedit replaces.
    static char** complete(const char* text, int start, int)
    {
        LibeditEditor& self = *current_editor;
        const std::string up_to_point(rl_line_buffer, static_cast<std::size_t>(rl_point));
        const auto blank = up_to_point.find_last_of(" \t");
        const std::size_t word_start = blank == std::string::npos ? 0 : blank + 1;
        const std::string word = up_to_point.substr(word_start);
        self.before_ = up_to_point.substr(0, word_start);
        rl_attempted_completion_over = 1; // never fall back to file names
        (void)start;
        const std::size_t replaced = std::strlen(text);
        const std::size_t cut = word.size() >= replaced ? word.size() - replaced : 0;
        self.matches_.clear();
        for (const std::string& match : self.completer_(self.before_, word))
            self.matches_.push_back(match.substr(std::min(cut, match.size())));
        self.next_match_ = 0;
        // "name=" and "/path/" candidates continue: no space after them.
        rl_completion_append_character = ' ';
        for (const std::string& match : self.matches_)
            if (!match.empty() && (match.back() == '=' || match.back() == '/'))
                rl_completion_append_character = '\0';
        return rl_completion_matches(text, &LibeditEditor::generate);
    }

    std::string history_file_;
    std::vector<std::string> added_; // this session's entries, appended to the file on exit
    Completer completer_;
    std::string prompt_;
    bool active_ = false;
    bool have_terminal_ = false;
    termios saved_terminal_{};
    Input input_;
    std::string before_;
    std::vector<std::string> matches_;
    std::size_t next_match_ = 0;
};

} // namespace

std::unique_ptr<LineEditor> make_line_editor(const std::string& history_file, Completer completer)
{
    return std::make_unique<LibeditEditor>(history_file, std::move(completer));
}

const char* line_editor_name()
{
    return "libedit";
}

} // namespace qmp_shell
