#!/usr/bin/env bash
# Builds the Powerstrip image without pulling anything: a static binary built
# here, packed on scratch by Dockerfile.local. Usage: scripts/image.sh [TAG]
# (default powerstrip, the tag the README runs), against the daemon
# DOCKER_HOST names.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-powerstrip}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/powerstrip" ./cmd/powerstrip
cp Dockerfile.local "$ctx/Dockerfile"
DOCKER_BUILDKIT=0 docker build -t "$tag" "$ctx"
