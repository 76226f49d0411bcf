#!/usr/bin/env bash
# The demo: l2tpctl connects to a real L2TP/IPsec server, entirely in userspace.
#
#   sudo bash scripts/demo.sh        (Debian 12 or later, Go 1.26+, network to Debian/Go mirrors)
#
# Steps: build l2tpctl (static, CGO_ENABLED=0); install and start the SoftEther
# test peer in the namespaces l2tp-srv/l2tp-cli (scripts/peer-up.sh); start a
# web server on 192.168.30.2:8080 in l2tp-srv; run `l2tpctl connect` in
# l2tp-cli; ping 192.168.30.1 (SecureNAT) and 192.168.30.2 and fetch the page
# through the tunnel; interrupt l2tpctl (SIGINT) and check that it exits 0,
# removes its interface and that the server logged the session as closed by
# the client; then the same from a profile in exec mode (l2tpctl connect
# --profile FILE -- curl …: up, fetch, down, curl's exit status); stop the
# web server and the peer (scripts/peer-down.sh).
#
# Every exit path cleans up what the demo started, by PID and by name. A peer
# that was already running before the demo is reused and left running.
# Env (defaults): BIN (/tmp/l2tpctl-demo/l2tpctl) KEEP_PEER (0: stop the peer at
#   the end) CONNECT_TIMEOUT (30 s) SE_STATE (/tmp/l2tpctl-softether) and the
#   other knobs of scripts/peer-up.sh.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

BIN=${BIN:-/tmp/l2tpctl-demo/l2tpctl}
KEEP_PEER=${KEEP_PEER:-0}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-30}
SE_STATE=${SE_STATE:-/tmp/l2tpctl-softether}
IFACE=l2tp0
ROUTE=192.168.30.0/24
HTTP_PORT=8080
export SE_STATE

# ---------------------------------------------------------------- output
STEPS=()      # "ok|FAIL|skip  text" per step, for the summary
CUR=""        # the step in progress
step() { CUR=$*; printf '\n==> %s\n' "$*"; }
ok()   { STEPS+=("ok    $CUR${1:+ ($1)}"); printf '    ok%s\n' "${1:+: $1}"; CUR=""; }
skip() { STEPS+=("skip  $*"); printf '\n==> skipped: %s\n' "$*"; }
fail() { printf '    FAILED: %s\n' "$*" >&2; STEPS+=("FAIL  $CUR: $*"); CUR=""; exit 1; }
indent() { sed 's/^/    | /'; }

