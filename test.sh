#!/usr/bin/env bash
# One command: install what is missing, build with warnings as errors, run every test suite.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh
builddir="${HART_TEST_BUILDDIR:-build-test}"
if [ ! -d "$builddir" ]; then
  meson setup "$builddir" -Dwerror=true -Dtests=true
else
  meson configure "$builddir" -Dwerror=true -Dtests=true
fi
ninja -C "$builddir"
meson test -C "$builddir" --print-errorlogs --num-processes 2 "$@"
