#!/usr/bin/env bash
# Install Debian packages for l2tpctl's scripts and tests, if missing:
#
#   bash scripts/apt-install.sh NAME PKG... [-- PKG:PATH...]
#
# NAME prefixes the log lines. A PKG:PATH pair also counts PKG as missing when
# PATH (a file the scripts run) is not executable, in case a package is
# installed but its file is gone.
#
# Quick and idempotent: when every package is already installed (dpkg-query),
# apt is not run at all. Otherwise: apt-get update, then apt-get install
# --no-install-recommends, with service starts blocked by a temporary
# /usr/sbin/policy-rc.d (created only if none exists, removed afterwards), so
# that no postinst can start a system-wide server in the host namespace.
# Needs root only when something must be installed.
set -euo pipefail

NAME=${1:?usage: apt-install.sh NAME PKG... [-- PKG:PATH...]}
shift
PKGS=()
FILES=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; FILES=("$@"); break; fi
  PKGS+=("$1"); shift
done

log() { printf '[%s] %s\n' "$NAME" "$*" >&2; }
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
for f in "${FILES[@]}"; do
  [ -x "${f#*:}" ] || missing+=("${f%%:*}")
done
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
for f in "${FILES[@]}"; do
  [ -x "${f#*:}" ] || die "${f#*:} is missing after the install"
done
log "installed: ${missing[*]}"
