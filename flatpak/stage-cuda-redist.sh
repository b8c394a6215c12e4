#!/usr/bin/env bash
# Stages the NVIDIA CUDA toolkit parts the CUDA extension needs into flatpak/cuda-redist/ (ignored
# by git): nvcc to build libhart-cuda.so, and the redistributable runtime libraries (cudart,
# cuBLAS, cuBLASLt; on NVIDIA's redistribution list) that the extension ships.
# Usage: flatpak/stage-cuda-redist.sh [/usr/local/cuda]
set -euo pipefail
cuda=${1:-/usr/local/cuda}
dest="$(dirname "$0")/cuda-redist"
rm -rf "$dest"
mkdir -p "$dest/lib64"
cp -a "$cuda/bin" "$cuda/include" "$cuda/nvvm" "$dest/" 2>/dev/null || cp -a "$cuda/bin" "$cuda/include" "$dest/"
cp -a "$cuda"/lib64/libcudart.so* "$cuda"/lib64/libcublas.so* "$cuda"/lib64/libcublasLt.so* \
  "$cuda"/lib64/libcudart_static.a "$dest/lib64/"
echo "staged $(du -sh "$dest" | cut -f1) into $dest"
