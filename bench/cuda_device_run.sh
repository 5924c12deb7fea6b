#!/usr/bin/env bash
# One call on the GPU machine: unpacks .device/pack.tar.xz (bench/cuda_pack.sh), runs the gpu
# tests and/or the step benchmark (CUDA engine + PyTorch baseline) and leaves logs and JSON in
# $OUT (or ./cuda_out). Usage: bash bench/cuda_device_run.sh [tests] [1.3b] [7b]
set -uo pipefail
OUT=${OUT:-$PWD/cuda_out}
mkdir -p "$OUT" /tmp/dev /tmp/models
tar xJf .device/pack.tar.xz -C /tmp/dev
cublas=$(ls /usr/local/cuda/lib64/libcublas.so.13 2>/dev/null || find / -name 'libcublas.so.13' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=/tmp/dev/lib:$(dirname "${cublas:-/usr/local/cuda/lib64/x}"):/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv | tee "$OUT/device.txt"

make_model() {  # shape variant
  local dir=/tmp/models/$1-$2 args
  if [ "$1" = 1.3b ]; then args="--hidden-size 2048 --intermediate-size 5632 --layers 24 --heads 16"
  else args="--hidden-size 4096 --intermediate-size 11008 --layers 32 --heads 32"; fi
  if [ "$2" = augmented ]; then args="$args --variant augmented --group-size 64 --conv-taps 32"
  else args="$args --variant plain"; fi
  /tmp/dev/linspec-make-model --out "$dir" $args --vocab-size 32000 --dtype bf16 --no-tokenizer \
    > "$OUT/make_$1_$2.log" 2>&1
}

for what in "$@"; do
  case "$what" in
    tests)
      export LINSPEC_SOURCE_DIR=$PWD
      timeout 240 /tmp/dev/gpu_kernels_parity_test 2>&1 | tee "$OUT/test_kernels.log" | tail -25
      timeout 300 /tmp/dev/gpu_cuda_engine_test 2>&1 > "$OUT/test_engine.log"
      grep -E "FAILED|Failure|PASSED|bf16 GPU|seed" "$OUT/test_engine.log" | head -40
      tail -3 "$OUT/test_engine.log"
      ;;
    1.3b|7b)
      make_model "$what" plain & make_model "$what" augmented & wait
      for v in plain augmented; do
        /tmp/dev/linspec-cuda-bench --model /tmp/models/$what-$v --name "$what-$v" \
          --json "$OUT/cuda_$what-$v.json" 2>&1 | tee "$OUT/bench_$what-$v.log"
        python3 bench/pytorch/linear_llama_bench.py --shape "$what" --variant $v \
          --json "$OUT/torch_$what-$v.json" 2>&1 | tee "$OUT/torch_$what-$v.log"
      done
      rm -rf /tmp/models/$what-*
      ;;
  esac
done
