package ppp

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// IPv6CP option layout (Ref: RFC 5072 §4.1):
//
//	Interface-Identifier: | Type=1 | Length=10 | Interface-Identifier (8) |
//
// Each side proposes the identifier of its own end; the link-local
// address of that end is fe80::<identifier>/64 (RFC 5072 §5). A zero
// identifier asks the peer to suggest one; two equal identifiers are a
// collision, and the receiver Naks with a different value.

// v6State is the IPv6CP bookkeeping shared by Client and Server (owned by
// ipv6cpLayer and link.releaseUp).
type v6State struct {
	enabled bool   // IPv6CP runs (ClientConfig.IPv6, ServerConfig.IPv6); false: Protocol-Reject it
	passive bool   // wait for the peer's Configure-Request before sending ours (ClientConfig.IPv6Passive)
	engaged bool   // the peer sent an IPv6CP packet: it runs IPv6CP too
	reqID   bool   // we send the Interface-Identifier option (until the peer rejects it)
	local   uint64 // our Interface-Identifier; non-zero once drawn
	peer    uint64 // the peer's, as we Acked it; 0: it did not send one
	open    bool   // IPv6CP is Opened
	settled bool   // IPv6CP opened or gave up; Up no longer waits for it
	gaveUp  bool   // stopIPv6: IPv6CP and IPv6 frames now get a Protocol-Reject
	off     string // why IPv6 is not up, for Up.IPv6Off
}

// linkLocal is fe80::id, the link-local address of an interface
// identifier (RFC 4291 §2.5.6); the zero Addr for id 0.
func linkLocal(id uint64) netip.Addr {
	if id == 0 {
		return netip.Addr{}
	}
	var a [16]byte
	a[0], a[1] = 0xfe, 0x80
	binary.BigEndian.PutUint64(a[8:], id)
	return netip.AddrFrom16(a)
}

