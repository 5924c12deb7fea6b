#!/usr/bin/env bash
# Sets everything up, builds, and serves the bundled default model (CPU when no GPU).
# Extra arguments go to linspec-server (see linspec-server --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release linspec-server
# Without --model the server serves the bundled pair: models/default with models/draft as
# its draft model (adaptive k backs speculation off when it does not pay).
exec build/release/server/linspec-server "$@"
