#!/usr/bin/env bash
# Pass-through benchmark, side by side in one run: requests/s and latency
# with wrk -t1 -c32 (Debian's wrk), against
#   - a static nginx upstream: alone, through HAProxy 2.6, through
#     httputil.ReverseProxy, through the Powerstrip binary with no hook
#     (metrics off, and on with -metrics-listen) and with one remote
#     adapter, through the library (Serve, as the binary
#     serves) with no hook and with one in-process hook, and through the
#     library with no hook served by net/http alone, for what the lean
#     path saves;
#   - the real daemon's socket (GET /_ping) through HAProxy,
#     httputil.ReverseProxy and Powerstrip (wrk speaks TCP only, so the
#     daemon cannot be measured alone);
#   - ten CEL rules on containers/create against an unhooked create, through
#     the library against the real daemon (BenchmarkCreateWithRules), and
#     the rules alone (BenchmarkRules).
# Installs wrk, haproxy and nginx-light from Debian when missing; starts a
# throwaway daemon as scripts/test.sh does. Loopback only; each wrk run is
# bounded by -d. Usage: scripts/bench-http.sh [seconds per run, default 5]
# (ROUNDS=n for more rounds than 3).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-5}
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v nginx >/dev/null || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
source scripts/daemon.sh
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  stop_daemon
  rm -rf "$work"
}
trap cleanup EXIT
start_daemon
sock=${POWERSTRIP_TEST_DOCKER#unix://}

go build -o "$work/powerstrip" ./cmd/powerstrip
go build -tags benchdriver -o "$work/httpbench" ./internal/cmd/httpbench

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; return 1; }

nginx_port=$(port)
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { default_type application/json; return 200 '{"Id":"4f1c","Warnings":[]}'; }
  }
}
NGINX
nginx -c "$work/nginx.conf" & pids+=($!)
wait_port "$nginx_port"

ha_port=$(port); ha_sock_port=$(port)
cat >"$work/haproxy.cfg" <<HA
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend nginx
  bind 127.0.0.1:$ha_port
  default_backend nginx
backend nginx
  server n 127.0.0.1:$nginx_port
frontend daemon
  bind 127.0.0.1:$ha_sock_port
  default_backend daemon
backend daemon
  server d $sock
HA
haproxy -f "$work/haproxy.cfg" & pids+=($!)

rp_port=$(port); rp_sock_port=$(port); ip_port=$(port); lean_port=$(port); nh_port=$(port); adapter_port=$(port); ps_port=$(port); hooked_port=$(port); ps_sock_port=$(port); psm_port=$(port); psm_metrics_port=$(port)
"$work/httpbench" -mode reverseproxy -listen "127.0.0.1:$rp_port" -upstream "tcp://127.0.0.1:$nginx_port" & pids+=($!)
"$work/httpbench" -mode reverseproxy -listen "127.0.0.1:$rp_sock_port" -upstream "unix://$sock" & pids+=($!)
"$work/httpbench" -mode inprocess -listen "127.0.0.1:$ip_port" -upstream "tcp://127.0.0.1:$nginx_port" & pids+=($!)
"$work/httpbench" -mode lean -listen "127.0.0.1:$lean_port" -upstream "tcp://127.0.0.1:$nginx_port" & pids+=($!)
"$work/httpbench" -mode nethttp -listen "127.0.0.1:$nh_port" -upstream "tcp://127.0.0.1:$nginx_port" & pids+=($!)
"$work/httpbench" -mode adapter -listen "127.0.0.1:$adapter_port" & pids+=($!)
printf 'version: 1\nendpoints: {}\nadapters: {}\n' >"$work/none.yml"
printf 'version: 1\nendpoints:\n  "* /**":\n    pre: [noop]\nadapters:\n  noop: http://127.0.0.1:%s/\n' "$adapter_port" >"$work/remote.yml"
"$work/powerstrip" -config "$work/none.yml" -listen "tcp://127.0.0.1:$ps_port" -docker "tcp://127.0.0.1:$nginx_port" 2>/dev/null & pids+=($!)
"$work/powerstrip" -config "$work/remote.yml" -listen "tcp://127.0.0.1:$hooked_port" -docker "tcp://127.0.0.1:$nginx_port" 2>/dev/null & pids+=($!)
"$work/powerstrip" -config "$work/none.yml" -listen "tcp://127.0.0.1:$ps_sock_port" -docker "unix://$sock" 2>/dev/null & pids+=($!)
# The same binary with its metrics served: the cost of counting every call.
"$work/powerstrip" -config "$work/none.yml" -listen "tcp://127.0.0.1:$psm_port" -docker "tcp://127.0.0.1:$nginx_port" \
  -metrics-listen "127.0.0.1:$psm_metrics_port" 2>/dev/null & pids+=($!)
for p in $ha_port $ha_sock_port $rp_port $rp_sock_port $ip_port $lean_port $nh_port $adapter_port $ps_port $hooked_port $ps_sock_port $psm_port $psm_metrics_port; do wait_port "$p"; done

