#!/usr/bin/env bash
# Sets everything up on a fresh machine, builds, and runs the test suite (all labels; gpu
# tests skip themselves without a device). Usage: scripts/test.sh [preset] [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
preset=${1:-release}; shift || true
bash scripts/build.sh "$preset"
ctest --preset "$preset" "$@"
