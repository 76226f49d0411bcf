#!/usr/bin/env bash
# Install, from Debian, everything that l2tpctl's scripts and tests need:
#
#   softether-vpnserver softether-vpncmd   the L2TP/IPsec test peer (userspace IKE/ESP/L2TP/PPP)
#   iproute2 util-linux procps             ip/ss, nsenter/unshare/setsid/setpriv, ps/kill
#   iputils-ping curl                      ping and HTTP fetch through the tunnel
#   nftables python3 ca-certificates       packet filter for tests, the tests' HTTP server
#                                          (python3 -m http.server) and ELF check, TLS for apt/go
#   xl2tpd                                 a real LNS for the L2TP tunnel authentication test
#                                          (tunnel/xl2tpd_test.go: 127.0.0.1, never as a service)
#   tshark                                 Wireshark's dissectors, to check --pcap and --keylog
#                                          (e2e_softether_wire_test.go); noninteractive, so
#                                          dumpcap is not made setuid (~15 s on a fresh machine)
#
# Quick and idempotent (scripts/apt-install.sh): when every package is already
# installed, apt is not run at all; otherwise the install blocks service
# starts, so that neither the softether-vpnserver nor the xl2tpd postinst can
# start a system-wide server in the host namespace. Needs root only when
# something must be installed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

exec bash "$HERE/apt-install.sh" peer-install \
  softether-vpnserver softether-vpncmd iproute2 iputils-ping curl nftables python3 \
  util-linux procps ca-certificates xl2tpd tshark \
  -- softether-vpnserver:/usr/libexec/softether/vpnserver/vpnserver \
     softether-vpncmd:/usr/libexec/softether/vpncmd/vpncmd
