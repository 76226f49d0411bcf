#!/usr/bin/env python3
"""ike-ping: is an IKEv1 responder answering on SERVER:PORT?

Sends one ISAKMP Main Mode message 1 (RFC 2408 §3, RFC 2409 §5) from a random
local UDP port and waits for any ISAKMP reply that carries our initiator
cookie (normally Main Mode message 2; an Informational reply such as
NO-PROPOSAL-CHOSEN also counts: something answered). The message is
retransmitted once a second until the timeout.

The single proposal is AES-CBC-128 (with the Key-Length attribute) / SHA1 /
MODP-1024 (group 2) / pre-shared key, and the message carries the RFC 3947
NAT-T vendor ID, without which SoftEther silently drops message 1.

Exit status: 0 = reply received, 1 = no reply (or an error), 2 = usage.
Python 3 standard library only. Used by scripts/peer-up.sh as a health check:

    ip netns exec l2tp-cli python3 scripts/ike-ping.py 10.200.0.1
"""
import argparse
import os
import select
import socket
import struct
import sys
import time

# Ref: RFC 2408 §3.1 (header), §3.2 (generic payload header), RFC 2408 §3.4-3.6
# (SA, Proposal, Transform), RFC 2409 Appendix A (phase-1 attributes),
# RFC 2407 §4.2 (IPsec DOI), RFC 3947 §3.1 (NAT-T vendor ID).
ISAKMP_VERSION = 0x10          # major 1, minor 0
EXCH_IDENTITY_PROTECTION = 2   # Main Mode
EXCH_INFORMATIONAL = 5
PL_NONE, PL_SA, PL_PROPOSAL, PL_TRANSFORM, PL_NOTIFY, PL_VID = 0, 1, 2, 3, 11, 13
DOI_IPSEC = 1
SIT_IDENTITY_ONLY = 1
PROTO_ISAKMP = 1
KEY_IKE = 1
ATTR_ENC, ATTR_HASH, ATTR_AUTH, ATTR_GROUP = 1, 2, 3, 4
ATTR_LIFE_TYPE, ATTR_LIFE_DURATION, ATTR_KEY_LENGTH = 11, 12, 14
ENC_AES_CBC, HASH_SHA1, AUTH_PSK, GROUP_MODP1024, LIFE_SECONDS = 7, 2, 1, 2, 1
VID_RFC3947 = bytes.fromhex("4a131c81070358455c5728f20e95452f")
HDR_LEN = 28

EXCH_NAMES = {2: "Main Mode", 4: "Aggressive Mode", 5: "Informational", 32: "Quick Mode"}
NOTIFY_NAMES = {14: "NO-PROPOSAL-CHOSEN", 4: "INVALID-COOKIE", 16: "PAYLOAD-MALFORMED",
                24: "AUTHENTICATION-FAILED", 18: "INVALID-ID-INFORMATION"}


def attr_tv(typ, value):
    """Data attribute in Type/Value (short) form: AF bit set (RFC 2408 §3.3)."""
    return struct.pack("!HH", 0x8000 | typ, value)


def payload(next_payload, body):
    """Generic payload header (RFC 2408 §3.2) + body."""
    return struct.pack("!BBH", next_payload, 0, 4 + len(body)) + body


def main_mode_1(icookie, lifetime=28800):
    attrs = b"".join([
        attr_tv(ATTR_ENC, ENC_AES_CBC),
        attr_tv(ATTR_KEY_LENGTH, 128),  # AES without Key-Length is rejected by some servers
        attr_tv(ATTR_HASH, HASH_SHA1),
        attr_tv(ATTR_AUTH, AUTH_PSK),
        attr_tv(ATTR_GROUP, GROUP_MODP1024),
        attr_tv(ATTR_LIFE_TYPE, LIFE_SECONDS),
        attr_tv(ATTR_LIFE_DURATION, lifetime),  # < 65536: fits the TV form
    ])
    # Transform: number, transform ID, 2 reserved bytes, attributes.
    transform = payload(PL_NONE, struct.pack("!BBH", 1, KEY_IKE, 0) + attrs)
    # Proposal: number, protocol ID, SPI size 0, number of transforms.
    proposal = payload(PL_NONE, struct.pack("!BBBB", 1, PROTO_ISAKMP, 0, 1) + transform)
    sa = payload(PL_VID, struct.pack("!II", DOI_IPSEC, SIT_IDENTITY_ONLY) + proposal)
    vid = payload(PL_NONE, VID_RFC3947)
    body = sa + vid
    hdr = struct.pack("!8s8sBBBBII", icookie, bytes(8), PL_SA, ISAKMP_VERSION,
                      EXCH_IDENTITY_PROTECTION, 0, 0, HDR_LEN + len(body))
    return hdr + body


