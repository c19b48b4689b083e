// SPDX-License-Identifier: MIT
// libedit through its readline-compatible interface, in callback mode: the caller's poll() loop
// feeds it one keystroke at a time (rl_callback_read_char), so the loop can also print events
// while a line is being edited, clearing and redrawing that line around them.
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <poll.h>
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
            history_ = load_history(history_file_);
        for (const std::string& entry : history_)
            add_history(entry.c_str());
        rl_attempted_completion_function = &LibeditEditor::complete;
        rl_add_defun("qmp-shell-search-history", &LibeditEditor::search_history, 0x12);
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
        // What a Ctrl-R search (search_history()) left to do, now that libedit has returned.
        if (search_result_ == SearchResult::run) {
            write_raw("\r\033[J" + prompt_ + search_line_ + "\n");
            rl_callback_handler_remove();
            active_ = false;
            input_.line = search_line_;
        }
        search_result_ = SearchResult::none;
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
        history_.push_back(line);
    }

private:
    enum class SearchResult { none, run };

    // Ctrl-R, bound with rl_add_defun(): libedit's own incremental search, in callback mode,
    // swallows keys and needs another key after Enter. This one reads the keys itself until
    // the search ends, as in bash: typed text narrows it, Ctrl-R again finds an older match,
    // Backspace shortens the text, Enter runs the match, Ctrl-G gives the line back as it was,
    // and any other key (an arrow, Ctrl-E, Escape) leaves the match on the line to be edited.
    static int search_history(int, int)
    {
        LibeditEditor& self = *current_editor;
        const std::vector<std::string>& history = self.history_;
        std::string text;
        std::string match;
        std::size_t from = history.size();
        const auto find = [&](std::size_t start) {
            for (std::size_t i = std::min(start, history.size()); i-- > 0;)
                if (history[i].find(text) != std::string::npos) {
                    from = i;
                    match = history[i];
                    return;
                }
        };
        for (;;) {
            write_raw("\r\033[J(reverse-i-search)'" + text + "': " + match);
            unsigned char byte = 0;
            const ssize_t got = ::read(STDIN_FILENO, &byte, 1);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0 || byte == 0x07) { // Ctrl-G: the line as it was
                write_raw("\r\033[J");
                rl_forced_update_display();
                return 0;
            }
            if (byte == 0x12) {
                find(from);
            } else if (byte == '\r' || byte == '\n') {
                self.search_result_ = SearchResult::run;
                self.search_line_ = match.empty() ? std::string(rl_line_buffer) : match;
                return 0;
            } else if (byte == 0x7f || byte == 0x08) {
                if (!text.empty())
                    text.pop_back();
                match.clear();
                find(history.size());
            } else if (byte >= 0x20) {
                text += static_cast<char>(byte);
                match.clear();
                find(from + 1 <= history.size() ? from + 1 : history.size());
            } else {
                // Still inside libedit's key handling: change its line in place.
                if (!match.empty()) {
                    rl_delete_text(0, rl_end);
                    rl_point = 0;
                    rl_insert_text(match.c_str());
                }
                // The rest of an arrow's escape sequence goes with it.
                if (byte == 0x1b)
                    discard_pending_input();
                write_raw("\r\033[J");
                rl_forced_update_display();
                return 0;
            }
        }
    }

    static void discard_pending_input()
    {
        pollfd fd{STDIN_FILENO, POLLIN, 0};
        unsigned char byte;
        while (::poll(&fd, 1, 20) > 0 && ::read(STDIN_FILENO, &byte, 1) == 1) { }
    }

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
    std::vector<std::string> history_; // every entry, oldest first, for Ctrl-R
    SearchResult search_result_ = SearchResult::none;
    std::string search_line_;

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
