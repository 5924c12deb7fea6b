#!/usr/bin/env bash
# Packs linspec-server, linspec-bench and linspec-make-model built with CUDA (default build dir
# build-server-cuda, -DLINSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a) with their non-system,
# non-CUDA shared libraries into .device/server_pack.tar.xz (gitignored) for a GPU machine that
# has the CUDA runtime but not our dependencies. Then: device run of bench/http_serve/device_run.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-server-cuda}
dst=$(mktemp -d)
mkdir -p "$dst/lib"
for b in server/linspec-server client/linspec-bench tools/make_model/linspec-make-model; do
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
tar cf - -C "$dst" . | xz -9 -T2 > "$root/.device/server_pack.tar.xz"
rm -rf "$dst"
ls -la "$root/.device/server_pack.tar.xz"
