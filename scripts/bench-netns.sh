#!/usr/bin/env bash
# Data-path benchmark (docs/performance.md): raw veth against l2tpctl's
# tunnel to the benchmark peer (tunnel/internal/benchpeer: our own IKE
# responder, LNS and PPP server on real sockets, ending the link on a TUN
# device), in two fresh network namespaces:
#
# ┌──────────────────────────────────┐      ┌───────────────────────────────────────┐
# │ netns $CLI_NS (bench-ncli)       │      │ netns $SRV_NS (bench-nsrv)            │
# │                                  │      │                                       │
# │  iperf3 -c, benchpeer udpping    │      │  iperf3 -s, benchpeer udpecho         │
# │  l2tpctl connect                 │      │  benchpeer serve: UDP 500, 4500       │
# │  l2tp0 (TUN) 10.229.9.2 ┄┄┄┄┄┄┄┄┄┼┄┄┄┄┄┄┼┄┄ $PEER_TUN (bpeer0) 10.229.9.1       │
# │         (tunnel: ESP in UDP 4500)│      │                                       │
# │ ┌─────────────────────────────┐  │ veth │ ┌─────────────────────────────┐       │
# │ │ $CLI_IF (bnchc0)            ├──┼──────┼─┤ $SRV_IF (bnchs0)            │       │
# │ │ 10.229.0.2/24               │  │      │ │ 10.229.0.1/24               │       │
# │ └─────────────────────────────┘  │      │ └─────────────────────────────┘       │
# └──────────────────────────────────┘      └───────────────────────────────────────┘
#
# Each round (ROUNDS, 5) measures, in this order so that neighbours' load
# hits both alike: on raw veth iperf3 TCP with 1 and with 4 streams
# (SECONDS_PER_RUN, 5 s each) and 200-byte UDP request/response round trips
# (RTT_N, 1000); then for each ESP suite (SUITES, "aes128-sha1
# aes128gcm16") one l2tpctl connection (connect time from its --json
# events), the same two TCP runs and round trips through it, and a
# disconnect. Per TCP run: Mbit/s, TCP retransmits (iperf3), the CPU time
# (user + system, /proc/PID/stat: what getrusage would report for the
# process) of l2tpctl and of the peer per GB received, and l2tpctl's peak
# RSS (VmHWM); per connection, the datagrams dropped for full UDP socket
# buffers and the packets dropped on the TUN devices, client and peer side
# (the causes of TCP retransmits). The ratio is the tunnel's Mbit/s over raw veth's in the same
# round.
#
# Output: a table (median [min–max] over the rounds); with --json one JSON
# document instead (docs/performance.md describes its fields). Progress
# goes to stderr; KEEP=1 keeps the raw results in $WORK.
#
# Knobs (environment): ROUNDS, SECONDS_PER_RUN, RTT_N, SUITES as above;
# SRV_NS, CLI_NS, SRV_IF, CLI_IF, PEER_TUN (names), NET (the veth /24,
# 10.229.0) and PPPNET (the tunnel's addresses, 10.229.9): change them all
# when another run may be going on; PEER_DATAPATH (tunnel, or peertest
# for the old per-packet path, to compare).
#
# Needs root and Go (binaries are built before entering the namespaces);
# installs iperf3 if missing. Opt-in: CI does not run it. About 4 minutes
# with the defaults. Cleans up what it created (by PID and by name).
set -euo pipefail

JSON=0
for a in "$@"; do
  case $a in
    --json) JSON=1 ;;
    *) echo "usage: bench-netns.sh [--json]" >&2; exit 2 ;;
  esac
done

ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
RTT_N=${RTT_N:-1000}
SUITES=${SUITES:-"aes128-sha1 aes128gcm16"}
SRV_NS=${SRV_NS:-bench-nsrv}
CLI_NS=${CLI_NS:-bench-ncli}
SRV_IF=${SRV_IF:-bnchs0}
CLI_IF=${CLI_IF:-bnchc0}
PEER_TUN=${PEER_TUN:-bpeer0}
PEER_DATAPATH=${PEER_DATAPATH:-tunnel} # the peer's data path: tunnel (the client's code) or peertest (the old per-packet one)
NET=${NET:-10.229.0}    # veth /24
PPPNET=${PPPNET:-10.229.9} # .1 the peer's PPP address, .2 the client's
SRV_IP=$NET.1 CLI_IP=$NET.2 PEER_IP=$PPPNET.1 POOL_IP=$PPPNET.2
ECHO_PORT=9007

