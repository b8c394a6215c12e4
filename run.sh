#!/usr/bin/env bash
# One command: install what is missing, build, and run Hart Studio's main job.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh
if [ ! -d build ]; then
  meson setup build
fi
ninja -C build
shared="${HART_SHARED:-$(cd .. && pwd)/shared}"
# Until the application lands, the main job shows the engine reading the tiny golden model.
exec ./build/engine/hart inspect "$shared/golden/tiny" "$@"
