package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
)

// One UDP socket carries everything: IKE to server:500 (Main Mode messages
// 1–4), IKE with the non-ESP marker, ESP and NAT-T keepalives to server:4500.
// Its local port is random per connection, never 500 or 4500: several
// clients behind one NAT must not collide, and some servers wedge when a
// stale session reappears from the same IP:port (SoftEther: docs/interop.md,
// "Known problems").

// packetKind names what a datagram (or a decapsulated packet) carries.
type packetKind uint8

const (
	kindInvalid   packetKind = iota // malformed or unexpected; dropped
	kindKeepalive                   // NAT-T keepalive; ignored
	kindIKE                         // ISAKMP message (non-ESP marker stripped)
	kindESP                         // UDP-encapsulated ESP packet
	kindL2TP                        // L2TP control message (T bit), whole L2TP packet
	kindPPP                         // PPP frame of a protocol other than IPv4, whole frame
	kindIPv4                        // IPv4 packet from a PPP data frame
	kindIPv6                        // IPv6 packet from a PPP data frame (protocol 0x0057)
)

var packetKindNames = [...]string{
	kindInvalid:   "invalid",
	kindKeepalive: "keepalive",
	kindIKE:       "IKE",
	kindESP:       "ESP",
	kindL2TP:      "L2TP control",
	kindPPP:       "PPP control",
	kindIPv4:      "IPv4",
	kindIPv6:      "IPv6",
}

func (k packetKind) String() string {
	if int(k) < len(packetKindNames) {
		return packetKindNames[k]
	}
	return fmt.Sprintf("packetKind(%d)", uint8(k))
}

// classify demultiplexes one received datagram. fromNATT says it came from
// the server's NAT-T port (4500), where RFC 3948 framing applies:
//
//	exactly one byte 0xFF        → NAT-keepalive (§2.3)
//	first four bytes zero        → IKE; payload is the message after the marker (§2.2)
//	anything else, ≥ 8 bytes     → ESP; payload is the whole datagram (§2.1: the SPI is never 0)
//
// From the IKE port every non-empty datagram is IKE. payload aliases pkt.
func classify(pkt []byte, fromNATT bool) (kind packetKind, payload []byte) {
	if !fromNATT {
		if len(pkt) == 0 {
			return kindInvalid, nil
		}
		return kindIKE, pkt
	}
	switch {
	case inet.IsKeepalive(pkt):
		return kindKeepalive, nil
	case inet.HasNonESPMarker(pkt):
		return kindIKE, pkt[inet.NonESPMarkerLen:]
	case len(pkt) >= esp.HeaderLen:
		return kindESP, pkt
	}
	return kindInvalid, nil
}

// isUnreachable reports whether err from a send (or the routing probe)
// means the server cannot be reached at all: no route to the network or
// host, or an ICMP port unreachable reported on the socket. Run reports
// these as ErrNoAnswer.
func isUnreachable(err error) bool {
	return errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ECONNREFUSED)
}

// defaultListen is the real Deps.Listen: it opens an IPv4 UDP socket on a
// random local port, bound to the local address the kernel would use to
// reach server. Binding to that address (instead of 0.0.0.0) makes the
// source address of every datagram — which goes into NAT-D hashes, the
// phase-1 ID and the NAT-OA/Quick Mode IDs — known up front
// (go-l2tp#8: a socket on 0.0.0.0:0 sent from an address that did not match
// the negotiated selectors).
func defaultListen(server netip.AddrPort) (PacketConn, error) {
	if !server.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("tunnel: server address %v is not IPv4", server.Addr())
	}
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(server.Addr().Unmap(), server.Port()))
	// A connected UDP socket sends nothing; connect(2) only asks the routing
	// table for the source address.
	probe, err := net.DialUDP("udp4", nil, dst)
	if err != nil {
		return nil, fmt.Errorf("tunnel: finding the local address for %v: %w", server.Addr(), err)
	}
	local := localAddrPort(probe).Addr()
	probe.Close()
	if !local.IsValid() || local.IsUnspecified() {
		return nil, fmt.Errorf("tunnel: no local IPv4 address routes to %v", server.Addr())
	}
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, fmt.Errorf("tunnel: opening a UDP socket on %v: %w", local, err)
	}
	return c, nil
}

// localAddrPort returns the local address of c as an (unmapped) AddrPort,
// or the zero AddrPort if it cannot be determined.
func localAddrPort(c interface{ LocalAddr() net.Addr }) netip.AddrPort {
	switch a := c.LocalAddr().(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	default:
		ap, err := netip.ParseAddrPort(a.String())
		if err != nil {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}
