// SPDX-License-Identifier: MIT
#include "history_file.hpp"

#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace qmp_shell {

namespace {

constexpr const char* libedit_cookie = "_HiStOrY_V2_";

// libedit's strvis() encoding: "\040" for a space, "\\" for a backslash, and other octal
// escapes for control characters.
std::string libedit_decoded(const std::string& line)
{
    std::string text;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] != '\\' || i + 1 == line.size()) {
            text += line[i];
            continue;
        }
        if (i + 3 < line.size() && line[i + 1] >= '0' && line[i + 1] <= '3' && line[i + 2] >= '0' &&
            line[i + 2] <= '7' && line[i + 3] >= '0' && line[i + 3] <= '7') {
            text += static_cast<char>(
                (line[i + 1] - '0') * 64 + (line[i + 2] - '0') * 8 + (line[i + 3] - '0'));
            i += 3;
        } else {
            text += line[++i];
        }
    }
    return text;
}

} // namespace

std::vector<std::string> load_history(const std::string& path)
{
    std::vector<std::string> entries;
    std::ifstream file(path);
    bool libedit = false;
    bool first = true;
    for (std::string line; std::getline(file, line); first = false) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (first && line == libedit_cookie) {
            libedit = true;
            continue;
        }
        if (line.empty())
            continue;
        entries.push_back(libedit ? libedit_decoded(line) : line);
    }
    return entries;
}

bool save_history(const std::string& path, const std::vector<std::string>& added, std::size_t limit)
{
    std::vector<std::string> entries = load_history(path);
    for (const std::string& entry : added)
        if (!entry.empty() && entry.find('\n') == std::string::npos)
            entries.push_back(entry);
    const std::size_t skip = entries.size() > limit ? entries.size() - limit : 0;
    const std::string temporary = path + ".tmp." + std::to_string(::getpid());
    {
        std::ofstream file(temporary, std::ios::trunc);
        for (std::size_t i = skip; i < entries.size(); ++i)
            file << entries[i] << '\n';
        file.flush();
        if (!file) {
            std::remove(temporary.c_str());
            return false;
        }
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        std::remove(temporary.c_str());
        return false;
    }
    return true;
}

} // namespace qmp_shell
