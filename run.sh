#!/usr/bin/env bash
# One command: install what is missing, build, and open Hart Studio on the user's display.
# Without a model configured (HART_STUDIO_MODEL_DIR or the GSettings key model-dir) and none
# downloaded, Hart Studio opens the demo model that ships in data/demo-model/ (64 × 64 pictures
# of simple shapes); it finds that folder itself, so nothing needs to be set here.
set -euo pipefail
cd "$(dirname "$0")"
tools/install-deps.sh
if [ ! -d build ]; then
  meson setup build
fi
ninja -C build
if [ ! -x build/ui/hart-studio ]; then
  echo "run.sh: build/ui/hart-studio was not built (GTK 4 and libadwaita missing?)" >&2
  exit 1
fi

# The schema compiled in the build tree, so the app runs without being installed.
export GSETTINGS_SCHEMA_DIR="$PWD/build/data${GSETTINGS_SCHEMA_DIR:+:$GSETTINGS_SCHEMA_DIR}"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run.sh: no display (DISPLAY and WAYLAND_DISPLAY are unset): Hart Studio is a desktop" >&2
  echo "        app. To try it headless: xvfb-run -a ./run.sh" >&2
  exit 1
fi
exec ./build/ui/hart-studio "$@"
