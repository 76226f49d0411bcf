package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
)

// ESPTransport is how ESP packets travel to the server (Config.ESPTransport).
type ESPTransport uint8

const (
	// ESPTransportUDP puts ESP in UDP to the server's NAT-T port, NAT or
	// not (NAT-T forced; RFC 3948). The default: it needs no privileges.
	ESPTransportUDP ESPTransport = iota
	// ESPTransportRaw sends plain ESP (IP protocol 50) through a raw
	// socket, which needs root (CAP_NET_RAW); IKE stays on port 500. A NAT
	// between us and the server (NAT-D) is an error: plain ESP does not
	// cross one.
	ESPTransportRaw
	// ESPTransportAuto is ESPTransportRaw when a raw socket can be opened
	// and NAT-D shows no NAT, ESPTransportUDP otherwise.
	ESPTransportAuto
)

// KnownESPTransports lists the values in the order help text names them.
var KnownESPTransports = []ESPTransport{ESPTransportUDP, ESPTransportRaw, ESPTransportAuto}

var espTransportNames = [...]string{ESPTransportUDP: "udp", ESPTransportRaw: "raw", ESPTransportAuto: "auto"}

func (t ESPTransport) String() string {
	if int(t) < len(espTransportNames) {
		return espTransportNames[t]
	}
	return fmt.Sprintf("ESPTransport(%d)", uint8(t))
}

// ParseESPTransport parses a name ("udp", "raw", "auto"), ignoring case.
func ParseESPTransport(s string) (ESPTransport, error) {
	for _, t := range KnownESPTransports {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown ESP transport %q (known: udp, raw, auto)", ErrConfig, s)
}

// ErrPlainESPNAT is wrapped by Run's error when --esp-transport raw met a
// NAT (NAT-D): plain ESP does not cross one. Exit class FailNoProposal.
var ErrPlainESPNAT = isakmp.ErrPlainESPNAT

// ErrRawESP: plain ESP was asked for (--esp-transport raw) and cannot be
// had: no raw socket (not root), or a NAT on the way.
var ErrRawESP = errors.New("plain ESP (--esp-transport raw) is not possible")

// ESPConn carries plain ESP packets (IP protocol 50) between us and the
// server: Read returns one ESP packet from the server without its IP
// header, Write sends one. Close unblocks Read with an error wrapping
// net.ErrClosed.
type ESPConn interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	Close() error
}

// listenRawESP is the real Deps.ListenESP: a raw IPv4 socket for protocol
// 50 from local, connected to server, so that the kernel hands it only the
// server's ESP. Opening it needs CAP_NET_RAW.
func listenRawESP(local, server netip.Addr) (ESPConn, error) {
	c, err := net.DialIP(fmt.Sprintf("ip4:%d", inet.ProtoESP), &net.IPAddr{IP: local.AsSlice()}, &net.IPAddr{IP: server.AsSlice()})
	if err != nil {
		return nil, err
	}
	return rawESP{c}, nil
}

// rawESP adapts a connected raw IPv4 socket: reads on it (unlike ReadFrom)
// return the IP header, which Read removes in place.
type rawESP struct{ c *net.IPConn }

func (r rawESP) Read(b []byte) (int, error) {
	for {
		n, err := r.c.Read(b)
		if err != nil {
			return 0, err
		}
		if n < inet.IPv4HeaderLen || b[0]>>4 != 4 {
			continue
		}
		hl := int(b[0]&0x0f) * 4
		if hl < inet.IPv4HeaderLen || hl > n {
			continue
		}
		return copy(b, b[hl:n]), nil
	}
}

func (r rawESP) Write(b []byte) (int, error) { return r.c.Write(b) }
func (r rawESP) Close() error                { return r.c.Close() }

// plainESPPolicy maps the transport to the Initiator's, given whether a
// raw socket is open.
func plainESPPolicy(t ESPTransport, haveRaw bool) isakmp.PlainESP {
	switch {
	case !haveRaw:
		return isakmp.PlainESPNever
	case t == ESPTransportRaw:
		return isakmp.PlainESPAlways
	case t == ESPTransportAuto:
		return isakmp.PlainESPIfNoNAT
	}
	return isakmp.PlainESPNever
}
