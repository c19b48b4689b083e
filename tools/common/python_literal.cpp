// SPDX-License-Identifier: MIT
#include "python_literal.hpp"

#include <cctype>

#include "command_syntax.hpp"

namespace qmp_tools {

namespace {

class Parser {
public:
    Parser(const std::string& text, std::size_t column_offset) : text_(text), offset_(column_offset)
    {
    }

    qmp::json parse()
    {
        qmp::json value = parse_value();
        skip_blanks();
        if (at_ < text_.size())
            fail("unexpected text after the value");
        return value;
    }

private:
    [[noreturn]] void fail(const std::string& message) const
    {
        throw SyntaxError(message, offset_ + std::min(at_, text_.size()));
    }

    void skip_blanks()
    {
        while (at_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[at_])))
            ++at_;
    }

    bool next_is(char c)
    {
        skip_blanks();
        return at_ < text_.size() && text_[at_] == c;
    }

    qmp::json parse_value()
    {
        skip_blanks();
        if (at_ == text_.size())
            fail("expected a value");
        const char c = text_[at_];
        if (c == '{' || c == '[' || c == '(') {
            // The parser recurses: bound the depth so that no line can exhaust the stack.
            if (++depth_ > max_depth)
                fail("nested too deeply");
            qmp::json value = c == '{' ? parse_object() : parse_array(c == '[' ? ']' : ')');
            --depth_;
            return value;
        }
        if (c == '\'' || c == '"')
            return parse_string();
        if (c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c)))
            return parse_number();
        return parse_name();
    }

    qmp::json parse_object()
    {
        const std::size_t open = at_++;
        qmp::json object = qmp::json::object();
        for (;;) {
            if (next_is('}')) {
                ++at_;
                return object;
            }
            if (at_ == text_.size()) {
                at_ = open;
                fail("unclosed '{'");
            }
            if (text_[at_] != '\'' && text_[at_] != '"')
                fail("expected a quoted key, e.g. {'driver': 'null-co'}");
            const std::string key = parse_string().get<std::string>();
            if (!next_is(':'))
                fail("expected ':' after the key");
            ++at_;
            object[key] = parse_value();
            if (next_is(','))
                ++at_;
            else if (!next_is('}'))
                fail("expected ',' or '}'");
        }
    }

    qmp::json parse_array(char close)
    {
        const std::size_t open = at_++;
        qmp::json array = qmp::json::array();
        for (;;) {
            if (next_is(close)) {
                ++at_;
                return array;
            }
            if (at_ == text_.size()) {
                at_ = open;
                fail(std::string("unclosed '") + text_[open] + "'");
            }
            array.push_back(parse_value());
            if (next_is(','))
                ++at_;
            else if (!next_is(close))
                fail(std::string("expected ',' or '") + close + "'");
        }
    }

    // Either quote; the escapes JSON knows, plus \' — rewritten as a JSON string for nlohmann.
    qmp::json parse_string()
    {
        const std::size_t open = at_;
        const char quote = text_[at_++];
        std::string json_text = "\"";
        for (; at_ < text_.size() && text_[at_] != quote; ++at_) {
            const char c = text_[at_];
            if (c == '\\' && at_ + 1 < text_.size()) {
                const char next = text_[++at_];
                if (next == '\'')
                    json_text += '\'';
                else
                    json_text += std::string("\\") + next;
            } else if (c == '"') {
                json_text += "\\\"";
            } else {
                json_text += c;
            }
        }
        if (at_ == text_.size()) {
            at_ = open;
            fail("unterminated quote");
        }
        ++at_;
        json_text += '"';
        const qmp::json value = qmp::json::parse(json_text, nullptr, false);
        if (value.is_discarded()) {
            at_ = open;
            fail("invalid escape or control character in this string");
        }
        return value;
    }

    qmp::json parse_number()
    {
        const std::size_t start = at_;
        if (text_[at_] == '+' || text_[at_] == '-')
            ++at_;
        while (at_ < text_.size() &&
            (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '.' ||
                ((text_[at_] == '+' || text_[at_] == '-') &&
                    (text_[at_ - 1] == 'e' || text_[at_ - 1] == 'E'))))
            ++at_;
        std::string token = text_.substr(start, at_ - start);
        if (!token.empty() && token.front() == '+')
            token.erase(0, 1);
        const qmp::json value = qmp::json::parse(token, nullptr, false);
        if (value.is_discarded() || !value.is_number()) {
            at_ = start;
            fail("not a number");
        }
        return value;
    }

    qmp::json parse_name()
    {
        const std::size_t start = at_;
        while (at_ < text_.size() &&
            (std::isalnum(static_cast<unsigned char>(text_[at_])) || text_[at_] == '_'))
            ++at_;
        const std::string name = text_.substr(start, at_ - start);
        if (name == "true" || name == "True")
            return true;
        if (name == "false" || name == "False")
            return false;
        if (name == "null" || name == "None")
            return nullptr;
        at_ = start;
        if (name.empty())
            fail("expected a value");
        fail("'" + name + "' is not a value: quote strings ('" + name +
            "'); true/True, false/False and null/None are the names known");
    }

    static constexpr int max_depth = 256;

    const std::string& text_;
    std::size_t offset_;
    std::size_t at_ = 0;
    int depth_ = 0;
};

} // namespace

qmp::json parse_python_literal(const std::string& text, std::size_t column_offset)
{
    return Parser(text, column_offset).parse();
}

} // namespace qmp_tools
