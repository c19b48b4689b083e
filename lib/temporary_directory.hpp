// SPDX-License-Identifier: MIT
// A private temporary directory that removes itself: where a Machine keeps its socket and log.
#pragma once

#include <string>

namespace qmp::detail {

/// A private directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
///
/// Thread safety: thread-bound; path() may be read from any thread while nothing moves or
/// removes the directory.
class TemporaryDirectory {
public:
    TemporaryDirectory() = default;
    ~TemporaryDirectory() { remove(); }
    TemporaryDirectory(TemporaryDirectory&& other) noexcept;
    TemporaryDirectory& operator=(TemporaryDirectory&& other) noexcept;
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    /// Creates a directory of mode 0700 named qmp-XXXXXX.
    /// \throws ConnectError if it cannot be created.
    static TemporaryDirectory create();

    /// The path stays readable after remove(), for messages.
    const std::string& path() const noexcept { return path_; }

    /// Removes the directory and whatever tests put in it. Never throws: it runs in destructors.
    void remove() noexcept;

private:
    std::string path_;
    bool owned_ = false;
};

} // namespace qmp::detail
