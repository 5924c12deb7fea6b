#!/usr/bin/env bash
# Packs linspec-server, linspec-bench and linspec-make-model built with CUDA (default build dir
# build-server-cuda, -DLINSPEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a) into
# .device/server_pack.tar.xz (gitignored). Then: device run of bench/http_serve/device_run.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec bash "$root/scripts/pack-for-device.sh" "$root/.device/server_pack.tar.xz" \
  "${1:-$root/build-server-cuda}" server/linspec-server client/linspec-bench \
  tools/make_model/linspec-make-model
