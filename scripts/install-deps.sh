#!/usr/bin/env bash
# Installs every build and test dependency from Debian bookworm packages (and the pinned npm
# packages of the integration tests). Idempotent: does nothing when all are present.
# LINSPEC_DEPS=build installs only what building the server needs (the container image).
set -euo pipefail
scope=${LINSPEC_DEPS:-all}
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake ninja-build pkg-config git python3 curl ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev prometheus-cpp-dev libboost-dev libboost-system-dev
  nlohmann-json3-dev libre2-dev libsentencepiece-dev libopenblas-dev libspdlog-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
if [ "$scope" = all ]; then
  PKGS+=(clang-format nodejs npm prometheus)
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# nodejs/npm may come from outside Debian's packages; accept any working node + npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Real clients used by the integration tests, pinned in tests/integration/package-lock.json.
if [ "$scope" = all ] && [ -f tests/integration/package.json ]; then
  if [ ! -d tests/integration/node_modules ] || [ tests/integration/package-lock.json -nt tests/integration/node_modules ]; then
    (cd tests/integration && npm ci --no-audit --no-fund --loglevel=error)
    touch tests/integration/node_modules
  fi
fi
echo "install-deps: ok"
