#!/usr/bin/env bash
# One call on the GPU machine: serves the bundled pair (models/default + models/draft) with the
# CUDA engine and drives it with linspec-bench over gRPC at several concurrencies, with the
# drafter none / ngram / draft_model; plus a curl -N SSE check. Logs and JSON go to $OUT.
set -uo pipefail
FINAL=${OUT:-$PWD/http_serve_out}
OUT=/tmp/http_serve_out  # packed into $FINAL/http_serve_results.tgz at the end (few files back)
mkdir -p "$FINAL" "$OUT" /tmp/dev
tar xJf .device/server_pack.tar.xz -C /tmp/dev
cublas=$(ls /usr/local/cuda/lib64/libcublas.so.13 2>/dev/null || find / -name 'libcublas.so.13' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=/tmp/dev/lib:$(dirname "${cublas:-/usr/local/cuda/lib64/x}"):/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/device.txt"
MAX_TOKENS=${MAX_TOKENS:-128}

serve() {  # drafter [extra flags] -> starts the server, sets GP/HP/PID
  /tmp/dev/linspec-server --model models/default --draft-model models/draft --drafter "$1" ${2:-} \
    --device cuda --num-slots 64 --max-queue 1024 --http-port 0 --grpc-port 0 \
    --log-level warn > /tmp/srv.out 2> "$OUT/server_$1.log" &
  PID=$!
  for _ in $(seq 600); do grep -q ready /tmp/srv.out && break; sleep 0.1; done
  GP=$(grep -o 'grpc=127.0.0.1:[0-9]*' /tmp/srv.out | cut -d: -f2)
  HP=$(grep -o 'http=127.0.0.1:[0-9]*' /tmp/srv.out | cut -d: -f2)
}

# Modes: drafter, or drafter:host = the same with --host-sampling (sampling and acceptance on
# the host from copied logits, the baseline for on-device sampling; sampled runs only).
for mode in ${MODES:-none none:host ngram draft_model draft_model:host}; do
  drafter=${mode%%:*} tag=${mode/:/_} extra= temps="0 0.8"
  if [ "$mode" != "$drafter" ]; then extra=--host-sampling temps=0.8; fi
  serve "$drafter" "$extra"
  if [ -z "$GP" ]; then echo "server ($mode) did not start"; cat "$OUT/server_$tag.log"; continue; fi
  for c in 1 16 64; do
    n=$((c * 4)); [ "$n" -lt 16 ] && n=16
    for t in $temps; do
      echo "== drafter=$drafter sampling=${extra:-device} concurrency=$c temperature=$t" | tee -a "$OUT/bench.txt"
      timeout 240 /tmp/dev/linspec-bench --target "127.0.0.1:$GP" -c "$c" -n "$n" \
        --max-tokens "$MAX_TOKENS" --temperature "$t" \
        --json "$OUT/bench_${tag}_c${c}_t${t}.json" 2>&1 | tee -a "$OUT/bench.txt"
    done
  done
  drafter=$tag
  curl -sN "127.0.0.1:$HP/v1/completions" -d '{"prompt":"The jury said","max_tokens":24,"temperature":0,"stream":true}' \
    > "$OUT/sse_$drafter.txt"
  curl -s "127.0.0.1:$HP/metrics" > "$OUT/metrics_$drafter.txt"
  kill -TERM "$PID"; wait "$PID"; echo "server exit $?" >> "$OUT/bench.txt"
done
tail -n 3 "$OUT"/sse_*.txt
tar czf "$FINAL/http_serve_results.tgz" -C "$OUT" .
cp "$OUT/bench.txt" "$FINAL/"
