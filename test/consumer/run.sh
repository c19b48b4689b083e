#!/usr/bin/env bash
# Builds test/consumer against a copy of this source tree placed in its subprojects/ folder,
# then runs it; then installs that copy to a temporary prefix and builds the fake QEMU consumer
# against the installed qmp and qmp-testing through pkg-config alone.
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
meson setup "$work/build" "$work" --force-fallback-for=qmp,qmp-testing >"$work/setup.log" 2>&1 \
    || { cat "$work/setup.log"; exit 1; }
ninja -C "$work/build" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
# Nothing of qmp's own (tests, tools) may be built when it is a subproject.
if find "$work/build/subprojects/qmp" -name 'test_*' -type f | grep -q .; then
    echo "qmp built its tests as a subproject" >&2
    exit 1
fi
"$work/build/consumer"
"$work/build/consumer_fake_qemu"

# 2. Installed, through pkg-config: qmp.pc and qmp-testing.pc in a temporary prefix.
prefix="$work/prefix"
meson setup "$work/build-install" "$work/subprojects/qmp" --prefix="$prefix" --libdir=lib \
    -Dtests=false -Dtools=false -Dintegration_tests=false >"$work/install-setup.log" 2>&1 \
    || { cat "$work/install-setup.log"; exit 1; }
meson install -C "$work/build-install" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log"; exit 1; }
test -f "$prefix/include/qmp/testing.hpp" || { echo "qmp/testing.hpp not installed" >&2; exit 1; }
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shellcheck disable=SC2046 # pkg-config's output is a list of flags
${CXX:-c++} -std=c++17 -Wall -Wextra -Werror -o "$work/consumer_pkgconfig" \
    "$work/fake_qemu_main.cpp" $(pkg-config --cflags --libs qmp-testing) \
    || { echo "cannot build against pkg-config qmp-testing" >&2; exit 1; }
LD_LIBRARY_PATH="$prefix/lib" "$work/consumer_pkgconfig"
