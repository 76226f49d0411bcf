#!/usr/bin/env bash
# Install, from Debian, strongSwan's IKE daemon for the charon end-to-end
# tests (e2e_charon_test.go):
#
#   strongswan-charon               charon (/usr/lib/ipsec/charon) and its base plugins
#   strongswan-swanctl              swanctl and the vici plugin, to load the test's configuration
#   libstrongswan-standard-plugins  the openssl plugin (ECDSA)
#   iproute2                        ip netns / ip link for the test's namespaces
#
# The tests run charon themselves (as IKEv1 responder in the network
# namespace ch-srv, with their own strongswan.conf); nothing here starts it.
# Quick and idempotent: with every package installed (dpkg-query) apt is
# not run. Otherwise apt-get update, then apt-get install
# --no-install-recommends, with service starts blocked by a temporary
# /usr/sbin/policy-rc.d (created only if none exists, removed afterwards),
# so that the postinst cannot start a system-wide strongSwan. Needs root
# only when something must be installed.
set -euo pipefail

PKGS=(strongswan-charon strongswan-swanctl libstrongswan-standard-plugins iproute2)

log() { printf '[charon-install] %s\n' "$*" >&2; }
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
[ -x /usr/lib/ipsec/charon ] || missing+=(strongswan-charon)
command -v swanctl >/dev/null || missing+=(strongswan-swanctl)
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
[ -x /usr/lib/ipsec/charon ] || die "/usr/lib/ipsec/charon is missing after the install"
log "installed: ${missing[*]}"
