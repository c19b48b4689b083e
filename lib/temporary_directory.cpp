// SPDX-License-Identifier: MIT
#include "temporary_directory.hpp"

#include <qmp/error.hpp>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "fd.hpp"

namespace qmp::detail {

TemporaryDirectory::TemporaryDirectory(TemporaryDirectory&& other) noexcept
    : path_(std::move(other.path_)), owned_(std::exchange(other.owned_, false))
{
}

TemporaryDirectory& TemporaryDirectory::operator=(TemporaryDirectory&& other) noexcept
{
    if (this != &other) {
        remove();
        path_ = std::move(other.path_);
        owned_ = std::exchange(other.owned_, false);
    }
    return *this;
}

TemporaryDirectory TemporaryDirectory::create()
{
    std::string parent = "/tmp";
    if (const char* tmpdir = std::getenv("TMPDIR"); tmpdir && *tmpdir)
        parent = tmpdir;
    while (parent.size() > 1 && parent.back() == '/')
        parent.pop_back();
    // mkdtemp() creates the directory with mode 0700: nobody else can reach the socket.
    std::string path = (parent == "/" ? "" : parent) + "/qmp-XXXXXX";
    if (!::mkdtemp(path.data())) {
        const int error = errno; // before anything else can change it
        throw ConnectError(
            "qmp: cannot create a temporary directory in '" + parent + "': " + error_text(error));
    }
    TemporaryDirectory directory;
    directory.path_ = std::move(path);
    directory.owned_ = true;
    return directory;
}

void TemporaryDirectory::remove() noexcept
{
    if (!owned_)
        return;
    owned_ = false;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

} // namespace qmp::detail
