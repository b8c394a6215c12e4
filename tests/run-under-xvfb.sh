#!/bin/sh
# Runs a UI test on a private X server (and a private session bus when available), so the test
# command brings its own display: `run-under-xvfb.sh ./test-ui`.
set -eu
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "1..0 # SKIP xvfb-run is not installed (Debian: xvfb xauth)"
  exit 0
fi
if command -v dbus-run-session >/dev/null 2>&1; then
  exec xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp" dbus-run-session -- "$@"
fi
exec xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp" "$@"
