#!/usr/bin/env bash
# Sets everything up, builds, and serves the bundled default model (CPU when no GPU).
# Extra arguments go to linspec-server (see linspec-server --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release linspec-server
if [ ! -x build/release/server/linspec-server ]; then
  echo "serve: linspec-server is not built yet (the server issue has not landed)" >&2
  exit 1
fi
exec build/release/server/linspec-server "$@"
