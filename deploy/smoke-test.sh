#!/usr/bin/env bash
# Starts the built image's server inside a buildah container (host network, chroot
# isolation) and checks /health, a completion and /metrics from the host.
# Usage: deploy/smoke-test.sh [tag]
set -euo pipefail
tag=${1:-linspec:latest}
B=(buildah --storage-driver vfs)
ctr=$("${B[@]}" from "$tag")
trap '"${B[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
port=18000
"${B[@]}" run --isolation chroot --network host "$ctr" -- /opt/linspec/bin/linspec-server \
  --host=127.0.0.1 --http-port=$port --grpc-port=0 --model=/opt/linspec/models/default >/tmp/linspec-smoke.log 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$port/health"
curl -fsS "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
  -d '{"prompt":"The city","max_tokens":8,"temperature":0}'
echo
curl -fsS "http://127.0.0.1:$port/metrics" | grep -c '^linspec_' | sed 's/^/metric lines: /'
kill -TERM $pid; wait $pid || true
echo "smoke: ok"
