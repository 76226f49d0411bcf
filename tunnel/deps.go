package tunnel

import (
	"context"
	"io"
	"net"
	"net/netip"
)

// PacketConn is the UDP socket Run talks to the server through. *net.UDPConn
// satisfies it; tests pass an in-memory one.
type PacketConn interface {
	ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}

// Deps are Run's connections to the outside world. Zero fields get the real
// implementation (see withDefaults in tunnel.go).
type Deps struct {
	Clock  Clock
	Log    *Logger
	Events func(Event) // called from the control goroutine; must not block long
	Rand   io.Reader   // crypto/rand.Reader by default

	// Resolve turns Config.Server into an IPv4 address.
	Resolve func(ctx context.Context, host string) (netip.Addr, error)
	// Listen opens the UDP socket on a random local port, on the address
	// that routes to server.
	Listen func(server netip.AddrPort) (PacketConn, error)
	// ListenESP opens the raw socket for plain ESP (IP protocol 50) between
	// local and server, for Config.ESPTransport raw and auto.
	ListenESP func(local, server netip.Addr) (ESPConn, error)
	// OpenTUN creates and configures the interface (address, MTU, routes)
	// and returns it; Close on the TUN removes it and its routes.
	OpenTUN func(cfg TUNConfig) (TUN, error)
	// ScriptOutput receives what Config.Script prints (stdout and stderr),
	// line by line with a prefix; nil: os.Stderr.
	ScriptOutput io.Writer

	// Set by Run from Config.Pcap and Config.KeyLog, for the whole Run
	// (all its connection attempts); nil: none.
	pcap *capture
	keys *keyLog
}

// TUNConfig is what OpenTUN needs to bring the interface up.
type TUNConfig struct {
	Name   string
	Local  netip.Addr
	Peer   netip.Addr
	MTU    int
	Routes []netip.Prefix
	// Local6 is our IPv6 link-local address (fe80::<Interface-Identifier>,
	// a /64 on the link) once IPv6CP opened, Peer6 the server's; both zero
	// when the link is IPv4-only. Routes6 are routed through the
	// interface (only with Local6).
	Local6, Peer6 netip.Addr
	Routes6       []netip.Prefix

	// Host changes (undone by Close): the default route through the TUN
	// with a host route to Server, and the DNS servers offered in IPCP.
	DefaultRoute bool
	Server       netip.Addr
	DNSMode      DNSMode
	DNS          []netip.Addr
	DNSDomains   []string

	// NoOffload asks for a plain device, without the virtio-net header
	// and TCP segmentation offload it gets on Linux when the kernel
	// agrees (Config.NoTUNOffload).
	NoOffload bool
}
