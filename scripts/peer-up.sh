#!/usr/bin/env bash
# Start SoftEther VPN Server (Debian: softether-vpnserver, a userspace IKEv1 +
# ESP + L2TP + PPP server) as l2tpctl's L2TP/IPsec test peer, configure it with
# vpncmd, wait until it answers IKE, and print its parameters (also written to
# $SE_STATE/conn.env, shell-sourceable). Needs root, and Go to build the IKE
# health check scripts/ikecheck into $SE_STATE (before anything runs in a
# namespace, which has no route to the module proxy). Installs what else is
# missing with scripts/peer-install.sh.
#
# Topology (NET=netns, the default; defaults in parentheses):
#
# ┌─────────────────────────────────┐      ┌──────────────────────────────────────────────┐
# │ netns $CLI_NS (l2tp-cli)        │      │ netns $SRV_NS (l2tp-srv)                     │
# │                                 │      │                                              │
# │  l2tpctl connect ...            │      │  vpnserver: UDP 500, 4500, 1701; TCP 5555    │
# │  l2tp0 (TUN) 192.168.30.x ──────┼┄┄┄┄┄┄┼┄┄┄ hub $HUB (DEFAULT)                        │
# │       (tunnel: ESP in UDP 4500) │      │     ├─ SecureNAT host 192.168.30.1 (DHCP)    │
# │                                 │      │     └─ local bridge: tap_$TAP_DEV (tap_sebr) │
# │                                 │      │                $TAP_PEER_IP/24 (192.168.30.2)│
# │ ┌─────────────────────────────┐ │ veth │ ┌─────────────────────────────┐              │
# │ │ $CLI_IF (l2tpc0)            ├─┼──────┼─┤ $SRV_IF (l2tps0)            │              │
# │ │ $CLI_IP/24 (10.200.0.2)     │ │      │ │ $SRV_IP/24 (10.200.0.1)     │              │
# │ └─────────────────────────────┘ │      │ └─────────────────────────────┘              │
# └─────────────────────────────────┘      └──────────────────────────────────────────────┘
#
# Neither namespace has a default route, and each has resolv.conf
# "nameserver 127.0.0.1": nothing the server or a client sends leaves them.
# The server runs in its own UTS namespace with hostname $SERVER_HOSTNAME
# (l2tp-softether): that is the L2TP Host Name AVP and the MS-CHAPv2 name.
# Services for tunnel tests bind to $TAP_PEER_IP inside $SRV_NS, e.g.
#   ip netns exec l2tp-srv python3 -m http.server --bind 192.168.30.2 8080
# and a client runs as
#   ip netns exec l2tp-cli l2tpctl connect --server 10.200.0.1 ...
#
# NET=host (fallback): no namespaces; the server listens on 127.0.0.1 only.
#
# SoftEther's hard-coded dirs (/var/lib/softether, /var/log/softether,
# /run/softether) are bind-mounted from $SE_STATE/{db,log,run} inside the
# server's private mount namespace, so several instances (with different
# SE_STATE, namespace, interface and address knobs) can run side by side and a
# system-wide SoftEther is never touched.
#
# Idempotent: a healthy instance recorded in $SE_STATE (alive and answering an
# IKE Main Mode message 1) is reused; an unhealthy one is stopped and replaced
# (SoftEther can wedge, see docs/interop.md). RESTART=1 forces a fresh start.
# Everything created is recorded in $SE_STATE/created; scripts/peer-down.sh
# removes exactly that.
#
# Env (defaults): SE_STATE (/tmp/l2tpctl-softether) NET (netns) SRV_NS (l2tp-srv)
#   CLI_NS (l2tp-cli) SRV_IF (l2tps0) CLI_IF (l2tpc0) SRV_IP (10.200.0.1)
#   CLI_IP (10.200.0.2) HUB (DEFAULT) VPN_USER (alice) VPN_PASS (alice-pass)
#   PSK (test-psk-123) HUB_ADMIN_PASS (hub-admin-pass) RESTART (0)
#   START_TIMEOUT (30 s) LISTEN_IP (0.0.0.0; the server address makes SoftEther
#   also accept plain ESP) SERVER_HOSTNAME (l2tp-softether) SECURENAT_NAT (0:
#   SecureNAT's NAT/DNS proxy off) TAP_BRIDGE (1) TAP_DEV (sebr)
#   TAP_PEER_IP (192.168.30.2)
# Output in $SE_STATE: conn.env, vpnserver.pid, vpnserver.out (all server logs:
#   --foreground sends server, security and packet logs to stdout),
#   db/vpn_server.config, vpncmd.in/.out, created, ikecheck (the health check:
#   ip netns exec $CLI_NS $SE_STATE/ikecheck $SRV_IP).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

