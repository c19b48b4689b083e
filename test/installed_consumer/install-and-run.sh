#!/usr/bin/env bash
# The `installed` test: installs this build into a DESTDIR, then builds and runs the consumers
# against it (run.sh). Arguments: BUILD_DIR WORK_DIR PREFIX LIBDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1
work=$2
prefix=$3
libdir=$4
# tools/run-tests insists on cmake, so CI never skips this; elsewhere its absence is a skip.
command -v cmake >/dev/null || { echo "cmake is not installed: skipped" >&2; exit 77; }
rm -rf "$work"
mkdir -p "$work"
meson install -C "$build" --no-rebuild --destdir "$work/destdir" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; exit 1; }
exec bash "$here/run.sh" "$work/consumers" "$work/destdir" "$prefix" "$libdir"
