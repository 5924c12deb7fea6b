#!/usr/bin/env bash
# Packs binaries built here with their non-system, non-CUDA shared libraries (into lib/ beside
# them) as a tar.xz for a GPU machine that has the CUDA runtime but none of our dependencies.
# Usage: scripts/pack-for-device.sh OUT.tar.xz BUILD_DIR BINARY [BINARY...]   (paths relative to BUILD_DIR)
set -euo pipefail
out=$1; build=$2; shift 2
dst=$(mktemp -d)
mkdir -p "$dst/lib"
for b in "$@"; do
  cp "$build/$b" "$dst/" && strip "$dst/$(basename "$b")"
  ldd "$build/$b" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libgcc_s*|libstdc++*|libpthread*|libdl.so*|librt.so*|ld-linux*|libcuda.so*|libcudart*|libcublas*) ;;
      *) [ -e "$dst/lib/$(basename "$lib")" ] || cp -L "$lib" "$dst/lib/" ;;
    esac
  done
done
strip "$dst"/lib/*.so* 2>/dev/null || true
mkdir -p "$(dirname "$out")"
tar cf - -C "$dst" . | xz -9 -T2 > "$out"
rm -rf "$dst"
ls -la "$out"
