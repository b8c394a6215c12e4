#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# in a build folder of its own, and runs each for FUZZ_SECONDS (default 30) from its seed corpus
# (fuzz/corpus/<target>/, never modified). Fails on any crash, leak or sanitizer report, leaving
# the reproducer under <build>/fuzz-artifacts/. Exits 77 (skipped) when clang is missing.
#
# Usage: tools/fuzz-smoke.sh [SOURCE_DIR [BUILD_DIR]]
set -euo pipefail
src="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
build="${2:-$src/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz-smoke: clang not found; skipping (tools/install-deps.sh installs it)"
  exit 77
fi
if [ ! -f "$build/build.ninja" ]; then
  # fuzzer-no-link instruments the engine for coverage; the targets link libFuzzer itself.
  CC=clang meson setup "$build" "$src" -Dfuzz=true -Dtests=false -Dapp=disabled -Dcuda=disabled \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link
fi
ninja -C "$build"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
mkdir -p "$build/fuzz-artifacts"
failed=0
ran=0
for exe in "$build"/fuzz/fuzz-*; do
  [ -x "$exe" ] && [ -f "$exe" ] || continue
  name="${exe##*/fuzz-}"
  seeds="$src/fuzz/corpus/$name"
  work="$build/fuzz-corpus/$name" # libFuzzer adds what it finds to the first folder only
  mkdir -p "$work"
  echo "fuzz-smoke: $name for ${seconds}s (seeds: $(ls "$seeds" 2>/dev/null | wc -l))"
  if ! "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$name-" "$work" "$seeds" \
      > "$build/fuzz-$name.log" 2>&1; then
    echo "fuzz-smoke: $name FAILED; log tail:"
    tail -n 40 "$build/fuzz-$name.log"
    ls -l "$build/fuzz-artifacts" | grep -- "$name-" || true
    failed=1
  else
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz-$name.log" |
      sed "s/^/fuzz-smoke: $name /"
  fi
  ran=$((ran + 1))
done
if [ "$ran" -eq 0 ]; then
  echo "fuzz-smoke: no fuzz targets were built"
  exit 1
fi
exit $failed
