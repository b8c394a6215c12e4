#!/usr/bin/env bash
# One command: install what is missing, build, and open Hart Studio on the user's display.
# Without a model configured (HART_STUDIO_MODEL_DIR or the GSettings key model-dir), the app is
# pointed at the tiny reference model in ../shared (64 × 64 pictures from random weights: it
# shows the whole pipeline working, not pretty pictures).
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

shared="${HART_SHARED:-$(cd .. && pwd)/shared}"
# The schema compiled in the build tree, so the app runs without being installed.
export GSETTINGS_SCHEMA_DIR="$PWD/build/data${GSETTINGS_SCHEMA_DIR:+:$GSETTINGS_SCHEMA_DIR}"

if [ -z "${HART_STUDIO_MODEL_DIR:-}" ]; then
  configured="$(gsettings get io.github.hartstudio.HartStudio model-dir 2>/dev/null || echo "''")"
  if [ "$configured" = "''" ]; then
    export HART_STUDIO_MODEL_DIR="$shared/golden/tiny"
    if [ -z "${HART_STUDIO_TEXT_MODEL_DIR:-}" ] && [ -d "$shared/text/qwen2-tiny" ]; then
      # The tiny Qwen2 keeps its tokenizer one level up: link a complete folder in the build tree.
      text_dir="$PWD/build/tiny-text-model"
      mkdir -p "$text_dir"
      ln -sfn "$shared/text/qwen2-tiny/config.json" "$text_dir/config.json"
      ln -sfn "$shared/text/qwen2-tiny/model.safetensors" "$text_dir/model.safetensors"
      ln -sfn "$shared/text/tokenizer.json" "$text_dir/tokenizer.json"
      export HART_STUDIO_TEXT_MODEL_DIR="$text_dir"
    fi
    echo "run.sh: no model configured, using the tiny reference model $HART_STUDIO_MODEL_DIR"
  fi
fi

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "run.sh: no display (DISPLAY and WAYLAND_DISPLAY are unset): Hart Studio is a desktop" >&2
  echo "        app. To try it headless: xvfb-run -a ./run.sh" >&2
  exit 1
fi
exec ./build/ui/hart-studio "$@"
