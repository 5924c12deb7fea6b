#!/usr/bin/env bash
# Packs the CUDA test and benchmark binaries built here (build-cuda, -DCMAKE_CUDA_ARCHITECTURES=90a)
# with their non-system, non-CUDA shared libraries into .device/ (gitignored) for a GPU machine
# that has the CUDA 13 runtime but not our dependencies. See bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-cuda}
dst=$(mktemp -d)
mkdir -p "$dst/lib"
bins=(tests/gpu/gpu_kernels_parity_test tests/gpu/gpu_cuda_engine_test bench/linspec-cuda-bench
      tools/make_model/linspec-make-model)
for b in "${bins[@]}"; do
  cp "$build/$b" "$dst/" && strip "$dst/$(basename "$b")"
  ldd "$build/$b" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libgcc_s*|libstdc++*|libpthread*|libdl.so*|librt.so*|ld-linux*|libcuda.so*|libcudart*|libcublas*) ;;
      *) [ -e "$dst/lib/$(basename "$lib")" ] || cp -L "$lib" "$dst/lib/" ;;
    esac
  done
done
strip "$dst"/lib/*.so* 2>/dev/null || true
mkdir -p "$root/.device"
tar cf - -C "$dst" . | xz -9 -T2 > "$root/.device/pack.tar.xz"
rm -rf "$dst"
ls -la "$root/.device/pack.tar.xz"
