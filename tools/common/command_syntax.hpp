// SPDX-License-Identifier: MIT
// The qmp-shell input language: `command key=value key2.sub=value`, whole JSON objects, and
// `transaction(` ... `)` blocks. Pure functions and one small state machine, no I/O, so the
// unit tests can cover every rule without QEMU.
#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <qmp/json.hpp>

namespace qmp_tools {

// A line that cannot be parsed. column is the 0-based byte offset of the offending character in
// the line given to the parser, so a caller can print the line and a caret under it.
class SyntaxError : public std::runtime_error {
public:
    SyntaxError(const std::string& message, std::size_t column)
        : std::runtime_error(message), column_(column)
    {
    }
    std::size_t column() const noexcept { return column_; }

private:
    std::size_t column_;
};

// "line\n   ^ message": the offending line with a caret under the bad character.
std::string format_syntax_error(const std::string& line, const SyntaxError& error);

// One command ready to send.
struct Request {
    std::string command;
    qmp::json arguments = qmp::json::object();
    // For a line that was a whole JSON object: that object, to be sent exactly as typed
    // (Client::execute_raw), "id" and "exec-oob" included. Null otherwise.
    qmp::json raw;
};

// The value rule shared by qmp-shell's key=value and `qom set`: text that parses as JSON is JSON
// (numbers, true/false/null, objects, arrays, "quoted strings"), a 'single-quoted' text is the
// string inside the quotes; Python's forms as in QEMU's Python qmp-shell: true/false in any case
// (True, FALSE) are booleans, None is null, and objects and arrays may be Python literals
// ({'driver': 'null-co', 'read-zeroes': True}); anything else is the text itself as a string.
// Text that starts like JSON ({, [ or ") but is neither JSON nor a Python literal is an error
// rather than a surprising string.
// column_offset is added to error columns (the value's position in its line).
qmp::json parse_value(const std::string& text, std::size_t column_offset = 0);

// A whitespace-separated word of a line and where it starts. Whitespace inside quotes or inside
// {...}/[...] does not split words, so `a={"x": 1}` is one word.
struct Word {
    std::string text;
    std::size_t column;
};
std::vector<Word> split_words(const std::string& line);

// Adds the `key=value` words to object \p target; dotted keys build nested objects.
void add_key_values(const std::vector<Word>& words, qmp::json& target);

// Parses one non-transaction line: `command key=value ...` or a JSON object
// {"execute" or "exec-oob": ..., "arguments": {...}, ...} (kept whole in Request::raw). Returns
// nothing for a blank line.
std::optional<Request> parse_command(const std::string& line);

// Reads lines, accumulating `transaction(` ... `)` blocks (also on one line) into a single
// "transaction" request, as Python's qmp-shell does.
class CommandReader {
public:
    // The request the line completes, or nothing (blank line, or inside a transaction).
    // On a SyntaxError inside a transaction the whole transaction is abandoned.
    std::optional<Request> feed(const std::string& line);

    // True between `transaction(` and its `)`: the prompt shows it.
    bool in_transaction() const { return in_transaction_; }

private:
    std::optional<Request> finish_transaction();

    bool in_transaction_ = false;
    qmp::json actions_ = qmp::json::array();
};

} // namespace qmp_tools
