#!/usr/bin/env bash
# Stop the SoftEther test peer started by scripts/peer-up.sh and remove what
# peer-up.sh recorded in $SE_STATE/created (network namespaces and with them
# the veth pair and TAP device, /etc/netns/<ns>/resolv.conf, empty mount-point
# dirs), in reverse order. Nothing else is touched:
#   - only the PID in $SE_STATE/vpnserver.pid is signalled, and only if that
#     process is /usr/libexec/softether/vpnserver/vpnserver: SIGTERM, then
#     SIGKILL after $STOP_TIMEOUT s (a healthy server stops in 1.5-3.5 s, a
#     wedged one ignores SIGTERM);
#   - the mount-point dirs stay while any other vpnserver process runs (removing
#     them would detach another instance's bind mounts).
# Logs and the saved config stay in $SE_STATE; PURGE=1 deletes $SE_STATE too.
# Needs root. Safe to run twice.
# Env (defaults): SE_STATE (/tmp/l2tpctl-softether) PURGE (0) STOP_TIMEOUT (8)
set -uo pipefail
SE_STATE=${SE_STATE:-/tmp/l2tpctl-softether}
PURGE=${PURGE:-0}
STOP_TIMEOUT=${STOP_TIMEOUT:-8}
log() { printf '[peer-down] %s %s\n' "$(date +%T.%1N)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }

is_vpnserver() {  # is_vpnserver PID
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q "softether/vpnserver/vpnserver"
}
gone() {  # process gone, or a zombie waiting to be reaped
  [ ! -d "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]
}

rc=0
PIDFILE=$SE_STATE/vpnserver.pid
if pid=$(cat "$PIDFILE" 2>/dev/null) && [ -n "$pid" ] && is_vpnserver "$pid"; then
  log "stopping vpnserver pid $pid (SIGTERM)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((STOP_TIMEOUT * 10))); do
    gone "$pid" && break
    sleep 0.1
  done
  if ! gone "$pid"; then
    log "still alive after ${STOP_TIMEOUT}s: SIGKILL $pid"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 30); do gone "$pid" && break; sleep 0.1; done
    gone "$pid" || { log "ERROR: pid $pid survived SIGKILL"; rc=1; }
  fi
else
  log "no running vpnserver recorded in $PIDFILE"
fi
rm -f "$PIDFILE"

other_vpnserver() {  # true if any vpnserver process is still running
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    is_vpnserver "$p" 2>/dev/null && ! gone "$p" && return 0
  done
  return 1
}

if [ -f "$SE_STATE/created" ]; then
  while read -r kind a b; do
    case "$kind" in
      veth)
        if ip -n "$a" link show "$b" >/dev/null 2>&1; then
          ip -n "$a" link del "$b" && log "deleted veth $b" || rc=1
        fi;;
      netns)
        if [ -e "/run/netns/$a" ]; then
          ip netns del "$a" && log "deleted netns $a" || rc=1
        fi;;
      netnsetc)
        rm -f "/etc/netns/$a/resolv.conf"
        rmdir "/etc/netns/$a" 2>/dev/null
        rmdir /etc/netns 2>/dev/null
        true;;
      dir)
        if other_vpnserver; then
          log "keeping $a: another vpnserver is running"
        else
          rmdir "$a" 2>/dev/null && log "removed empty $a"
        fi
        true;;
    esac
  done < <(tac "$SE_STATE/created")
  rm -f "$SE_STATE/created"
fi
rm -f "$SE_STATE/conn.env"
if [ "$PURGE" = 1 ]; then rm -rf "$SE_STATE"; log "purged $SE_STATE"; fi
log "done"
exit "$rc"
