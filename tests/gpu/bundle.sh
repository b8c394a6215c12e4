#!/usr/bin/env bash
# bundle.sh BUILD_DIR OUT.tar.xz [CASE...]: packs what tests/gpu/gpu-check.sh needs from a build
# made here (Debian 12) into one compressed file, for a GPU machine that lacks the Debian
# libraries: the CLI, the test and benchmark executables, the CUDA module, every shared library
# they load except the C library family and CUDA's own (found on the GPU machine), and optionally
# golden cases (shared/golden/CASE from $HART_SHARED, default ../shared beside the checkout) for
# the replay tests. Layout mirrors the build tree; libraries in gpu-libs/, golden data in shared/.
# gpu-check.sh takes the .tar.xz directly. Size: ~8 MB without golden data (tiny: +~17 MB).
set -euo pipefail
build=${1:?usage: bundle.sh BUILD_DIR OUT.tar.xz [CASE...]}
outfile=${2:?usage: bundle.sh BUILD_DIR OUT.tar.xz [CASE...]}
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
shared=${HART_SHARED:-$src/../shared}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
out="$stage/hart-gpu"
mkdir -p "$out/engine/src/cuda" "$out/tests" "$out/gpu-libs"
cp "$build/engine/hart" "$out/engine/"
cp "$build/engine/src/cuda/libhart-cuda.so" "$out/engine/src/cuda/"
for t in "$build"/tests/test-* "$build"/tests/bench-*; do
  if [ -f "$t" ] && [ -x "$t" ]; then cp "$t" "$out/tests/"; fi
done
for f in "$out"/engine/hart "$out"/tests/* "$out"/engine/src/cuda/libhart-cuda.so; do
  ldd "$f" | awk '/=>/ && $3 ~ /^\// {print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
  libc.so* | libm.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux* | libcuda.so* | \
    libcudart.so* | libcublas*.so* | libstdc++.so* | libgcc_s.so*) ;;
  *) cp -L "$lib" "$out/gpu-libs/" ;;
  esac
done
for c in "$@"; do
  mkdir -p "$out/shared/golden"
  cp -r "$shared/golden/$c" "$out/shared/golden/"
done
tar -C "$stage" -cJf "$outfile" hart-gpu
echo "bundle: $outfile ($(du -h "$outfile" | cut -f1)), golden cases: ${*:-none}"