# run NAME URL: one wrk run; prints "NAME|req/s|p50|p99".
run() {
  local out
  out=$(wrk -t1 -c32 -d"${secs}s" --latency "$2" 2>&1)
  if ! grep -q 'Requests/sec' <<<"$out"; then echo "$out" >&2; return 1; fi
  if grep -q 'Non-2xx' <<<"$out"; then echo "$1: errors: $(grep Non-2xx <<<"$out")" >&2; fi
  printf '%s|%s|%s|%s\n' "$1" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1=="50%" {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}
# Three rounds, each running every row once, so that a slow moment of the
# machine spreads over the rows instead of falling on one; the table shows
# each row's median round (by req/s).
rounds=${ROUNDS:-3}
results=$(
  for _ in $(seq 1 "$rounds"); do
    run "nginx alone" "http://127.0.0.1:$nginx_port/v1.41/containers/create"
    run "HAProxy 2.6" "http://127.0.0.1:$ha_port/v1.41/containers/create"
    run "httputil.ReverseProxy" "http://127.0.0.1:$rp_port/v1.41/containers/create"
    run "Powerstrip binary, no hook" "http://127.0.0.1:$ps_port/v1.41/containers/create"
    run "Powerstrip binary, no hook, metrics on" "http://127.0.0.1:$psm_port/v1.41/containers/create"
    run "Powerstrip library, no hook" "http://127.0.0.1:$lean_port/v1.41/containers/create"
    run "Powerstrip library, in-process hook" "http://127.0.0.1:$ip_port/v1.41/containers/create"
    run "Powerstrip binary, remote hook" "http://127.0.0.1:$hooked_port/v1.41/containers/create"
    run "Powerstrip library, no hook, net/http only" "http://127.0.0.1:$nh_port/v1.41/containers/create"
    run "daemon /_ping via HAProxy" "http://127.0.0.1:$ha_sock_port/_ping"
    run "daemon /_ping via ReverseProxy" "http://127.0.0.1:$rp_sock_port/_ping"
    run "daemon /_ping via Powerstrip" "http://127.0.0.1:$ps_sock_port/_ping"
  done | awk -F'|' '
    { if (!($1 in n)) order[++k] = $1; i = ++n[$1]; line[$1, i] = $0; rps[$1, i] = $2 + 0 }
    END {
      for (j = 1; j <= k; j++) {
        name = order[j]; m = n[name]
        for (a = 1; a <= m; a++) idx[a] = a
        for (a = 2; a <= m; a++) for (b = a; b > 1 && rps[name, idx[b-1]] > rps[name, idx[b]]; b--) { t = idx[b]; idx[b] = idx[b-1]; idx[b-1] = t }
        print line[name, idx[int((m + 1) / 2)]]
      }
    }'
)
echo "machine: $(nproc) cores, $(uname -m), $(go version | cut -d' ' -f3), wrk -t1 -c32 -d${secs}s, median of $rounds rounds"
echo
awk -F'|' '
  { name[NR]=$1; rps[NR]=$2; p50[NR]=$3; p99[NR]=$4; by[$1]=$2 }
  END {
    print "| path | req/s | p50 | p99 | vs HAProxy | vs ReverseProxy |"
    print "|---|---|---|---|---|---|"
    for (i=1; i<=NR; i++) {
      ha = (name[i] ~ /daemon/) ? by["daemon /_ping via HAProxy"] : by["HAProxy 2.6"]
      rp = (name[i] ~ /daemon/) ? by["daemon /_ping via ReverseProxy"] : by["httputil.ReverseProxy"]
      printf "| %s | %.0f | %s | %s | %.2f× | %.2f× |\n", name[i], rps[i], p50[i], p99[i], rps[i]/ha, rps[i]/rp
    }
    printf "\nhook cost: in-process %.0f%% (against the library with no hook), remote %.0f%% (against the binary with no hook)\n",
      100*(1-by["Powerstrip library, in-process hook"]/by["Powerstrip library, no hook"]),
      100*(1-by["Powerstrip binary, remote hook"]/by["Powerstrip binary, no hook"])
    printf "metrics on: %.2f× the binary with metrics off\n", by["Powerstrip binary, no hook, metrics on"]/by["Powerstrip binary, no hook"]
  }' <<<"$results"
echo
echo "the metrics-on binary counted (powerstrip_calls_total):"
python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
  "http://127.0.0.1:$psm_metrics_port/metrics" | grep '^powerstrip_calls_total' || true
echo
# Issue 14: ten CEL rules on containers/create against an unhooked create,
# both through the library in the same run against the real daemon, and
# the rules alone (body conversion and ten evaluations).
echo "rules on containers/create (the real daemon; same run, alternating):"
POWERSTRIP_TEST_DOCKER=$POWERSTRIP_TEST_DOCKER POWERSTRIP_TEST_IMAGE=$POWERSTRIP_TEST_IMAGE \
  go test -run '^$' -bench '^(BenchmarkCreateWithRules|BenchmarkRules)$' -benchtime 40x ./policy/ |
  awk '/^Benchmark/ { print "| " $0 " |" }'
