#!/usr/bin/env bash
# Install, from Debian, everything that l2tpctl's scripts and tests need:
#
#   softether-vpnserver softether-vpncmd   the L2TP/IPsec test peer (userspace IKE/ESP/L2TP/PPP)
#   iproute2 util-linux procps             ip/ss, nsenter/unshare/setsid, ps/kill
#   iputils-ping curl                      ping and HTTP fetch through the tunnel
#   nftables python3 ca-certificates       packet filter for tests, the tests' HTTP server
#                                          (python3 -m http.server) and ELF check, TLS for apt/go
#   xl2tpd                                 a real LNS for the L2TP tunnel authentication test
#                                          (tunnel/xl2tpd_test.go: 127.0.0.1, never as a service)
#
# Quick and idempotent: when every package is already installed (dpkg-query),
# apt is not run at all. Otherwise: apt-get update, then apt-get install
# --no-install-recommends, with service starts blocked by a temporary
# /usr/sbin/policy-rc.d (created only if none exists, removed afterwards), so
# that neither the softether-vpnserver nor the xl2tpd postinst can start a
# system-wide server in the host namespace. Needs root only when something must be installed.
set -euo pipefail

PKGS=(softether-vpnserver softether-vpncmd iproute2 iputils-ping curl nftables python3
      util-linux procps ca-certificates xl2tpd)

log() { printf '[peer-install] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

installed() {  # installed PKG: true if dpkg knows PKG as installed
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
  die "dpkg/apt not found: install these packages by hand: ${PKGS[*]}"
fi

missing=()
for p in "${PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done
# The binaries the scripts run, in case a package is installed but its file is gone.
[ -x /usr/libexec/softether/vpnserver/vpnserver ] || missing+=(softether-vpnserver)
[ -x /usr/libexec/softether/vpncmd/vpncmd ] || missing+=(softether-vpncmd)
if [ ${#missing[@]} -eq 0 ]; then
  log "all packages present"
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

[ "$(id -u)" = 0 ] || die "must run as root to install: ${missing[*]}"
log "installing: ${missing[*]}"

made_policy=0
cleanup() { if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
  die "apt-get install ${missing[*]} failed"

for p in "${missing[@]}"; do
  installed "$p" || die "$p is still not installed"
done
log "installed: ${missing[*]}"
