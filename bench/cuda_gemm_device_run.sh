#!/usr/bin/env bash
# One call on the GPU machine for the decode-GEMM work: unpacks .device-gemm/pack.tar.xz
# (scripts/pack-for-device.sh, see bench/README.md "GEMM microbenchmark"), then runs the stages
# given, in order, leaving logs and JSON in $OUT (or ./gemm_out):
#   gemm   linspec-cuda-gemm-bench (all shapes, rows 1..64)      -> cuda_gemm.json, gemm.log
#   gemm-nopdl  the same for 1.3B at rows 1 and 64 with LINSPEC_CUDA_PDL=0 -> cuda_gemm_nopdl.json
#   tests  gpu_kernels_parity_test + gpu_cuda_engine_test         -> test_*.log
#   step   linspec-cuda-bench on a random 1.3B plain model, B 1,4,16,64, T=1, tuned runner vs the
#          classic kernel pinned (LINSPEC_CUDA_SKINNY_VARIANT=0)   -> step_*.json/log
set -uo pipefail
OUT=${OUT:-$PWD/gemm_out}
mkdir -p "$OUT" /tmp/dev /tmp/models
tar xJf .device-gemm/pack.tar.xz -C /tmp/dev
export LD_LIBRARY_PATH=/tmp/dev/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv,noheader | tee "$OUT/device.txt"
for what in "$@"; do
  case "$what" in
    gemm)
      timeout 400 /tmp/dev/linspec-cuda-gemm-bench ${GEMM_ARGS:-} --json "$OUT/cuda_gemm.json" \
        2>&1 | tee "$OUT/gemm.log"
      ;;
    gemm-nopdl)
      LINSPEC_CUDA_PDL=0 timeout 200 /tmp/dev/linspec-cuda-gemm-bench --models 1.3b --rows 1,64 \
        --json "$OUT/cuda_gemm_nopdl.json" 2>&1 | tee "$OUT/gemm_nopdl.log" | tail -4
      ;;
    tests)
      export LINSPEC_SOURCE_DIR=$PWD
      timeout 200 /tmp/dev/gpu_kernels_parity_test > "$OUT/test_kernels.log" 2>&1
      grep -E "FAILED|Failure|PASSED|^\[  " "$OUT/test_kernels.log" | grep -v "RUN\|OK \]" | tail -8
      timeout 300 /tmp/dev/gpu_cuda_engine_test > "$OUT/test_engine.log" 2>&1
      grep -E "FAILED|PASSED" "$OUT/test_engine.log" | tail -8
      ;;
    step)
      /tmp/dev/linspec-make-model --out /tmp/models/1.3b-plain --hidden-size 2048 \
        --intermediate-size 5632 --layers 24 --heads 16 --variant plain --vocab-size 32000 \
        --dtype bf16 --no-tokenizer > "$OUT/make_model.log" 2>&1
      for cfg in new:LINSPEC_CUDA_GRAPHS=1 classic:LINSPEC_CUDA_SKINNY_VARIANT=0; do
        tag=${cfg%%:*}
        echo "== step 1.3b-plain $tag"
        env ${cfg#*:} timeout 150 /tmp/dev/linspec-cuda-bench --model /tmp/models/1.3b-plain \
          --name "1.3b-plain-$tag" --batches "${STEP_BATCHES:-1,4,16,64}" --tokens 1 \
          --json "$OUT/step_$tag.json" 2>&1 | tee "$OUT/step_$tag.log" | grep -v "^model"
      done
      ;;
  esac
done
