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
# Quick and idempotent (scripts/apt-install.sh): with every package installed
# apt is not run; otherwise the install blocks service starts, so that the
# postinst cannot start a system-wide strongSwan. Needs root only when
# something must be installed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

exec bash "$HERE/apt-install.sh" charon-install \
  strongswan-charon strongswan-swanctl libstrongswan-standard-plugins iproute2 \
  -- strongswan-charon:/usr/lib/ipsec/charon strongswan-swanctl:/usr/sbin/swanctl
