#!/usr/bin/env bash
# Benchmark of netstack mode against TUN mode (docs/performance.md): one
# download of SIZE_MIB (200) MiB over HTTP from the web server behind the
# SoftEther peer, through
#   tun     l2tpctl connect (root, TUN l2tp0), curl straight to the server
#   socks5  l2tpctl connect --netstack (as nobody), curl --socks5-hostname
#   http    l2tpctl connect --netstack (as nobody), curl -x (HTTP proxy)
# For each, the l2tpctl process's CPU time (user + system, from
# /proc/PID/stat) spent during the download, per GB moved, and its peak
# RSS (VmHWM) over the whole run.
#
# Needs root and a running peer (scripts/peer-up.sh, same SE_STATE).
# Opt-in: CI does not run it. Env: SE_STATE (/tmp/l2tpctl-softether),
# SIZE_MIB (200), RUNS (1: runs of each mode, in turn), BIN (built here).
set -euo pipefail

SE_STATE=${SE_STATE:-/tmp/l2tpctl-softether}
SIZE_MIB=${SIZE_MIB:-200}
RUNS=${RUNS:-1}
. "$SE_STATE/conn.env"
cd "$(dirname "$0")/.."

WORK=$(mktemp -d /tmp/l2tpctl-bench-XXXXXX)
chmod 755 "$WORK"
WEB_PID="" CLI_PID=""
cleanup() {
  [ -n "$CLI_PID" ] && kill -INT "$CLI_PID" 2>/dev/null && sleep 3
  [ -n "$WEB_PID" ] && kill "$WEB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

BIN=${BIN:-$WORK/l2tpctl}
[ -x "$BIN" ] || CGO_ENABLED=0 go build -o "$BIN" .
mkdir -p "$WORK/www"
head -c "$((SIZE_MIB << 20))" /dev/zero > "$WORK/www/big"
ip netns exec "$SERVER_NS" python3 -m http.server --bind "$TAP_PEER_ADDR" --directory "$WORK/www" 8080 >/dev/null 2>&1 &
WEB_PID=$!
URL="http://$TAP_PEER_ADDR:8080/big"
TICK=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# run MODE: connect, download, disconnect; prints one result line.
run() {
  local mode=$1 log="$WORK/$1.log" pid t0 t1 c0 c1 bytes
  local common=(--server "$SERVER_ADDR" --user "$VPN_USER")
  case $mode in
    tun)
      L2TPCTL_PSK=$PSK L2TPCTL_PASSWORD=$VPN_PASS ip netns exec "$CLIENT_NS" \
        "$BIN" connect "${common[@]}" --route 192.168.30.0/24 --dns none >"$log" 2>&1 &
      ;;
    *)
      ip netns exec "$CLIENT_NS" setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
        env L2TPCTL_PSK="$PSK" L2TPCTL_PASSWORD="$VPN_PASS" \
        "$BIN" connect "${common[@]}" --netstack --socks5 127.0.0.1:1080 --http-proxy 127.0.0.1:3128 >"$log" 2>&1 &
      ;;
  esac
  CLI_PID=$!
  touch "$log"
  for _ in $(seq 300); do grep -q '^connected:' "$log" && break; sleep 0.1; done
  grep -q '^connected:' "$log" || { echo "$mode: not connected"; cat "$log"; return 1; }
  pid=$(pgrep -n -f "^$BIN connect") # the l2tpctl process itself (not ip/setpriv)
  local proxy=()
  case $mode in
    socks5) proxy=(--socks5-hostname 127.0.0.1:1080) ;;
    http) proxy=(-x http://127.0.0.1:3128) ;;
  esac
  # Warm up (the web server, ARP, the proxies), then measure.
  ip netns exec "$CLIENT_NS" curl -sS --retry 10 --retry-all-errors --retry-delay 1 -o /dev/null "${proxy[@]}" "http://$TAP_PEER_ADDR:8080/"
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  bytes=$(ip netns exec "$CLIENT_NS" curl -sS -o /dev/null -w '%{size_download}' "${proxy[@]}" "$URL")
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  local hwm; hwm=$(hwm_kib "$pid")
  kill -INT "$CLI_PID"; wait "$CLI_PID" || true; CLI_PID=""
  awk -v m="$mode" -v b="$bytes" -v c=$((c1 - c0)) -v tk="$TICK" -v t0="$t0" -v t1="$t1" -v h="$hwm" 'BEGIN {
    s = c / tk; gb = b / 1e9; d = t1 - t0
    printf "%-7s %6.1f MiB in %5.2f s = %6.1f Mbit/s; l2tpctl CPU %5.2f s = %5.1f CPU-s/GB; max RSS %5.1f MB\n",
      m, b / 1048576, d, b * 8 / d / 1e6, s, s / gb, h / 1024 }'
}

echo "# $(date -u +%F' '%H:%M' UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $SIZE_MIB MiB per download"
for _ in $(seq "$RUNS"); do
  for mode in tun socks5 http; do run "$mode"; done
done
