// SPDX-License-Identifier: MIT
/// \file
/// Symbol visibility for the qmp shared library (harmless in a static one).
///
/// The library is built with hidden visibility (`gnu_symbol_visibility: 'hidden'`), so only what
/// is marked QMP_EXPORT is part of its ABI. Exception classes are exported too: their type
/// information must be shared with the host program for `catch` to work across the boundary.
#pragma once

#if !defined(__GNUC__)
#define QMP_EXPORT
#else
#define QMP_EXPORT __attribute__((visibility("default")))
#endif
