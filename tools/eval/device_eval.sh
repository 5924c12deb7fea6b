#!/usr/bin/env bash
# GPU machine (device tool, carry ["build-train-pack"]): speculative statistics and tokens/s
# of models/default + models/draft on the machine's CPUs and on the GPU, and GPU perplexity.
# JSON and logs go to $OUT. Pack first with tools/eval/pack_device.sh.
set -uo pipefail
OUT=${OUT:-$PWD/eval_out}
mkdir -p "$OUT" /tmp/ev
tar xJf build-train-pack/eval.tar.xz -C /tmp/ev
cublas=$(ls /usr/local/cuda/lib64/libcublas.so.13 2>/dev/null || find / -name 'libcublas.so.13' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=/tmp/ev/lib:$(dirname "${cublas:-/usr/local/cuda/lib64/x}"):/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
lscpu | grep -E "Model name|^CPU\(s\)" | tee -a "$OUT/device.txt"
E=/tmp/ev/linspec-eval
S="speculative --target models/default --draft models/draft --prompts /tmp/ev/test.txt --prompt-tokens 32 --max-new-tokens 64 --k-max 8 --temperatures 0,0.8"
run() { local name=$1; shift; echo "== $name"; timeout 240 $E "$@" --json "$OUT/$name.json" 2>&1 | tee "$OUT/$name.log"; }
run cpu_b1 $S --device cpu --threads ${CPU_THREADS:-8} --batch 1 --num-prompts 8
run cpu_b16 $S --device cpu --threads ${CPU_THREADS:-8} --batch 16 --num-prompts 16
run cuda_b1 $S --device cuda --batch 1 --num-prompts 8
run cuda_b16 $S --device cuda --batch 16 --num-prompts 16
run cuda_ppl_default perplexity --device cuda --model models/default --text /tmp/ev/test.txt
run cuda_ppl_draft perplexity --device cuda --model models/draft --text /tmp/ev/test.txt