SE_STATE=${SE_STATE:-/tmp/l2tpctl-softether}
NET=${NET:-netns}
SRV_NS=${SRV_NS:-l2tp-srv}
CLI_NS=${CLI_NS:-l2tp-cli}
SRV_IF=${SRV_IF:-l2tps0}
CLI_IF=${CLI_IF:-l2tpc0}
SRV_IP=${SRV_IP:-10.200.0.1}
CLI_IP=${CLI_IP:-10.200.0.2}
HUB=${HUB:-DEFAULT}
VPN_USER=${VPN_USER:-alice}
VPN_PASS=${VPN_PASS:-alice-pass}
PSK=${PSK:-test-psk-123}
HUB_ADMIN_PASS=${HUB_ADMIN_PASS:-hub-admin-pass}
SERVER_HOSTNAME=${SERVER_HOSTNAME:-l2tp-softether}
SECURENAT_NAT=${SECURENAT_NAT:-0}
TAP_BRIDGE=${TAP_BRIDGE:-1}
TAP_DEV=${TAP_DEV:-sebr}
TAP_PEER_IP=${TAP_PEER_IP:-192.168.30.2}
RESTART=${RESTART:-0}
START_TIMEOUT=${START_TIMEOUT:-30}

VPNSERVER=/usr/libexec/softether/vpnserver/vpnserver
VPNCMD=/usr/libexec/softether/vpncmd/vpncmd
SE_DIRS=(/var/lib/softether /var/log/softether /run/softether)

log() { printf '[peer-up] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
T0=$(now)
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }

