#!/usr/bin/env bash
# Builds test/consumer against a copy of this source tree placed in its subprojects/ folder,
# then runs it. (The installed library, pkg-config's qmp and qmp-testing and CMake's package, is
# the `installed` test's: test/installed_consumer.)
# Arguments: SOURCE_ROOT WORK_DIR
set -euo pipefail
src=$1
work=$2
rm -rf "$work"
mkdir -p "$work/subprojects/qmp"
cp "$src"/test/consumer/meson.build "$src"/test/consumer/main.cpp \
    "$src"/test/consumer/fake_qemu_main.cpp "$work"/
# The files a clone would have: no build trees, no git metadata.
tar -C "$src" --exclude='./build*' --exclude='./.git' --exclude='./subprojects/*/' -cf - . \
    | tar -C "$work/subprojects/qmp" -xf -

# 1. As a subproject: dependency('qmp') and dependency('qmp-testing').
# buildtype plain (no optimisation, no debug information): this checks how qmp fits into a
# project, and compiles the whole library once more, so it should not take long.
meson setup "$work/build" "$work" --force-fallback-for=qmp,qmp-testing --buildtype=plain \
    >"$work/setup.log" 2>&1 \
    || { cat "$work/setup.log"; exit 1; }
ninja -C "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
# Nothing of qmp's own (tests, tools) may be built when it is a subproject.
if find "$work/build/subprojects/qmp" -name 'test_*' -type f | grep -q .; then
    echo "qmp built its tests as a subproject" >&2
    exit 1
fi
"$work/build/consumer"
"$work/build/consumer_fake_qemu"