[ "$(id -u)" = 0 ] || { echo "bench-netns.sh: needs root" >&2; exit 1; }
cd "$(dirname "$0")/.."
log() { printf '[bench] %s\n' "$*" >&2; }

bash scripts/apt-install.sh bench iperf3 -- iperf3:/usr/bin/iperf3 >&2

WORK=$(mktemp -d /tmp/l2tpctl-bench-netns-XXXXXX)
PIDS=()
CLI_PID=""
cleanup() {
  set +e
  [ -n "$CLI_PID" ] && kill -INT "$CLI_PID" 2>/dev/null && wait "$CLI_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$CLI_NS" 2>/dev/null
  ip netns del "$SRV_NS" 2>/dev/null
  if [ "${KEEP:-0}" = 1 ]; then log "raw results kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

log "building l2tpctl and benchpeer"
CGO_ENABLED=0 go build -o "$WORK/l2tpctl" .
CGO_ENABLED=0 go build -o "$WORK/benchpeer" ./tunnel/internal/benchpeer
BIN=$WORK/l2tpctl PEER=$WORK/benchpeer

for ns in "$SRV_NS" "$CLI_NS"; do
  if ip netns list | grep -qw "$ns"; then echo "bench-netns.sh: namespace $ns exists (another run?)" >&2; exit 1; fi
done
ip netns add "$SRV_NS"
ip netns add "$CLI_NS"
ip link add "$SRV_IF" netns "$SRV_NS" type veth peer name "$CLI_IF" netns "$CLI_NS"
ip -n "$SRV_NS" addr add "$SRV_IP/24" dev "$SRV_IF"
ip -n "$CLI_NS" addr add "$CLI_IP/24" dev "$CLI_IF"
for ns in "$SRV_NS" "$CLI_NS"; do ip -n "$ns" link set lo up; done
ip -n "$SRV_NS" link set "$SRV_IF" up
ip -n "$CLI_NS" link set "$CLI_IF" up

# The peer (which makes its TUN, with its address, itself: with the tunnel
# data path for each session) and the servers behind it.
ip netns exec "$SRV_NS" "$PEER" serve -addr "$SRV_IP" -tun "$PEER_TUN" -local "$PEER_IP" -pool "$POOL_IP" \
  -mtu 1500 -datapath "$PEER_DATAPATH" \
  >"$WORK/peer.out" 2>"$WORK/peer.err" &
PEER_PID=$!
PIDS+=("$PEER_PID")
for _ in $(seq 50); do grep -q '^ready' "$WORK/peer.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$WORK/peer.out" || { cat "$WORK/peer.err" >&2; exit 1; }
ip netns exec "$SRV_NS" iperf3 -s -B 0.0.0.0 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$SRV_NS" "$PEER" udpecho -addr "0.0.0.0:$ECHO_PORT" >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5

RES=$WORK/results.jsonl
TICK=$(getconf CLK_TCK)
cpu_s() { awk -v tk="$TICK" '{printf "%.3f", ($14 + $15) / tk}' "/proc/$1/stat"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
# Where packets were lost: UDP datagrams dropped for a full socket buffer in
# namespace $1, and packets the kernel dropped on TUN device $2 in $1 (its
# queue towards the reading program was full).
udp_rcvbuf() {
  ip netns exec "$1" awk '/^Udp:/ { if (!n++) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i } else print $c }' /proc/net/snmp
}
tun_drops() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_dropped"; }
printf '{"kind":"meta","date":"%s","load":"%s","cpus":%d,"rounds":%d,"seconds":%d}\n' \
  "$(date -u +%FT%TZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)" "$ROUNDS" "$SECONDS_PER_RUN" >"$RES"

# tcp ROUND MODE SUITE STREAMS DST [CLIENT_PID]: one iperf3 run, one record.
tcp() {
  local round=$1 mode=$2 suite=$3 streams=$4 dst=$5 cpid=${6:-} out c0=0 c1=0 p0 p1 rss=0
  out=$WORK/iperf-$round-$mode-$suite-$streams.json
  [ -n "$cpid" ] && c0=$(cpu_s "$cpid")
  p0=$(cpu_s "$PEER_PID")
  ip netns exec "$CLI_NS" iperf3 -c "$dst" -t "$SECONDS_PER_RUN" -P "$streams" --json >"$out" || {
    log "iperf3 $mode $suite -P $streams failed"; cat "$out" >&2; return 1; }
  p1=$(cpu_s "$PEER_PID")
  [ -n "$cpid" ] && { c1=$(cpu_s "$cpid"); rss=$(hwm_kib "$cpid"); }
  printf '{"kind":"tcp","round":%d,"mode":"%s","suite":"%s","streams":%d,"iperf":"%s","client_cpu_s":%s,"peer_cpu_s":%s,"client_rss_kb":%s}\n' \
    "$round" "$mode" "$suite" "$streams" "$out" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" \
    "$(awk -v a="$p0" -v b="$p1" 'BEGIN{print b-a}')" "$rss" >>"$RES"
}

# rtt ROUND MODE SUITE DST: RTT_N round trips, one record.
rtt() {
  local r
  r=$(ip netns exec "$CLI_NS" "$PEER" udpping -to "$4:$ECHO_PORT" -n "$RTT_N" -size 200)
  printf '{"kind":"rtt","round":%d,"mode":"%s","suite":"%s","p50_us":%s,"p99_us":%s}\n' \
    "$1" "$2" "$3" "$(awk '{print $2}' <<<"$r")" "$(awk '{print $4}' <<<"$r")" >>"$RES"
}

for round in $(seq "$ROUNDS"); do
  log "round $round/$ROUNDS: veth (load $(cut -d' ' -f1 /proc/loadavg))"
  tcp "$round" veth "" 1 "$SRV_IP"
  tcp "$round" veth "" 4 "$SRV_IP"
  rtt "$round" veth "" "$SRV_IP"
  for suite in $SUITES; do
    log "round $round/$ROUNDS: tunnel $suite"
    ev=$WORK/events-$round-$suite.log
    L2TPCTL_PSK=test-psk-123 L2TPCTL_PASSWORD=alice-pass ip netns exec "$CLI_NS" \
      "$BIN" connect --server "$SRV_IP" --user alice --esp "$suite" --dns none --no-routes --json \
      >"$ev" 2>"$ev.err" &
    CLI_PID=$!
    for _ in $(seq 150); do grep -q '"event":"up"' "$ev" && break; sleep 0.1; done
    grep -q '"event":"up"' "$ev" || { log "tunnel $suite: not up"; cat "$ev" "$ev.err" "$WORK/peer.err" >&2; exit 1; }
    printf '{"kind":"connect","round":%d,"suite":"%s","events":"%s"}\n' "$round" "$suite" "$ev" >>"$RES"
    d0=("$(udp_rcvbuf "$CLI_NS")" "$(udp_rcvbuf "$SRV_NS")" "$(tun_drops "$CLI_NS" l2tp0)" "$(tun_drops "$SRV_NS" "$PEER_TUN")")
    tcp "$round" tunnel "$suite" 1 "$PEER_IP" "$CLI_PID"
    tcp "$round" tunnel "$suite" 4 "$PEER_IP" "$CLI_PID"
    rtt "$round" tunnel "$suite" "$PEER_IP"
    d1=("$(udp_rcvbuf "$CLI_NS")" "$(udp_rcvbuf "$SRV_NS")" "$(tun_drops "$CLI_NS" l2tp0)" "$(tun_drops "$SRV_NS" "$PEER_TUN")")
    printf '{"kind":"drops","round":%d,"suite":"%s","drops":[%d,%d,%d,%d]}\n' "$round" "$suite" \
      $((d1[0] - d0[0])) $((d1[1] - d0[1])) $((d1[2] - d0[2])) $((d1[3] - d0[3])) >>"$RES"
    kill -INT "$CLI_PID"
    wait "$CLI_PID" || true
    CLI_PID=""
  done
done

if [ "$JSON" = 1 ]; then
  "$PEER" summarize -json "$RES"
else
  "$PEER" summarize "$RES"
fi