def describe(reply):
    """One line about an ISAKMP reply (header + Notify types, if any)."""
    rcookie = reply[8:16]
    first, _ver, exch, flags = reply[16], reply[17], reply[18], reply[19]
    what = EXCH_NAMES.get(exch, "exchange type %d" % exch)
    notes = []
    if not flags & 1:  # not encrypted: walk the payload chain for Notify payloads
        nxt, off = first, HDR_LEN
        while nxt != PL_NONE and off + 4 <= len(reply):
            n2, _res, plen = struct.unpack_from("!BBH", reply, off)
            if plen < 4 or off + plen > len(reply):
                break
            if nxt == PL_NOTIFY and plen >= 12:
                ntype = struct.unpack_from("!H", reply, off + 10)[0]
                notes.append(NOTIFY_NAMES.get(ntype, "notify %d" % ntype))
            nxt, off = n2, off + plen
    s = "%s reply, %d bytes, responder cookie %s" % (what, len(reply), rcookie.hex())
    if notes:
        s += ", " + ", ".join(notes)
    return s


def main():
    ap = argparse.ArgumentParser(
        description="Send an IKEv1 Main Mode message 1 and wait for any ISAKMP reply.")
    ap.add_argument("server", help="IKE responder address or host name")
    ap.add_argument("--port", type=int, default=500, help="IKE port (default 500)")
    ap.add_argument("--timeout", type=float, default=3.0,
                    help="seconds to wait for a reply in total (default 3)")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="retransmit interval in seconds (default 1)")
    ap.add_argument("-q", "--quiet", action="store_true", help="print nothing, exit status only")
    a = ap.parse_args()
    say = (lambda *_: None) if a.quiet else (lambda m: print("ike-ping: " + m, flush=True))
    if a.timeout <= 0 or a.interval <= 0:
        ap.error("--timeout and --interval must be positive")

    try:
        addr = socket.getaddrinfo(a.server, a.port, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
    except (socket.gaierror, UnicodeError) as e:
        say("cannot resolve %s: %s" % (a.server, e))
        return 1
    icookie = os.urandom(8)
    msg = main_mode_1(icookie)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("0.0.0.0", 0))  # random local port, never 500
        s.connect(addr)         # only datagrams from addr; ICMP errors are reported
        start = time.monotonic()
        deadline = start + a.timeout
        next_send = start
        sent = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now >= next_send:
                try:
                    s.send(msg)
                    sent += 1
                except OSError as e:
                    say("send to %s:%d failed: %s" % (addr[0], addr[1], e.strerror or e))
                    return 1
                next_send = now + a.interval
            r, _, _ = select.select([s], [], [], max(0.0, min(deadline, next_send) - now))
            if not r:
                continue
            try:
                reply = s.recv(65535)
            except ConnectionRefusedError:
                # ICMP port unreachable: nothing listens (yet); keep trying until the timeout.
                continue
            except OSError as e:
                say("receive failed: %s" % (e.strerror or e))
                return 1
            if len(reply) >= HDR_LEN and reply[:8] == icookie:
                say("%s:%d answered after %.0f ms (%d sent): %s" % (
                    addr[0], addr[1], (time.monotonic() - start) * 1000, sent, describe(reply)))
                return 0
        say("no ISAKMP reply from %s:%d within %gs (%d sent, local port %d)" % (
            addr[0], addr[1], a.timeout, sent, s.getsockname()[1]))
        return 1
    finally:
        s.close()


if __name__ == "__main__":
    sys.exit(main())
