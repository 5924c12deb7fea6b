#!/bin/bash
# Runs on the GPU machine (device tool), from the repository root:
#   tools/train/run_device.sh smoke|full|both
# Needs the corpus splits in .device/corpus (tools/corpus/make_splits.py; pass it with carry).
# Writes logs and a tar of the exported models (split in 15 MiB parts) under $OUT.
set -euo pipefail
cd "$(dirname "$0")"
CORPUS=${CORPUS:-../../.device/corpus}  # relative to tools/train
OUT=${OUT:-/tmp/linspec-train-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
mode=${1:-both}
python3 -c "import torch, tokenizers, safetensors; print('torch', torch.__version__, 'tokenizers', tokenizers.__version__, 'safetensors', safetensors.__version__, torch.cuda.get_device_name())"
nproc
if [[ $mode == smoke || $mode == both ]]; then
  python3 train.py --corpus $CORPUS --out /tmp/smoke --steps 20 --max-test-docs 4 \
    --val-windows 8 --recurrent-check-tokens 70 2>&1 | tee "$OUT/smoke.log"
fi
if [[ $mode == full || $mode == both ]]; then
  rm -rf /tmp/full
  python3 train.py --corpus $CORPUS --out /tmp/full 2>&1 | tee "$OUT/train.log"
  (cd /tmp/full && tar cf - models/default models/draft models/plain/config.json \
      models/plain/README.md testdata results.json) | split -b 15m - "$OUT/export.tar.part-"
  ls -la "$OUT"
fi