// newInterfaceID draws a random non-zero identifier different from avoid.
// Ref: RFC 5072 §4.1 (non-zero, unique on the link).
func (l *link) newInterfaceID(avoid uint64) uint64 {
	var b [8]byte
	for range 4 {
		l.random(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 && v != avoid {
			return v
		}
	}
	if avoid != 1 {
		return 1 // a broken random source: still a valid identifier
	}
	return 2
}

// openIPv6CP starts IPv6CP next to IPCP when it is enabled.
func (l *link) openIPv6CP(now time.Time) {
	if !l.v6.enabled {
		return
	}
	if l.v6.local == 0 {
		l.v6.local = l.newInterfaceID(0)
	}
	l.v6.reqID = true
	if l.v6.passive {
		// Ref: RFC 1661 §4.2 (Open with the Passive option): Stopped
		// answers the peer's Configure-Request with ours (irc, scr, sca).
		l.ipv6cp.state = stStopped
		return
	}
	l.ipv6cp.open(now)
}

// stopIPv6 gives IPv6CP up for this link (never fatal): the link stays
// IPv4-only, and Up says why. A server that starts IPv6CP later gets a
// Protocol-Reject, as if IPv6 were off.
func (l *link) stopIPv6(why string) {
	l.ipv6cp.deadline = time.Time{}
	l.ipv6cp.state = stClosed
	wasUp := l.v6.settled && !l.v6.gaveUp && l.upSent
	l.v6.open, l.v6.settled, l.v6.gaveUp, l.v6.off = false, true, true, why
	if wasUp {
		l.emit(IPv6Down{Reason: why})
		return
	}
	l.releaseUp()
}

// ncpUp is called when IPCP opened, with the IPv4 part of Up. The Up
// action waits for IPv6CP while it is negotiating with a peer that runs it
// (both usually open within the same round trip); a peer that has sent
// nothing for IPv6CP by now does not hold the link up.
func (l *link) ncpUp(u Up) {
	l.pendingUp = &u
	l.releaseUp()
}

// releaseUp emits the pending Up once IPv6CP has settled.
func (l *link) releaseUp() {
	u := l.pendingUp
	if u == nil || l.dead {
		return
	}
	if l.v6.enabled && !l.v6.settled {
		if l.v6.engaged && l.ipv6cp.active() {
			return
		}
		l.pendingUp = nil // stopIPv6 calls releaseUp again
		if l.v6.passive && !l.v6.engaged {
			l.stopIPv6("the server did not start IPv6CP")
		} else {
			l.stopIPv6("the server did not negotiate IPv6CP")
		}
		l.pendingUp = u
	}
	if l.v6.open {
		u.Local6, u.Peer6 = linkLocal(l.v6.local), linkLocal(l.v6.peer)
	}
	if l.v6.enabled {
		u.IPv6Off = l.v6.off
	}
	l.pendingUp = nil
	l.upSent = true
	l.emit(*u)
}

// ipv6cpLayer is the IPv6CP policy of both sides: propose our identifier,
// take a non-zero one the peer suggests, Nak a zero or colliding one.
type ipv6cpLayer link

func optIID(v uint64) Option {
	return Option{Type: ipv6cpOptIID, Data: binary.BigEndian.AppendUint64(nil, v)}
}

func (h *ipv6cpLayer) reqOptions() []Option {
	if h.v6.reqID {
		return []Option{optIID(h.v6.local)}
	}
	return nil
}

func (h *ipv6cpLayer) gotNak(_ time.Time, opts []Option) {
	l := (*link)(h)
	if o, ok := findOption(opts, ipv6cpOptIID); ok && h.v6.reqID {
		if len(o.Data) == 8 {
			if v := binary.BigEndian.Uint64(o.Data); v != 0 && v != h.v6.peer {
				h.v6.local = v // Ref: RFC 5072 §4.1: use the suggested value
				return
			}
		}
		h.v6.local = l.newInterfaceID(h.v6.peer)
	}
}

func (h *ipv6cpLayer) gotReject(_ time.Time, opts []Option) {
	if _, ok := findOption(opts, ipv6cpOptIID); ok {
		h.v6.reqID = false // our identifier stays ours, unconfirmed
	}
}

func (h *ipv6cpLayer) checkOption(o Option) (uint8, Option) {
	if o.Type != ipv6cpOptIID || len(o.Data) != 8 {
		return codeConfRej, Option{} // IPv6-Compression-Protocol, unknown
	}
	v := binary.BigEndian.Uint64(o.Data)
	if v == 0 || v == h.v6.local {
		// Zero asks us for one; equal ones collide. Either way suggest a
		// value unlike ours. Ref: RFC 5072 §4.1.
		return codeConfNak, optIID((*link)(h).newInterfaceID(h.v6.local))
	}
	return codeConfAck, Option{}
}

func (h *ipv6cpLayer) acked(opts []Option) {
	h.v6.peer = 0
	if o, ok := findOption(opts, ipv6cpOptIID); ok && len(o.Data) == 8 {
		h.v6.peer = binary.BigEndian.Uint64(o.Data)
	}
}

func (h *ipv6cpLayer) up(time.Time) {
	h.v6.open, h.v6.settled, h.v6.off = true, true, ""
	(*link)(h).releaseUp()
}

func (h *ipv6cpLayer) down(time.Time) { h.v6.open = false }

func (h *ipv6cpLayer) failed(_ time.Time, err error) { (*link)(h).stopIPv6(err.Error()) }

func (h *ipv6cpLayer) terminated(_ time.Time, reason []byte) {
	why := "the server closed IPv6CP"
	if r := printable(reason); r != "" {
		why += ": " + r
	}
	(*link)(h).stopIPv6(why)
}

func (h *ipv6cpLayer) termDone(time.Time)                   {}
func (h *ipv6cpLayer) extra(time.Time, Packet, []byte) bool { return false }
