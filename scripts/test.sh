#!/usr/bin/env bash
# Prepares what the end-to-end tests need on a fresh machine and runs the whole suite:
#   - installs Debian's docker.io (dockerd 20.10 and its CLI) and busybox-static when missing;
#   - starts a throwaway dockerd on a private socket under a temp dir, unless
#     POWERSTRIP_TEST_DOCKER already names a daemon that answers;
#   - imports the test image (busybox-static packed as a rootfs) into that daemon;
#   - runs `go test -race ./...` with the end-to-end tests required, then stops the daemon.
# Extra arguments go to `go test` (e.g. scripts/test.sh -run E2E -v).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'test.sh: %s\n' "$*" >&2; }

need_install=()
command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
[ -x /usr/bin/docker ] || need_install+=(docker.io)
[ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 || need_install+=(busybox-static)
if [ ${#need_install[@]} -gt 0 ]; then
  log "installing ${need_install[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_install[@]}" >/dev/null
fi

workdir=$(mktemp -d /tmp/powerstrip-test.XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    # dockerd stops its containers and containerd before it exits; bounded wait.
    for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$daemon_pid" 2>/dev/null || true
  fi
  umount -R "$workdir" 2>/dev/null || true
  rm -rf "$workdir" 2>/dev/null || true
}
trap cleanup EXIT

dockercli=/usr/bin/docker
answers() { DOCKER_HOST="$1" timeout 10 "$dockercli" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if [ -n "${POWERSTRIP_TEST_DOCKER:-}" ] && answers "$POWERSTRIP_TEST_DOCKER"; then
  log "using the daemon at $POWERSTRIP_TEST_DOCKER"
else
  sock="$workdir/docker.sock"
  export POWERSTRIP_TEST_DOCKER="unix://$sock"
  log "starting a throwaway dockerd at $POWERSTRIP_TEST_DOCKER (log: $workdir/dockerd.log)"
  dockerd --host "$POWERSTRIP_TEST_DOCKER" \
    --data-root "$workdir/data" --exec-root "$workdir/exec" --pidfile "$workdir/dockerd.pid" \
    --storage-driver vfs --iptables=false --ip-masq=false --bridge=none \
    >"$workdir/dockerd.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 300); do
    answers "$POWERSTRIP_TEST_DOCKER" && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$workdir/dockerd.log" >&2; log "dockerd exited"; exit 1; }
    sleep 0.1
  done
  answers "$POWERSTRIP_TEST_DOCKER" || { tail -50 "$workdir/dockerd.log" >&2; log "dockerd did not answer within 30s"; exit 1; }
fi

# The test image: busybox-static as the whole root filesystem. There is no
# registry here, so it is imported from a tar rather than pulled.
export POWERSTRIP_TEST_IMAGE=powerstrip-test:busybox
if ! DOCKER_HOST=$POWERSTRIP_TEST_DOCKER "$dockercli" image inspect "$POWERSTRIP_TEST_IMAGE" >/dev/null 2>&1; then
  rootfs="$workdir/rootfs"
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
  busybox_bin=$(command -v busybox)
  cp "$busybox_bin" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  tar -C "$rootfs" -cf "$workdir/rootfs.tar" .
  DOCKER_HOST=$POWERSTRIP_TEST_DOCKER "$dockercli" import \
    --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
    "$workdir/rootfs.tar" "$POWERSTRIP_TEST_IMAGE" >/dev/null
  log "imported $POWERSTRIP_TEST_IMAGE"
fi

export POWERSTRIP_E2E=required
log "go test -race ./... $*"
go test -race -count=1 "$@" ./...
