#!/usr/bin/env bash
# Streams benchmark: 1 GiB up and 1 GiB down straight to a Docker-like
# upstream, through HAProxy and through Powerstrip, in one run, with each
# proxy's peak RSS. Installs haproxy from Debian's packages if missing.
# Extra arguments go to streambench (-size, -reps).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v haproxy >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq haproxy >/dev/null
fi
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/powerstrip" ./cmd/powerstrip
go build -tags benchdriver -o "$bin/streambench" ./internal/cmd/streambench
echo "machine: $(nproc) cores, $(uname -m), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(go version | cut -d' ' -f3)"
"$bin/streambench" -powerstrip "$bin/powerstrip" "$@"
