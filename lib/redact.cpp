// SPDX-License-Identifier: MIT
#include "redact.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace qmp::detail {

namespace {

bool mentions(std::string_view text, std::string_view word)
{
    return std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
    }) != text.end();
}

bool replace(json& object, const char* key)
{
    const auto it = object.find(key);
    if (it == object.end() || *it == redacted_value)
        return false;
    *it = redacted_value;
    return true;
}

// Members named like a password, at any depth (blockdev-add options nest them).
bool redact_passwords(json& value)
{
    bool changed = false;
    if (value.is_object()) {
        for (auto& [key, member] : value.items()) {
            if ((key == "password" || key == "passphrase") && member != redacted_value) {
                member = redacted_value;
                changed = true;
            } else {
                changed = redact_passwords(member) || changed;
            }
        }
    } else if (value.is_array()) {
        for (auto& element : value)
            changed = redact_passwords(element) || changed;
    }
    return changed;
}

// object-add of a "secret" (or "secret_keyring"): the secret is its "data". Before QEMU 6.0
// the properties were nested in "props".
bool redact_secret_object(json& arguments)
{
    const auto type = arguments.find("qom-type");
    if (type == arguments.end() || !type->is_string() ||
        !mentions(type->get_ref<const std::string&>(), "secret"))
        return false;
    bool changed = replace(arguments, "data");
    const auto props = arguments.find("props");
    if (props != arguments.end() && props->is_object())
        changed = replace(*props, "data") || changed;
    return changed;
}

// "object_add secret,id=s0,data=..." or "set_password vnc ...": keep the HMP command's name.
bool redact_command_line(json& arguments)
{
    const auto line = arguments.find("command-line");
    if (line == arguments.end() || !line->is_string())
        return false;
    const std::string& text = line->get_ref<const std::string&>();
    if (!mentions(text, "secret") && !mentions(text, "password") && !mentions(text, "passwd"))
        return false;
    const auto first_word_end = text.find_first_of(" \t");
    *line = first_word_end == std::string::npos
        ? std::string(redacted_value)
        : text.substr(0, first_word_end) + " " + redacted_value;
    return true;
}

} // namespace

bool redact_secrets(const std::string& command, json& arguments)
{
    if (!arguments.is_object())
        return false;
    bool changed = redact_passwords(arguments);
    if (command == "object-add")
        changed = redact_secret_object(arguments) || changed;
    else if (command == "human-monitor-command")
        changed = redact_command_line(arguments) || changed;
    else if (command == "guest-file-write")
        changed = replace(arguments, "buf-b64") || changed;
    else if (command == "guest-exec")
        changed = replace(arguments, "input-data") || changed;
    return changed;
}

} // namespace qmp::detail