# ---------------------------------------------------------------- cleanup
WORK=""          # mktemp dir: secrets (0600), web root, logs
L2TPCTL_PID=""
HTTP_PID=""
STARTED_PEER=0
CLEANED=0
wait_gone() {  # wait_gone PID TENTHS: true once PID has exited
  local i
  for ((i = 0; i < $2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  ! kill -0 "$1" 2>/dev/null
}
cleanup() {
  local rc=$?
  [ "$CLEANED" = 1 ] && return
  CLEANED=1
  set +e
  [ -n "$CUR" ] && STEPS+=("FAIL  $CUR (interrupted)")
  if [ -n "$L2TPCTL_PID" ] && kill -0 "$L2TPCTL_PID" 2>/dev/null; then
    echo "    cleanup: stopping l2tpctl pid $L2TPCTL_PID"
    kill -INT "$L2TPCTL_PID" 2>/dev/null
    wait_gone "$L2TPCTL_PID" 50 || { kill -KILL "$L2TPCTL_PID" 2>/dev/null; wait_gone "$L2TPCTL_PID" 20; }
  fi
  if [ -n "$HTTP_PID" ] && kill -0 "$HTTP_PID" 2>/dev/null; then
    echo "    cleanup: stopping web server pid $HTTP_PID"
    kill -TERM "$HTTP_PID" 2>/dev/null
    wait_gone "$HTTP_PID" 30 || kill -KILL "$HTTP_PID" 2>/dev/null
  fi
  if [ "$STARTED_PEER" = 1 ] && [ "$KEEP_PEER" != 1 ]; then
    printf '\n==> stopping the SoftEther peer (scripts/peer-down.sh)\n'
    if bash "$HERE/peer-down.sh" 2>&1 | indent; then
      STEPS+=("ok    stop the SoftEther peer")
    else
      STEPS+=("FAIL  stop the SoftEther peer"); rc=1
    fi
  elif [ "$STARTED_PEER" = 1 ]; then
    STEPS+=("skip  stop the SoftEther peer (KEEP_PEER=1; stop it with scripts/peer-down.sh)")
  fi
  [ -n "$WORK" ] && rm -rf "$WORK"
  printf '\n==> summary\n'
  printf '    %s\n' "${STEPS[@]}"
  if [ "$rc" = 0 ]; then
    printf '\ndemo OK: l2tpctl connected, carried ping and HTTP through the tunnel, shut down cleanly, and ran curl through the tunnel in exec mode\n'
  else
    printf '\ndemo FAILED (exit %s)\n' "$rc" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- checks
[ "$(id -u)" = 0 ] || { echo "demo.sh: must run as root (network namespaces, TUN device)" >&2; exit 1; }
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi

step "install what the demo needs (scripts/peer-install.sh)"
bash "$HERE/peer-install.sh" 2>&1 | indent || fail "peer-install.sh failed"
ok

step "build l2tpctl: CGO_ENABLED=0 go build -o $BIN ."
command -v go >/dev/null || fail "go not found: install Go 1.26 or later (https://go.dev/dl/)"
mkdir -p "$(dirname "$BIN")"
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN" .) 2>&1 | indent || fail "go build failed"
ok "$("$BIN" version 2>/dev/null | head -n1 || true)"

# A peer that is already running (and healthy) is reused and left running.
peer_running() {
  local pid
  pid=$(cat "$SE_STATE/vpnserver.pid" 2>/dev/null) && [ -n "$pid" ] &&
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "softether/vpnserver/vpnserver"
}
step "start the SoftEther L2TP/IPsec server in network namespaces (scripts/peer-up.sh)"
peer_running || STARTED_PEER=1
bash "$HERE/peer-up.sh" 2>&1 | indent || fail "peer-up.sh failed"
# shellcheck disable=SC1091
. "$SE_STATE/conn.env"
if [ -z "${CLIENT_NS:-}" ] || [ -z "${SERVER_NS:-}" ]; then fail "the demo needs the namespaces (NET=netns)"; fi
[ -n "${TAP_PEER_ADDR:-}" ] || fail "the demo needs the TAP bridge (TAP_BRIDGE=1)"
if [ "$STARTED_PEER" = 1 ]; then ok "server $SERVER_ADDR in $SERVER_NS"
else ok "reusing the running server $SERVER_ADDR in $SERVER_NS (left running afterwards)"; fi

WORK=$(mktemp -d /tmp/l2tpctl-demo.XXXXXX)
chmod 700 "$WORK"

step "start a web server on $TAP_PEER_ADDR:$HTTP_PORT in $SERVER_NS (behind the VPN server)"
mkdir "$WORK/www"
cat > "$WORK/www/index.html" <<EOF
<!doctype html>
<title>l2tpctl demo</title>
<p>Hello from $TAP_PEER_ADDR in network namespace $SERVER_NS, served at $(date -u +%FT%TZ).
<p>If you can read this in the demo output, it came through l2tpctl's userspace IKE, ESP, L2TP and PPP.
EOF
ip netns exec "$SERVER_NS" python3 -m http.server --bind "$TAP_PEER_ADDR" --directory "$WORK/www" \
  "$HTTP_PORT" > "$WORK/http.log" 2>&1 < /dev/null &
HTTP_PID=$!
for _ in $(seq 50); do
  ip netns exec "$SERVER_NS" ss -Htln "sport = :$HTTP_PORT" | grep -q . && break
  kill -0 "$HTTP_PID" 2>/dev/null || { indent < "$WORK/http.log"; fail "web server exited"; }
  sleep 0.1
done
ip netns exec "$SERVER_NS" ss -Htln "sport = :$HTTP_PORT" | grep -q . || fail "web server not listening after 5 s"
ok "pid $HTTP_PID"

step "connect: ip netns exec $CLIENT_NS l2tpctl connect --server $SERVER_ADDR --psk-file … --user $VPN_USER --password-file … --route $ROUTE"
umask 077
printf '%s\n' "$PSK" > "$WORK/psk"
printf '%s\n' "$VPN_PASS" > "$WORK/password"
chmod 600 "$WORK/psk" "$WORK/password"
LOG_START=$(wc -l < "$SE_STATE/vpnserver.out")
# Job control on for this one job: without it bash starts background jobs with
# SIGINT ignored, and the demo must be able to interrupt l2tpctl like Ctrl-C.
set -m
ip netns exec "$CLIENT_NS" "$BIN" connect --server "$SERVER_ADDR" --psk-file "$WORK/psk" \
  --user "$VPN_USER" --password-file "$WORK/password" --route "$ROUTE" \
  > "$WORK/l2tpctl.log" 2>&1 < /dev/null &
L2TPCTL_PID=$!
set +m
shown=0
show_log() {  # print l2tpctl's new output lines
  local n
  n=$(wc -l < "$WORK/l2tpctl.log")
  if [ "$n" -gt "$shown" ]; then
    sed -n "$((shown + 1)),${n}p" "$WORK/l2tpctl.log" | sed 's/^/    l2tpctl| /'
    shown=$n
  fi
}
deadline=$(( $(date +%s) + CONNECT_TIMEOUT ))
CONNECTED_RE='(^|[[:space:]])connected:'
until grep -qE "$CONNECTED_RE" "$WORK/l2tpctl.log"; do
  show_log
  if ! kill -0 "$L2TPCTL_PID" 2>/dev/null; then
    rc=0; wait "$L2TPCTL_PID" || rc=$?
    L2TPCTL_PID=""
    show_log
    fail "l2tpctl exited with status $rc before connecting"
  fi
  [ "$(date +%s)" -lt "$deadline" ] || { show_log; fail "not connected after ${CONNECT_TIMEOUT} s"; }
  sleep 0.2
done
show_log
ok "$(grep -m1 -E "$CONNECTED_RE" "$WORK/l2tpctl.log")"

for dst in "$SECURENAT_GW" "$TAP_PEER_ADDR"; do
  step "ping $dst through the tunnel (from $CLIENT_NS)"
  ip netns exec "$CLIENT_NS" ping -c 3 -W 2 "$dst" 2>&1 | indent || fail "ping $dst failed"
  ok
done

step "fetch http://$TAP_PEER_ADDR:$HTTP_PORT/ through the tunnel (curl, from $CLIENT_NS)"
page=$(ip netns exec "$CLIENT_NS" curl -sS --max-time 5 "http://$TAP_PEER_ADDR:$HTTP_PORT/" 2>&1) ||
  { printf '%s\n' "$page" | indent; fail "curl failed"; }
printf '%s\n' "$page" | indent
grep -q 'Hello from' <<< "$page" || fail "unexpected page content"
ok "$(printf '%s' "$page" | wc -c) bytes"

step "interrupt l2tpctl (SIGINT) and wait for it to exit"
t0=$(date +%s.%N)
kill -INT "$L2TPCTL_PID"
wait_gone "$L2TPCTL_PID" 100 || { show_log; fail "l2tpctl still running 10 s after SIGINT"; }
rc=0; wait "$L2TPCTL_PID" || rc=$?
L2TPCTL_PID=""
show_log
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
[ "$rc" = 0 ] || fail "l2tpctl exited with status $rc"
ok "exit status 0 after ${secs} s"

step "check that $IFACE is gone from $CLIENT_NS"
if ip -n "$CLIENT_NS" link show "$IFACE" >/dev/null 2>&1; then fail "$IFACE still exists"; fi
ok

step "check that the server saw the client close the session"
want='upper-layer protocol "L2TP" has been disconnected'
for _ in $(seq 50); do
  tail -n +"$((LOG_START + 1))" "$SE_STATE/vpnserver.out" | grep -qF "$want" && break
  sleep 0.1
done
line=$(tail -n +"$((LOG_START + 1))" "$SE_STATE/vpnserver.out" | grep -F "$want" | tail -n1) ||
  fail "no '$want' in $SE_STATE/vpnserver.out"
printf '%s\n' "$line" | indent
ok

# The profile "demo" lives in $WORK/config/l2tpctl/ (XDG_CONFIG_HOME), so root's
# own ~/.config is left alone.
PROFILE_DIR="$WORK/config/l2tpctl"
step "exec mode with a profile: l2tpctl connect --profile demo -- curl …"
mkdir -p "$PROFILE_DIR"
cp "$WORK/psk" "$WORK/password" "$PROFILE_DIR/"
cat > "$PROFILE_DIR/demo.toml" <<EOF
# An l2tpctl profile: the keys are connect's long flag names (docs/profile.md).
server = "$SERVER_ADDR"
user = "$VPN_USER"
psk-file = "psk"           # relative to the profile's directory
password-file = "password"
route = ["$ROUTE"]
up-timeout = "${CONNECT_TIMEOUT}s"
non-interactive = true
EOF
printf '%s/demo.toml:\n' "$PROFILE_DIR" | indent
indent < "$PROFILE_DIR/demo.toml"
# l2tpctl connects, runs the command once the link is up, tears down when it
# exits and exits with its status; l2tpctl's own lines go to stderr.
rc=0
page=$(XDG_CONFIG_HOME="$WORK/config" ip netns exec "$CLIENT_NS" "$BIN" connect --profile demo -- \
  sh -c 'echo "the command sees $L2TPCTL_INTERFACE with $L2TPCTL_LOCAL_IP" >&2; curl -sS --max-time 5 "$0"' \
  "http://$TAP_PEER_ADDR:$HTTP_PORT/" 2> "$WORK/exec.log" < /dev/null) || rc=$?
sed 's/^/    l2tpctl| /' "$WORK/exec.log"
printf '%s\n' "$page" | indent
[ "$rc" = 0 ] || fail "exit status $rc"
grep -q 'Hello from' <<< "$page" || fail "unexpected page content"
if ip -n "$CLIENT_NS" link show "$IFACE" >/dev/null 2>&1; then fail "$IFACE still exists after the command"; fi
ok "the command's exit status 0, $(printf '%s' "$page" | wc -c) bytes, $IFACE gone"

step "stop the web server (pid $HTTP_PID)"
kill -TERM "$HTTP_PID" 2>/dev/null || true
wait_gone "$HTTP_PID" 30 || fail "web server pid $HTTP_PID did not stop"
HTTP_PID=""
ok
# The trap stops the peer (unless KEEP_PEER=1 or it was already running) and prints the summary.
