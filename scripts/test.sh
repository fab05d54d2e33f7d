#!/usr/bin/env bash
# Prepares what the end-to-end tests need on a fresh machine and runs the
# whole suite: installs docker.io, busybox-static and prometheus when
# missing, starts a throwaway dockerd on a private socket under a temp dir
# (unless
# POWERSTRIP_TEST_DOCKER names a daemon that answers), imports the test
# image, runs `go test -race ./...` with the end-to-end tests required, and
# stops the daemon. Extra arguments go to `go test` (scripts/test.sh -run E2E -v).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/daemon.sh
trap stop_daemon EXIT
start_daemon
export POWERSTRIP_E2E=required
log "go test -race ./... $*"
go test -race -count=1 "$@" ./...
