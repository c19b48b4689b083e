#!/usr/bin/env bash
# Builds test/installed_consumer against an installed qmp twice, through its CMake package and
# through pkg-config, and test/consumer's fake QEMU program through pkg-config's qmp-testing; runs
# all three (the first two start a disposable QEMU).
#   run.sh WORK_DIR ROOT PREFIX LIBDIR
# ROOT is "/" for a system installation (the Debian packages), or a DESTDIR (meson install
# --destdir) whose ROOT/PREFIX holds the installation; LIBDIR is relative to PREFIX.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
root=$2
prefix=$3
libdir=$4
installed=${root%/}$prefix
rm -rf "$work"
mkdir -p "$work"

# CMake: find_package(qmp 0.2 CONFIG REQUIRED) and qmp::qmp.
cmake -S "$here" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$installed" -DCMAKE_BUILD_TYPE=Release \
    >"$work/cmake-configure.log" 2>&1 || { cat "$work/cmake-configure.log"; exit 1; }
grep -q "qmp_DIR:PATH=$installed/$libdir/cmake/qmp" "$work/cmake/CMakeCache.txt" \
    || { echo "CMake found qmp elsewhere than in $installed:" >&2; grep qmp_DIR "$work/cmake/CMakeCache.txt" >&2; exit 1; }
cmake --build "$work/cmake" >"$work/cmake-build.log" 2>&1 || { cat "$work/cmake-build.log"; exit 1; }

# pkg-config: the installed qmp.pc; in a DESTDIR its paths are taken as under ROOT (the sysroot).
export PKG_CONFIG_PATH="$installed/$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[ "$root" = / ] || export PKG_CONFIG_SYSROOT_DIR="$root"
build_with_pkg_config() {  # build_with_pkg_config PACKAGE SOURCE PROGRAM
    local flags
    flags=$(pkg-config --cflags --libs "$1")
    if [ "$root" != / ]; then
        case "$flags" in
        *"$installed"*) ;;
        *) echo "pkg-config's flags for $1 do not point into $installed: $flags" >&2; exit 1 ;;
        esac
    fi
    # shellcheck disable=SC2086 # word splitting of pkg-config's output is intended
    c++ -std=c++17 -Wall -Wextra -Werror -o "$3" "$2" $flags
}
build_with_pkg_config qmp "$here/main.cpp" "$work/pkgconfig-consumer"
build_with_pkg_config qmp-testing "$here/../consumer/fake_qemu_main.cpp" "$work/pkgconfig-fake-qemu"
unset PKG_CONFIG_SYSROOT_DIR

# Both run against the installed library (a DESTDIR is not in the loader's path).
if [ "$root" != / ]; then
    export LD_LIBRARY_PATH="$installed/$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
real_installed=$(readlink -f "$installed")
for program in "$work/cmake/consumer" "$work/pkgconfig-consumer" "$work/pkgconfig-fake-qemu"; do
    lib=$(readlink -f "$(ldd "$program" | awk '/libqmp\.so/ {print $3}')")
    case "$lib" in
    "$real_installed"/*) ;;
    *) echo "$program uses $lib, not the library in $installed" >&2; exit 1 ;;
    esac
    "$program"
done
