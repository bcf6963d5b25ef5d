#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR and builds a program against it with pkg-config only,
# as a user of the installed library would: headers, library and multisession.pc must suffice.
set -euo pipefail
build_dir=$1
source_dir=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

meson install -C "$build_dir" --no-rebuild --quiet --destdir "$stage" >/dev/null
pc=$(dirname "$(find "$stage" -name multisession.pc | head -n 1)")
[ -n "$pc" ] || { echo "multisession.pc was not installed"; exit 1; }
export PKG_CONFIG_PATH=$pc PKG_CONFIG_SYSROOT_DIR=$stage
flags=$(pkg-config --cflags --libs multisession)
libdir=$(dirname "$pc")

c++ -std=c++20 "$source_dir/examples/store_basics.cpp" $flags -o "$stage/consumer"
LD_LIBRARY_PATH="$libdir" "$stage/consumer"

# The smallest example of the three functions builds against the installed library too.
c++ -std=c++20 "$source_dir/examples/anchor/three_functions.cpp" $flags -o "$stage/three_functions"
LD_LIBRARY_PATH="$libdir" "$stage/three_functions" "memory:" | grep -q "cleared 0 sessions" \
    || { echo "three_functions against the installed library did not run"; exit 1; }

# The command-line tool is installed and runs against the installed library.
cli=$(find "$stage" -path '*/bin/multisession' -type f | head -n 1)
[ -n "$cli" ] || { echo "bin/multisession was not installed"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$cli" --version | grep -q "multisession" \
    || { echo "the installed multisession tool did not run"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$cli" stats --store memory: --json | grep -q '"entries"' \
    || { echo "the installed multisession tool could not read a store"; exit 1; }
