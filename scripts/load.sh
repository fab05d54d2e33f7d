#!/usr/bin/env bash
# Bounded load on loopback: 200 concurrent API calls through a remote
# pre-hook, then 1,000 concurrent event streams, through the powerstrip
# binary in front of a throwaway daemon (started as scripts/test.sh does).
# Extra arguments go to the driver (-callers, -calls, -streams).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stream holds a client and a daemon connection in the proxy; the hard
# limit may keep this lower (20,000 on the development machines).
ulimit -n 65536 2>/dev/null || true
source scripts/daemon.sh
bin=$(mktemp -d)
trap 'rm -rf "$bin"; stop_daemon' EXIT
go build -o "$bin/powerstrip" ./cmd/powerstrip
go build -tags benchdriver -o "$bin/loadtest" ./internal/cmd/loadtest
start_daemon
echo "machine: $(nproc) cores, $(uname -m), $(go version | cut -d' ' -f3), daemon $(DOCKER_HOST=$POWERSTRIP_TEST_DOCKER /usr/bin/docker version --format '{{.Server.Version}}')"
"$bin/loadtest" -powerstrip "$bin/powerstrip" -docker "$POWERSTRIP_TEST_DOCKER" -image "$POWERSTRIP_TEST_IMAGE" "$@"
