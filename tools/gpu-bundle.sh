#!/usr/bin/env bash
# Prepares a self-contained bundle for running the GPU checks on a machine that has the CUDA
# toolkit and driver but none of Debian's -dev packages (the lent GPU machines): builds here with
# the CUDA module, then copies the executables, the module, the non-system shared libraries they
# need and a subset of the reference data into .devcarry/ (ignored by git).
#
# Usage: tools/gpu-bundle.sh   then run tests/gpu/gpu-check.sh .devcarry/build on the GPU machine
# with LD_LIBRARY_PATH=.devcarry/lib HART_SHARED=.devcarry/shared.
set -euo pipefail
cd "$(dirname "$0")/.."
bdir=build-gpu
out=.devcarry
if [ ! -d "$bdir" ]; then
  meson setup "$bdir" -Dcuda=enabled -Dapp=disabled -Dtests=true -Dbuildtype=release
fi
ninja -C "$bdir"
rm -rf "$out"
mkdir -p "$out/build" "$out/lib" "$out/shared"
# Executables and the module, keeping the build-tree layout the tests expect.
(cd "$bdir" && find . -type f \( -name 'hart' -o -name 'test-*' -o -name 'bench-*' -o -name '*.so' \) \
   -perm -u+x -print -o -type f -name '*.so' -print) | while read -r f; do
  mkdir -p "$out/build/$(dirname "$f")"
  cp "$bdir/$f" "$out/build/$f"
  strip --strip-debug "$out/build/$f" 2>/dev/null || true
done
cp -r tests/gpu "$out/build/" 2>/dev/null || true
# Shared libraries that are not part of every glibc system or of the CUDA toolkit.
find "$out/build" -type f -perm -u+x -o -name '*.so' -type f | xargs -r ldd 2>/dev/null |
  awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++*|libgcc_s*) ;;
    libcuda.so*|libcudart*|libcublas*|libnvidia*) ;;
    *) cp -L "$lib" "$out/lib/" ;;
  esac
done
# Reference data subset (the carried tree is limited to 64 MiB).
shared=${HART_SHARED:-../shared}
for c in tiny tiny-aln; do
  mkdir -p "$out/shared/golden/$c"
  (cd "$shared/golden/$c" && tar cf - --exclude=pickles --exclude=ema_model.bin .) |
    (cd "$out/shared/golden/$c" && tar xf -)
done
mkdir -p "$out/shared/golden/small"
(cd "$shared/golden/small" && tar cf - --exclude='run_smooth1*' .) |
  (cd "$out/shared/golden/small" && tar xf -)
cp "$shared/golden/README.md" "$out/shared/golden/" 2>/dev/null || true
du -sh "$out" "$out"/*
