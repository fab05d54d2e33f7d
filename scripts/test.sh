#!/usr/bin/env bash
# Prepares what the end-to-end tests need on a fresh machine and runs the
# whole suite: installs docker.io, busybox-static, prometheus, podman and
# the clients the tests drive when missing (scripts/daemon.sh), starts a
# throwaway dockerd on a private socket under a temp dir (unless
# POWERSTRIP_TEST_DOCKER names a daemon that answers) and a Podman
# service beside it, imports the test image into both, runs `go test -race
# ./...` with the end-to-end tests required, and stops the daemons. Extra
# arguments go to `go test` (scripts/test.sh -run E2E -v).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/daemon.sh
trap stop_daemon EXIT
start_daemon
export POWERSTRIP_E2E=required
# -timeout: the default 10 minutes per package is too tight for the
# end-to-end packages under -race on a loaded 2-core machine.
log "go test -race -timeout 30m ./... $*"
go test -race -count=1 -timeout 30m "$@" ./...
