#!/usr/bin/env bash
# Packs linspec-eval (a CUDA-enabled build, default build-train-cuda) with its non-system
# shared libraries and the test split into build-train-pack/eval.tar.xz (gitignored via
# /build-*/) for tools/eval/device_eval.sh on the GPU machine (which lacks our dependencies).
#   tools/eval/pack_device.sh [BUILD_DIR] [CORPUS_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-train-cuda}
corpus=${2:-$root/.device/corpus}
dst=$(mktemp -d)
mkdir -p "$dst/lib"
cp "$build/tools/eval/linspec-eval" "$dst/" && strip "$dst/linspec-eval"
ldd "$build/tools/eval/linspec-eval" | awk '/=> \// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libgcc_s*|libstdc++*|libpthread*|libdl.so*|librt.so*|ld-linux*|libcuda.so*|libcudart*|libcublas*) ;;
    *) cp -L "$lib" "$dst/lib/" ;;
  esac
done
strip "$dst"/lib/*.so* 2>/dev/null || true
cp "$corpus/test.txt" "$dst/test.txt"
mkdir -p "$root/build-train-pack"
tar cf - -C "$dst" . | xz -6 -T2 > "$root/build-train-pack/eval.tar.xz"
rm -rf "$dst"
ls -la "$root/build-train-pack/eval.tar.xz"
