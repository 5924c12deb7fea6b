#!/usr/bin/env bash
# One call on the GPU machine: unpacks .device/pack.tar.xz (bench/cuda_pack.sh), runs the gpu
# tests and/or the step benchmark (CUDA engine + PyTorch baseline) and leaves logs and JSON in
# $OUT (or ./cuda_out). Stages, in order given:
#   tests | models-1.3b | profile-1.3b | cuda-1.3b | torch-1.3b | models-7b | cuda-7b | torch-7b
#   | ab-1.3b | ab-7b (A/B of the kernel switches, see bench/cuda_notes.md)
#   | pair-1.3b | pair-7b (this binary against linspec-cuda-bench-old, the previous commit's,
#     alternated PAIR_REPS times; PAIR_BATCHES, PAIR_TOKENS; table by cuda_pair_summary.py)
#   | stream (linspec-cuda-stream-bench: the decode kernel's S streaming pattern alone)
#   | barrier (linspec-cuda-barrier-bench: grid barriers inside the megakernel's weight streams)
set -uo pipefail
FINAL=${OUT:-$PWD/cuda_out}
OUT=/tmp/cuda_out  # everything lands here; packed into $FINAL/cuda_results.tgz after each stage
mkdir -p "$FINAL" "$OUT" /tmp/dev /tmp/models
pack() { tar czf "$FINAL/cuda_results.tgz" -C "$OUT" . ; }
[ -n "${NO_UNPACK:-}" ] || tar xJf .device/pack.tar.xz -C /tmp/dev  # NO_UNPACK=1: keep /tmp/dev as it is
cublas=$(ls /usr/local/cuda/lib64/libcublas.so.13 2>/dev/null || find / -name 'libcublas.so.13' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=/tmp/dev/lib:$(dirname "${cublas:-/usr/local/cuda/lib64/x}"):/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv | tee "$OUT/device.txt"
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv | tee -a "$OUT/device.txt"

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
      timeout 240 /tmp/dev/gpu_sampling_test 2>&1 | tee "$OUT/test_sampling.log" | grep -E "mismatch|identical|OK |FAILED|PASSED|seed|SEED" | head -40
      timeout 300 /tmp/dev/gpu_cuda_engine_test 2>&1 > "$OUT/test_engine.log"
      grep -E "FAILED|Failure|PASSED|bf16 GPU|seed" "$OUT/test_engine.log" | head -40
      tail -3 "$OUT/test_engine.log"
      # Again with the light decode kernel and the separate QKV epilogue at every batch size.
      LINSPEC_CUDA_DECODE_PAIRS=1 LINSPEC_CUDA_ATTN_EPILOGUE_PAIRS=1 timeout 300 \
        /tmp/dev/gpu_cuda_engine_test > "$OUT/test_engine_decode.log" 2>&1
      grep -E "FAILED|Failure|PASSED|bf16 GPU" "$OUT/test_engine_decode.log" | head -20
      pack
      ;;
    models-1.3b|models-7b)
      shape=${what#models-}
      make_model "$shape" plain & make_model "$shape" augmented & wait
      ;;
    profile-1.3b)  # per-kernel times of one eager T=1 step (ncu serializes kernels)
      for cfg in plain:1 plain:64 augmented:1; do
        v=${cfg%:*} b=${cfg#*:}
        ncu --profile-from-start off --metrics gpu__time_duration.sum --csv \
          /tmp/dev/linspec-cuda-bench --model /tmp/models/1.3b-$v --profile "$b" --prefill 32 \
          --batches "$b" > "$OUT/ncu_1.3b-$v-B$b.csv" 2> "$OUT/ncu_1.3b-$v-B$b.err"
        echo "== ncu 1.3b-$v B=$b"
        python3 bench/cuda_ncu_summary.py "$OUT/ncu_1.3b-$v-B$b.csv" | head -16
      done
      pack
      ;;
    ab-1.3b|ab-7b)  # same-process-kind A/B of the kernel switches (env), one JSON per config
      shape=${what#ab-}
      for v in plain augmented; do
        # AB_CONFIGS: "tag:ENV=v,ENV=v tag2:..." (session 5's knobs, e.g.
        # "new:LINSPEC_CUDA_GRAPHS=1 norow:LINSPEC_CUDA_ROW_CONSUMER_GBPS=0 sw1:LINSPEC_CUDA_SWIGLU_VEC4=0").
        for cfg in ${AB_CONFIGS:-base:LINSPEC_CUDA_ATTN_SPLIT=1,LINSPEC_CUDA_NORM_VEC4=0,LINSPEC_CUDA_SKINNY_BIG_SMEM=0 \
                   smem48:LINSPEC_CUDA_SKINNY_BIG_SMEM=0 new:LINSPEC_CUDA_GRAPHS=1}; do
          tag=${cfg%%:*} envs=${cfg#*:}
          echo "== ab $shape-$v $tag ($envs)"
          env ${envs//,/ } timeout 120 /tmp/dev/linspec-cuda-bench --model /tmp/models/$shape-$v \
            --name "$shape-$v-$tag" --batches "${AB_BATCHES:-1,4,16,64}" --tokens 1,5 \
            --json "$OUT/ab_$shape-$v-$tag.json" 2>&1 | tee "$OUT/ab_$shape-$v-$tag.log" | grep -v "^model"
        done
        if [ -x /tmp/dev/linspec-cuda-bench-old ]; then  # the previous commit's binary
          echo "== ab $shape-$v old"
          timeout 120 /tmp/dev/linspec-cuda-bench-old --model /tmp/models/$shape-$v \
            --name "$shape-$v-old" --batches "${AB_BATCHES:-1,4,16,64}" --tokens 1,5 \
            --json "$OUT/ab_$shape-$v-old.json" 2>&1 | tee "$OUT/ab_$shape-$v-old.log" | grep -v "^model"
        fi
        pack
      done
      ;;
    pair-1.3b|pair-7b)
      shape=${what#pair-}
      for rep in $(seq 1 "${PAIR_REPS:-2}"); do
        for v in ${PAIR_VARIANTS:-plain augmented}; do
          for tag in new old; do
            bin=/tmp/dev/linspec-cuda-bench; [ $tag = old ] && bin=$bin-old
            timeout 120 "$bin" --model /tmp/models/$shape-$v --name "$shape-$v-$tag" \
              --batches "${PAIR_BATCHES:-1,2}" --tokens "${PAIR_TOKENS:-1,5}" --iters "${PAIR_ITERS:-50}" \
              --json "$OUT/pair_$shape-$v-$tag-$rep.json" > "$OUT/pair_$shape-$v-$tag-$rep.log" 2>&1 ||
              echo "pair $shape-$v $tag rep $rep failed: $(tail -2 "$OUT/pair_$shape-$v-$tag-$rep.log")"
          done
        done
      done
      python3 bench/cuda_pair_summary.py "$OUT" | tee "$OUT/pair_summary.md"
      pack
      ;;
    stream)
      timeout 300 /tmp/dev/linspec-cuda-stream-bench --json "$OUT/stream.json" 2>&1 |
        tee "$OUT/stream.md" | head -3
      pack
      ;;
    barrier)
      timeout 200 /tmp/dev/linspec-cuda-barrier-bench --json "$OUT/barrier.json" 2>&1 |
        tee "$OUT/barrier.md"
      pack
      ;;
    cuda-1.3b|cuda-7b|torch-1.3b|torch-7b)
      kind=${what%-*} shape=${what#*-}
      for v in plain augmented; do
        if [ "$kind" = cuda ]; then
          /tmp/dev/linspec-cuda-bench --model /tmp/models/$shape-$v --name "$shape-$v" ${CUDA_BENCH_ARGS:-} \
            --json "$OUT/cuda_$shape-$v.json" 2>&1 | tee "$OUT/bench_$shape-$v.log"
        else
          python3 bench/pytorch/linear_llama_bench.py --shape "$shape" --variant $v \
            --json "$OUT/torch_$shape-$v.json" 2>&1 | tee "$OUT/torch_$shape-$v.log"
        fi
        pack
      done
      ;;
  esac
done
