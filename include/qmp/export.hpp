// SPDX-License-Identifier: MIT
/// \file
/// Symbol visibility for the qmp shared library (harmless in a static one).
///
/// The library is built with hidden visibility (`gnu_symbol_visibility: 'hidden'`), so only what
/// is marked QMP_EXPORT is part of its ABI. Exception classes are exported too: their type
/// information must be shared with the host program for `catch` to work across the boundary.
/// CI checks that nothing of `qmp::detail` and no private implementation class reaches the
/// shared library's dynamic symbol table (tools/check-exported-symbols).
#pragma once

#if defined(__GNUC__)
/// Marks a class or function as part of the shared library's ABI.
#define QMP_EXPORT __attribute__((visibility("default")))
/// Keeps a member of an exported class out of the ABI: private implementation classes (a
/// nested class of an exported class would otherwise be exported with it) and private members
/// whose signatures name `qmp::detail` types. For the library's own use.
#define QMP_NO_EXPORT __attribute__((visibility("hidden")))
#else
#define QMP_EXPORT
#define QMP_NO_EXPORT
#endif
