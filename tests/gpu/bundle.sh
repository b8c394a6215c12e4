#!/usr/bin/env bash
# bundle.sh BUILD_DIR [BUNDLE_DIR]: copies what tests/gpu/gpu-check.sh needs from a build made
# here (Debian 12) into a small folder to carry to a GPU machine that lacks the Debian libraries:
# the CLI, the test and benchmark executables, the CUDA module, and every shared library they
# load except the C library family and CUDA's own (found on the GPU machine). Layout mirrors the
# build tree, with the libraries in gpu-libs/ (gpu-check.sh adds it to LD_LIBRARY_PATH). Also
# writes BUNDLE_DIR.tar.xz.
set -euo pipefail
build=${1:?usage: bundle.sh BUILD_DIR [BUNDLE_DIR]}
out=${2:-$build/../gpu-bundle}
rm -rf "$out"
mkdir -p "$out/engine/src/cuda" "$out/tests" "$out/gpu-libs"
cp "$build/engine/hart" "$out/engine/"
cp "$build/engine/src/cuda/libhart-cuda.so" "$out/engine/src/cuda/"
for t in "$build"/tests/test-* "$build"/tests/bench-*; do
  [ -f "$t" ] && [ -x "$t" ] && cp "$t" "$out/tests/"
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
# A compressed copy too: the libraries shrink ~8x (OpenBLAS 36 MB -> 4 MB), which matters when the
# bundle travels with size limits. gpu-check.sh accepts either form.
tar -C "$(dirname "$out")" -cJf "$out.tar.xz" "$(basename "$out")"
echo "bundle: $out ($(du -sh "$out" | cut -f1)), $out.tar.xz ($(du -sh "$out.tar.xz" | cut -f1))"
