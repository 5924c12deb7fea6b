#!/usr/bin/env bash
# Packs the CUDA test and benchmark binaries built here (build-cuda, -DCMAKE_CUDA_ARCHITECTURES=90a)
# into .device/pack.tar.xz (gitignored) for the GPU machine. See bench/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$root/scripts/pack-for-device.sh" "$root/.device/pack.tar.xz" "${1:-$root/build-cuda}" \
  tests/gpu/gpu_kernels_parity_test tests/gpu/gpu_cuda_engine_test tests/gpu/gpu_sampling_test \
  bench/linspec-cuda-bench bench/linspec-cuda-stream-bench bench/linspec-cuda-barrier-bench \
  tools/make_model/linspec-make-model