[ "$(id -u)" = 0 ] || die "must run as root (netns, veth, bind mounts, ports 500/4500)"
case "$NET" in netns|host) ;; *) die "NET must be netns or host";; esac
if [ "$NET" = host ]; then SRV_IP=127.0.0.1; fi
# The TAP device is named tap_$TAP_DEV and Linux limits names to 15 bytes.
[ ${#TAP_DEV} -le 11 ] || die "TAP_DEV must be at most 11 characters"

# ---------------------------------------------------------------- install
need_install=0
if [ ! -x "$VPNSERVER" ] || [ ! -x "$VPNCMD" ]; then need_install=1; fi
for c in ip ss nsenter unshare setsid timeout awk; do
  command -v "$c" >/dev/null || need_install=1
done
if [ "$need_install" = 1 ]; then
  bash "$HERE/peer-install.sh" || die "installing the test peer failed"
fi
if [ ! -x "$VPNSERVER" ] || [ ! -x "$VPNCMD" ]; then die "vpnserver/vpncmd missing after install"; fi

# ---------------------------------------------------------------- health check
# Built here, in the host's network namespace, where the module proxy is
# reachable; it runs in the client's namespace (ike_answers).
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH=/usr/local/go/bin:$PATH; fi
IKECHECK=$SE_STATE/ikecheck
build_ikecheck() {
  command -v go >/dev/null || die "go not found: needed to build scripts/ikecheck (Go 1.26 or later)"
  mkdir -p "$SE_STATE"
  chmod 700 "$SE_STATE"
  (cd "$HERE/.." && go build -buildvcs=false -o "$IKECHECK" ./scripts/ikecheck) ||
    die "building scripts/ikecheck failed"
}
build_ikecheck

# ---------------------------------------------------------------- helpers
PIDFILE=$SE_STATE/vpnserver.pid
server_pid() {  # print the pid if the recorded process is alive and is vpnserver
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "softether/vpnserver/vpnserver" || return 1
  echo "$pid"
}
in_srv_net() {  # run a command in the server's network namespace
  if [ "$NET" = netns ]; then ip netns exec "$SRV_NS" "$@"; else "$@"; fi
}
in_cli_net() {  # run a command in the client's network namespace
  if [ "$NET" = netns ]; then ip netns exec "$CLI_NS" "$@"; else "$@"; fi
}
vpncmd_batch() {  # vpncmd with a batch file, inside the server's mount+net ns
  # returns 2 if it could not connect (nothing applied), 1 if a command failed
  local pid=$1 file=$2 out=$3
  nsenter -t "$pid" -m -n "$VPNCMD" localhost:5555 /SERVER /IN:"$file" > "$out" 2>&1 || true
  grep -q 'Connection has been established' "$out" || return 2
  if grep -q 'Error occurred' "$out"; then
    grep -B3 -A2 'Error occurred' "$out" >&2
    return 1
  fi
}
ike_answers() {  # ike_answers SECONDS: one IKEv1 MM1 -> an accepting MM2, sent from the client side
  local ns=()
  [ "$NET" = netns ] && ns=(ip netns exec "$CLI_NS")
  [ -x "$IKECHECK" ] || build_ikecheck   # PURGE=1 in the environment of peer-down.sh removes it
  timeout $(( ${1%.*} + 5 )) "${ns[@]}" "$IKECHECK" -q --timeout "$1" "$SRV_IP" >/dev/null 2>&1
}
udp_ready() {
  local n
  n=$(in_srv_net ss -Hulpn 2>/dev/null | grep vpnserver | grep -cE "[:.](500|4500|1701)[[:space:]]" || true)
  [ "$n" -ge 3 ]
}
print_params() {
  cat "$SE_STATE/conn.env"
  log "ready in $(elapsed)s"
}

# ---------------------------------------------------------------- reuse?
if [ "$RESTART" != 1 ] && pid=$(server_pid) && [ -f "$SE_STATE/conn.env" ]; then
  # shellcheck disable=SC1091
  prev_net=$(. "$SE_STATE/conn.env"; echo "${SE_NET:-}")
  if [ "$prev_net" = "$NET" ] && udp_ready; then
    if ike_answers 3; then
      log "reusing running vpnserver pid $pid"
      print_params
      exit 0
    fi
    log "running vpnserver pid $pid does not answer IKE: restarting it"
  fi
fi
if server_pid >/dev/null || [ -f "$SE_STATE/created" ]; then
  log "stale or unhealthy instance: running peer-down.sh first"
  SE_STATE=$SE_STATE bash "$HERE/peer-down.sh" >&2 || true
fi

# ---------------------------------------------------------------- state
mkdir -p "$SE_STATE"
chmod 700 "$SE_STATE"
rm -rf "$SE_STATE/db" "$SE_STATE/log" "$SE_STATE/run" "$SE_STATE"/vpnserver.* "$SE_STATE"/vpncmd.* \
       "$SE_STATE/conn.env"
mkdir -p "$SE_STATE/db" "$SE_STATE/log" "$SE_STATE/run"
: > "$SE_STATE/created"
for d in "${SE_DIRS[@]}"; do
  if [ ! -d "$d" ]; then mkdir -p "$d"; echo "dir $d" >> "$SE_STATE/created"; fi
done

# ---------------------------------------------------------------- network
if [ "$NET" = netns ]; then
  for ns in "$SRV_NS" "$CLI_NS"; do
    if ! ip netns list | awk '{print $1}' | grep -qx "$ns"; then
      ip netns add "$ns"
      echo "netns $ns" >> "$SE_STATE/created"
    fi
    ip -n "$ns" link set lo up
  done
  if ! ip -n "$SRV_NS" link show "$SRV_IF" >/dev/null 2>&1; then
    ip -n "$CLI_NS" link del "$CLI_IF" 2>/dev/null || true
    ip link add "$SRV_IF" netns "$SRV_NS" type veth peer name "$CLI_IF" netns "$CLI_NS"
    echo "veth $SRV_NS $SRV_IF" >> "$SE_STATE/created"
  fi
  ip -n "$SRV_NS" addr replace "$SRV_IP/24" dev "$SRV_IF"
  ip -n "$CLI_NS" addr replace "$CLI_IP/24" dev "$CLI_IF"
  ip -n "$SRV_NS" link set "$SRV_IF" up
  ip -n "$CLI_NS" link set "$CLI_IF" up
  # No default route in either namespace (nothing can leave them).
  ip -n "$SRV_NS" route show default | grep -q . && die "netns $SRV_NS has a default route; refusing"
  ip -n "$CLI_NS" route show default | grep -q . && die "netns $CLI_NS has a default route; refusing"
  # A resolver that answers nothing inside the namespaces (the server never needs DNS).
  for ns in "$SRV_NS" "$CLI_NS"; do
    if [ ! -e "/etc/netns/$ns/resolv.conf" ]; then
      mkdir -p "/etc/netns/$ns"
      echo "nameserver 127.0.0.1" > "/etc/netns/$ns/resolv.conf"
      echo "netnsetc $ns" >> "$SE_STATE/created"
    fi
  done
  LISTEN_IP=${LISTEN_IP:-0.0.0.0}
  DISABLE_V6=false
else
  # Host fallback: bind to loopback only.
  for p in 500 4500 1701; do
    ss -Hlnu "sport = :$p" | grep -q . && die "UDP port $p already in use on the host"
  done
  ss -Hlnt "sport = :5555" | grep -q . && die "TCP port 5555 already in use on the host"
  LISTEN_IP=127.0.0.1
  DISABLE_V6=true   # the IPv6 admin listener would ignore ListenIP and bind [::]:5555
fi

# ---------------------------------------------------------------- seed config
# Read at first start instead of SoftEther's built-in first-start settings.
# Same as the stock defaults of vpnserver 5.01.9674 except: no DDNS client, no
# keep-alive pings, no NAT-traversal/VPN Azure helpers (all of these try to
# reach softether.net), no OpenVPN/UDP-acceleration ports, no JSON-RPC/web UI,
# a single admin listener (TCP 5555), ListenIP as chosen above. No hub: vpncmd
# creates it. Keys left out fall back to 0/false/empty, not to the first-start
# defaults: without "UsernameHubSeparator @" the user@HUB form stops working.
cat > "$SE_STATE/db/vpn_server.config" <<EOF
declare root
{
	uint ConfigRevision 0
	bool IPsecMessageDisplayed true
	string Region \$

	declare DDnsClient
	{
		bool Disabled true
	}
	declare ListenerList
	{
		declare Listener0
		{
			bool DisableDos false
			bool Enabled true
			uint Port 5555
		}
	}
	declare ServerConfiguration
	{
		uint64 AutoDeleteCheckDiskFreeSpaceMin 104857600
		uint AutoDeleteCheckIntervalSecs 300
		uint AutoSaveConfigSpan 300
		bool BackupConfigOnlyWhenModified true
		string CipherName ~DEFAULT~
		uint DhParamBits 2048
		bool DisableCoreDumpOnUnix false
		bool DisableDeadLockCheck false
		bool DisableDosProtection false
		bool DisableGetHostNameWhenAcceptTcp false
		bool DisableIPsecAggressiveMode false
		bool DisableIPv6Listener $DISABLE_V6
		bool DisableJsonRpcWebApi true
		bool DisableNatTraversal true
		bool DisableSessionReconnect false
		bool DontBackupConfig false
		bool EnableVpnAzure false
		bool EnableVpnOverDns false
		bool EnableVpnOverIcmp false
		string KeepConnectHost keepalive.softether.org
		uint KeepConnectInterval 50
		uint KeepConnectPort 80
		uint KeepConnectProtocol 1
		string ListenIP $LISTEN_IP
		uint64 LoggerMaxLogSize 1073741823
		uint MaxConcurrentDnsClientThreads 512
		uint MaxConnectionsPerIP 256
		uint MaxUnestablishedConnections 1000
		bool NoHighPriorityProcess false
		bool NoLinuxArpFilter false
		bool NoSendSignature false
		string PortsUDP \$
		bool SaveDebugLog false
		uint ServerLogSwitchType 4
		uint ServerType 0
		bool StrictSyslogDatetimeFormat false
		bool Tls_Disable1_0 false
		bool Tls_Disable1_1 false
		bool Tls_Disable1_2 false
		bool UseKeepConnect false
		string UsernameHubSeparator @
		bool UseWebTimePage false
		bool UseWebUI false
	}
}
EOF
chmod 600 "$SE_STATE/db/vpn_server.config"

# ---------------------------------------------------------------- start
cat > "$SE_STATE/run-vpnserver.sh" <<EOF
#!/bin/sh
# Runs in a private mount namespace: hide the real SoftEther dirs.
set -e
mount --make-rprivate / 2>/dev/null || true
mount --bind "$SE_STATE/db"  /var/lib/softether
mount --bind "$SE_STATE/log" /var/log/softether
mount --bind "$SE_STATE/run" /run/softether
echo \$\$ > "$PIDFILE"
# Own UTS namespace: a fixed hostname (L2TP Host Name AVP, MS-CHAPv2 name).
exec unshare --uts /bin/sh -c 'hostname "\$1" && exec "\$2" start --foreground' sh "$SERVER_HOSTNAME" "$VPNSERVER"
EOF
chmod 755 "$SE_STATE/run-vpnserver.sh"

if [ "$NET" = netns ]; then
  # ip netns exec already gives the command its own mount namespace.
  setsid ip netns exec "$SRV_NS" "$SE_STATE/run-vpnserver.sh" \
    > "$SE_STATE/vpnserver.out" 2>&1 < /dev/null &
else
  setsid unshare -m "$SE_STATE/run-vpnserver.sh" \
    > "$SE_STATE/vpnserver.out" 2>&1 < /dev/null &
fi
disown || true

deadline=$(( $(date +%s) + START_TIMEOUT ))
pid=""
until pid=$(server_pid); do
  [ "$(date +%s)" -lt "$deadline" ] || { cat "$SE_STATE/vpnserver.out" >&2; die "vpnserver did not start"; }
  sleep 0.1
done
log "vpnserver pid $pid started ($(elapsed)s)"

until in_srv_net ss -Htln 2>/dev/null | grep -qE "[:.]5555[[:space:]]"; do
  server_pid >/dev/null || { cat "$SE_STATE/vpnserver.out" >&2; die "vpnserver exited"; }
  [ "$(date +%s)" -lt "$deadline" ] || die "admin port 5555 not listening after ${START_TIMEOUT}s"
  sleep 0.1
done
log "admin port up ($(elapsed)s)"

# ---------------------------------------------------------------- configure
cat > "$SE_STATE/vpncmd.in" <<EOF
HubCreate $HUB /PASSWORD:$HUB_ADMIN_PASS
Hub $HUB
UserCreate $VPN_USER /GROUP:none /REALNAME:none /NOTE:none
UserPasswordSet $VPN_USER /PASSWORD:$VPN_PASS
SecureNatEnable
$([ "$SECURENAT_NAT" = 1 ] && echo NatEnable || echo NatDisable)
IPsecEnable /L2TP:yes /L2TPRAW:yes /ETHERIP:no /PSK:$PSK /DEFAULTHUB:$HUB
$([ "$NET" = netns ] && [ "$TAP_BRIDGE" = 1 ] && echo "BridgeCreate $HUB /DEVICE:$TAP_DEV /TAP:yes")
Hub
IPsecGet
ListenerList
EOF
chmod 600 "$SE_STATE/vpncmd.in"
tries=0
while :; do
  rc=0; vpncmd_batch "$pid" "$SE_STATE/vpncmd.in" "$SE_STATE/vpncmd.out" || rc=$?
  [ "$rc" = 0 ] && break
  [ "$rc" = 1 ] && die "vpncmd command failed (see $SE_STATE/vpncmd.out); rerun with RESTART=1"
  tries=$((tries + 1))
  [ "$tries" -lt 5 ] || { cat "$SE_STATE/vpncmd.out" >&2; die "vpncmd could not connect"; }
  log "vpncmd could not connect, retrying ($tries)"
  sleep 0.5
done
log "configured via vpncmd ($(elapsed)s)"

until udp_ready; do
  server_pid >/dev/null || die "vpnserver exited"
  [ "$(date +%s)" -lt "$deadline" ] || die "UDP 500/4500/1701 not listening after ${START_TIMEOUT}s"
  sleep 0.1
done

TAP_ADDR=""
if [ "$NET" = netns ] && [ "$TAP_BRIDGE" = 1 ]; then
  until ip -n "$SRV_NS" link show "tap_$TAP_DEV" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "tap_$TAP_DEV did not appear"
    sleep 0.1
  done
  ip -n "$SRV_NS" addr replace "$TAP_PEER_IP/24" dev "tap_$TAP_DEV"
  ip -n "$SRV_NS" link set "tap_$TAP_DEV" up
  TAP_ADDR=$TAP_PEER_IP
fi

# Wait until the server answers IKE from the client side (the UDP listener
# re-reads its port list about once a second).
until ike_answers 1; do
  server_pid >/dev/null || die "vpnserver exited"
  [ "$(date +%s)" -lt "$deadline" ] || die "no IKE answer from $SRV_IP:500 after ${START_TIMEOUT}s"
done
log "answers IKE on $SRV_IP:500 ($(elapsed)s)"

cat > "$SE_STATE/conn.env" <<EOF
# SoftEther L2TP/IPsec test peer (scripts/peer-up.sh)
SE_NET=$NET
SE_PID=$pid
SERVER_NS=$([ "$NET" = netns ] && echo "$SRV_NS")
CLIENT_NS=$([ "$NET" = netns ] && echo "$CLI_NS")
SERVER_ADDR=$SRV_IP
CLIENT_ADDR=$([ "$NET" = netns ] && echo "$CLI_IP" || echo 127.0.0.1)
IKE_PORT=500
NATT_PORT=4500
L2TP_PORT=1701
PSK=$PSK
VPN_USER=$VPN_USER
VPN_PASS=$VPN_PASS
HUB=$HUB
VPN_USER_WITH_HUB=$VPN_USER@$HUB
SECURENAT_GW=192.168.30.1
SECURENAT_DHCP_RANGE=192.168.30.10-192.168.30.200
SECURENAT_DNS=192.168.30.1
SECURENAT_NAT=$SECURENAT_NAT
TAP_PEER_ADDR=$TAP_ADDR
SERVER_HOSTNAME=$SERVER_HOSTNAME
SE_STATE=$SE_STATE
SERVER_LOG=$SE_STATE/vpnserver.out
EOF
chmod 600 "$SE_STATE/conn.env"
print_params
