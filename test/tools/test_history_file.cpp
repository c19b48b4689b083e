// SPDX-License-Identifier: MIT
// The history file shared with Python's qmp-shell: the plain one-line-per-entry format, merging
// with entries another program wrote, the size cap, and reading the old libedit format.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "../temp_dir.hpp"
#include "history_file.hpp"

using qmp_shell::load_history;
using qmp_shell::save_history;

namespace {

// A private directory for one test, removed with its contents.
using Scratch = qmp::test::TemporaryDirectory;

std::string contents(const std::string& path)
{
    std::ifstream file(path);
    return std::string((std::istreambuf_iterator<char>(file)), {});
}

void write(const std::string& path, const std::string& text)
{
    std::ofstream(path, std::ios::trunc) << text;
}

} // namespace

TEST(HistoryFile, ReadsThePlainFormatPythonWrites)
{
    Scratch directory;
    const std::string path = directory.path() + "/history";
    write(
        path, "query-status\nqom-list path=/machine\n\nblockdev-add driver=null-co node-name=n\n");
    EXPECT_EQ(load_history(path),
        (std::vector<std::string>{
            "query-status", "qom-list path=/machine", "blockdev-add driver=null-co node-name=n"}));
}

TEST(HistoryFile, MissingFileIsAnEmptyHistory)
{
    Scratch directory;
    EXPECT_TRUE(load_history(directory.path() + "/none").empty());
}

TEST(HistoryFile, SavingAppendsToWhatAnotherProgramWroteMeanwhile)
{
    Scratch directory;
    const std::string path = directory.path() + "/history";
    write(path, "query-status\n");
    // Python's qmp-shell wrote its session after ours started.
    write(path, "query-status\nquery-name\n");
    ASSERT_TRUE(save_history(path, {"qom-get path=/machine property=type"}));
    EXPECT_EQ(contents(path), "query-status\nquery-name\nqom-get path=/machine property=type\n");
}

TEST(HistoryFile, SavingKeepsTheNewestEntriesUpToTheLimit)
{
    Scratch directory;
    const std::string path = directory.path() + "/history";
    write(path, "a\nb\nc\n");
    ASSERT_TRUE(save_history(path, {"d", "e"}, 3));
    EXPECT_EQ(contents(path), "c\nd\ne\n");
}

TEST(HistoryFile, LibeditFormatIsReadAndRewrittenPlain)
{
    Scratch directory;
    const std::string path = directory.path() + "/history";
    write(path, "_HiStOrY_V2_\nqom-get\\040path=/machine\\040property=type\nback\\\\slash\n");
    EXPECT_EQ(load_history(path),
        (std::vector<std::string>{"qom-get path=/machine property=type", "back\\slash"}));
    ASSERT_TRUE(save_history(path, {"stop"}));
    EXPECT_EQ(contents(path), "qom-get path=/machine property=type\nback\\slash\nstop\n");
}

TEST(HistoryFile, UnwritableFileIsReported)
{
    Scratch directory;
    EXPECT_FALSE(save_history(directory.path() + "/no/such/dir/history", {"stop"}));
}
