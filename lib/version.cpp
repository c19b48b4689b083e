// SPDX-License-Identifier: MIT
// The library's own version, compiled in, so a program can tell it from its headers'.
#include <qmp/version.hpp>

namespace qmp {

const char* version() noexcept
{
    return QMP_VERSION_STRING;
}

} // namespace qmp
