# Sourced by test.sh and load.sh: installs what the end-to-end tests need
# and starts a throwaway Docker daemon with the test image.
#   start_daemon: installs Debian's docker.io (dockerd 20.10 and its CLI),
#     busybox-static, prometheus (for the metrics test, which runs the
#     binary itself, never the package's service), and the clients the
#     stream tests drive (docker-compose 1.29 and python3-docker from
#     Debian, dockerode from npm into a cache outside the repository) when
#     missing; starts dockerd on a private socket under a
#     temp dir (vfs storage, no iptables, no bridge), unless
#     POWERSTRIP_TEST_DOCKER already names a daemon that answers; imports
#     the test image (busybox-static as the whole root filesystem: there is
#     no registry here); exports POWERSTRIP_TEST_DOCKER and
#     POWERSTRIP_TEST_IMAGE.
#     Also installs Debian's podman and runs `podman system service` on a
#     private socket with vfs storage under the same temp dir, with the
#     test image imported, for the policy tests against Podman's own API;
#     exports POWERSTRIP_TEST_PODMAN.
#   stop_daemon: stops the daemons start_daemon started, and cleans up.

log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

daemon_workdir=
daemon_pid=
dockercli=/usr/bin/docker

answers() { DOCKER_HOST="$1" timeout 10 "$dockercli" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start_daemon() {
  local need_install=()
  command -v dockerd >/dev/null 2>&1 || need_install+=(docker.io)
  [ -x /usr/bin/docker ] || need_install+=(docker.io)
  command -v busybox >/dev/null 2>&1 || need_install+=(busybox-static)
  command -v prometheus >/dev/null 2>&1 || need_install+=(prometheus)
  [ -x /usr/bin/docker-compose ] || need_install+=(docker-compose)
  /usr/bin/python3 -c 'import docker' >/dev/null 2>&1 || need_install+=(python3-docker)
  command -v node >/dev/null 2>&1 || need_install+=(nodejs)
  command -v npm >/dev/null 2>&1 || need_install+=(npm)
  command -v podman >/dev/null 2>&1 || need_install+=(podman)
  if [ ${#need_install[@]} -gt 0 ]; then
    log "installing ${need_install[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_install[@]}" >/dev/null
    # The package starts its own service where systemd runs; the tests run
    # the binary on loopback with a config of their own, so stop it.
    if [[ " ${need_install[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
    fi
  fi
  install_dockerode || return 1

  daemon_workdir=$(mktemp -d /tmp/powerstrip-test.XXXXXX)
  if [ -n "${POWERSTRIP_TEST_DOCKER:-}" ] && answers "$POWERSTRIP_TEST_DOCKER"; then
    log "using the daemon at $POWERSTRIP_TEST_DOCKER"
  else
    export POWERSTRIP_TEST_DOCKER="unix://$daemon_workdir/docker.sock"
    log "starting a throwaway dockerd at $POWERSTRIP_TEST_DOCKER (log: $daemon_workdir/dockerd.log)"
    dockerd --host "$POWERSTRIP_TEST_DOCKER" \
      --data-root "$daemon_workdir/data" --exec-root "$daemon_workdir/exec" --pidfile "$daemon_workdir/dockerd.pid" \
      --storage-driver vfs --iptables=false --ip-masq=false --bridge=none \
      >"$daemon_workdir/dockerd.log" 2>&1 &
    daemon_pid=$!
    local i
    for i in $(seq 1 300); do
      answers "$POWERSTRIP_TEST_DOCKER" && break
      kill -0 "$daemon_pid" 2>/dev/null || { cat "$daemon_workdir/dockerd.log" >&2; log "dockerd exited"; return 1; }
      sleep 0.1
    done
    answers "$POWERSTRIP_TEST_DOCKER" || { tail -50 "$daemon_workdir/dockerd.log" >&2; log "dockerd did not answer within 30s"; return 1; }
  fi

  export POWERSTRIP_TEST_IMAGE=powerstrip-test:busybox
  if ! DOCKER_HOST=$POWERSTRIP_TEST_DOCKER "$dockercli" image inspect "$POWERSTRIP_TEST_IMAGE" >/dev/null 2>&1; then
    make_rootfs
    DOCKER_HOST=$POWERSTRIP_TEST_DOCKER "$dockercli" import \
      --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' \
      "$daemon_workdir/rootfs.tar" "$POWERSTRIP_TEST_IMAGE" >/dev/null
    log "imported $POWERSTRIP_TEST_IMAGE"
  fi
  start_podman
}

# make_rootfs writes the test image's root filesystem, busybox-static as
# the whole of it, to $daemon_workdir/rootfs.tar, once.
make_rootfs() {
  [ -f "$daemon_workdir/rootfs.tar" ] && return 0
  local rootfs="$daemon_workdir/rootfs" applet
  mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp"
  cp "$(command -v busybox)" "$rootfs/bin/busybox"
  for applet in $("$rootfs/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
  echo 'root:x:0:' >"$rootfs/etc/group"
  tar -C "$rootfs" -cf "$daemon_workdir/rootfs.tar" .
}

# start_podman runs Podman's API service on a private socket, storage under
# the temp dir, and imports the test image into it (as localhost/NAME).
podman_pid=
start_podman() {
  local root="$daemon_workdir/podman" sock i
  sock="$root/podman.sock"
  mkdir -p "$root"
  podman --root "$root/graph" --runroot "$root/run" --storage-driver vfs \
    system service --time 0 "unix://$sock" >"$root/service.log" 2>&1 &
  podman_pid=$!
  for i in $(seq 1 100); do
    [ -S "$sock" ] && podman --remote --url "unix://$sock" version >/dev/null 2>&1 && break
    kill -0 "$podman_pid" 2>/dev/null || { cat "$root/service.log" >&2; log "podman system service exited"; return 1; }
    sleep 0.1
  done
  [ -S "$sock" ] || { log "podman's socket did not appear within 10s"; return 1; }
  export POWERSTRIP_TEST_PODMAN="unix://$sock"
  make_rootfs
  timeout 120 podman --remote --url "$POWERSTRIP_TEST_PODMAN" import --change 'CMD ["/bin/sh"]' \
    "$daemon_workdir/rootfs.tar" "localhost/$POWERSTRIP_TEST_IMAGE" >/dev/null
  log "podman at $POWERSTRIP_TEST_PODMAN, with localhost/$POWERSTRIP_TEST_IMAGE"
}

# install_dockerode installs the Node SDK the stream tests drive into a
# cache outside the repository (TestE2ENodeSDK finds it there, or at
# POWERSTRIP_TEST_NODE_MODULES), once.
install_dockerode() {
  local modules=${POWERSTRIP_TEST_NODE_MODULES:-$HOME/.cache/powerstrip-test/node/node_modules}
  [ -f "$modules/dockerode/package.json" ] && return 0
  log "installing dockerode into $(dirname "$modules")"
  mkdir -p "$(dirname "$modules")"
  timeout 300 npm install --no-audit --no-fund --prefix "$(dirname "$modules")" dockerode@4 >/dev/null
}

# stop_pid stops a process: TERM, up to $2 tenths of a second for it to
# exit (dockerd stops its containers and containerd first), then KILL.
stop_pid() {
  local pid=$1 tenths=$2 i
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for i in $(seq 1 "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

stop_daemon() {
  stop_pid "$podman_pid" 50
  podman_pid=
  stop_pid "$daemon_pid" 100
  daemon_pid=
  if [ -n "$daemon_workdir" ]; then
    unmount_under "$daemon_workdir"
    rm -rf "$daemon_workdir" 2>/dev/null || log "could not remove $daemon_workdir"
    daemon_workdir=
  fi
}

# unmount_under unmounts every mount point under a directory, deepest
# first: dockerd leaves exec/netns/default and others mounted there, and
# `umount -R DIR` does nothing when DIR itself is not a mount point.
mounts_under() {
  # Field 5 of mountinfo is the mount point, with space, tab, newline and
  # backslash written as octal escapes (\040); printf %b undoes them.
  local dir=$1 mp
  while read -r _ _ _ _ mp _; do
    mp=$(printf '%b' "$mp")
    case "$mp" in "$dir"/*) printf '%s\n' "$mp" ;; esac
  done </proc/self/mountinfo
}
unmount_under() {
  local dir mp left
  dir=$(realpath "$1" 2>/dev/null) || return 0
  # Deepest first: by the number of slashes, most first.
  mounts_under "$dir" | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2- | while IFS= read -r mp; do
    umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || log "could not unmount $mp"
  done
  left=$(mounts_under "$dir")
  [ -z "$left" ] || log "still mounted under $dir: $left"
}
