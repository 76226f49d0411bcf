package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Netstack mode: instead of a kernel TUN device, the PPP link's IP packets
// go into gVisor's userspace TCP/IP stack, and local front ends (a SOCKS5
// server, an HTTP proxy, port forwards) open connections inside it. No
// root, no routes, no host DNS changes.
//
//	front ends (socks5.go, httpproxy.go, forward.go)
//	   │ dial / resolve (netstack.dial)
//	   ▼
//	gVisor stack ── channel endpoint ── nsLink (a TUN) ── data path (ESP)
//
// One gVisor stack lives per PPP link (nsLink, from OpenTUN to Close): its
// address is the one IPCP assigned, and closing it resets every connection
// through it. The front ends live for the whole Run, across reconnects;
// while no link is up their dials fail with errLinkDown.

// nsQueueLen is the outbound queue of the channel endpoint: packets the
// stack has sent that readTUN has not taken yet. Beyond it the stack's
// writes fail and TCP retransmits.
const nsQueueLen = 1024

// nsBatch is how many packets one nsLink.Read returns at most.
const nsBatch = 32

// nsNIC is the stack's one NIC.
const nsNIC tcpip.NICID = 1

var (
	// errLinkDown: a front end dialled while the tunnel was not up.
	errLinkDown = errors.New("netstack: the tunnel is not up")
	// errNoDNS: a host name to resolve but no DNS server from IPCP.
	errNoDNS = errors.New("netstack: the server offered no DNS server (IPCP) to resolve host names with")
)

// netstack is netstack mode's state for one Run: the current link and the
// front ends.
type netstack struct {
	cfg  NetstackConfig
	log  *Logger
	link atomic.Pointer[nsLink] // the current link; nil while none is up; stored by OpenTUN and Close

	fe *frontEnds
}

// newNetstack opens the front ends' listeners (so that a port in use fails
// the setup phase, before connecting).
func newNetstack(cfg NetstackConfig, log *Logger) (*netstack, error) {
	n := &netstack{cfg: cfg, log: log}
	fe, err := startFrontEnds(n, cfg, log)
	if err != nil {
		return nil, err
	}
	n.fe = fe
	return n, nil
}

// close stops the front ends and closes every connection they carry.
func (n *netstack) close() {
	n.fe.close()
}

// addrs are the front ends' listening addresses.
func (n *netstack) addrs() (socks5, httpProxy string) {
	return n.fe.socks5Addr, n.fe.httpAddr
}

// open is Deps.OpenTUN in netstack mode: a new stack with the link's
// address. Nothing on the host changes.
func (n *netstack) open(cfg TUNConfig) (TUN, error) {
	l, err := newNSLink(cfg, n.log)
	if err != nil {
		return nil, err
	}
	l.onClose = func() { n.link.CompareAndSwap(l, nil) }
	l.socks5, l.httpProxy = n.addrs()
	n.link.Store(l)
	return l, nil
}

// dial opens a connection inside the tunnel to hostport ("tcp" or "udp"
// network); a host name is resolved with the tunnel's DNS servers.
func (n *netstack) dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	l := n.link.Load()
	if l == nil {
		return nil, errLinkDown
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	ap, err := l.resolvePort(ctx, host, port)
	if err != nil {
		return nil, err
	}
	return l.dialAddr(ctx, network, ap)
}

// nsLink is one PPP link's gVisor stack, seen by the data path as a TUN.
type nsLink struct {
	s     *stack.Stack
	ep    *channel.Endpoint
	mtu   int
	local netip.Addr
	dns   []netip.Addr
	next  atomic.Uint32 // rotates among dns

	ctx       context.Context // cancelled by Close: ends a blocked Read
	cancel    context.CancelFunc
	closeOnce sync.Once
	onClose   func()
	injected  sync.WaitGroup // Writes in progress (Close waits for them)
	closed    atomic.Bool

	socks5, httpProxy string // the front ends' addresses, for LinkInfo
}

func newNSLink(cfg TUNConfig, log *Logger) (*nsLink, error) {
	if !cfg.Local.Is4() {
		return nil, fmt.Errorf("netstack: local address %v is not IPv4", cfg.Local)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	// SACK recovers from the losses of a congested tunnel without resending
	// whole windows; receive-buffer moderation grows the window with the
	// measured bandwidth-delay product instead of starting at the maximum,
	// which keeps memory low for idle connections.
	sack := tcpip.TCPSACKEnabled(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	cc := tcpip.CongestionControlOption("cubic")
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &cc)
	ep := channel.New(nsQueueLen, uint32(cfg.MTU), "")
	fail := func(what string, err tcpip.Error) (*nsLink, error) {
		s.Close()
		s.Wait()
		return nil, fmt.Errorf("netstack: %s: %v", what, err)
	}
	if err := s.CreateNIC(nsNIC, ep); err != nil {
		return fail("creating the NIC", err)
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddrFrom4(cfg.Local.As4()).WithPrefix(),
	}
	if err := s.AddProtocolAddress(nsNIC, pa, stack.AddressProperties{}); err != nil {
		return fail("adding "+cfg.Local.String(), err)
	}
	// Everything goes into the tunnel: it is the stack's only link.
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nsNIC}})
	ctx, cancel := context.WithCancel(context.Background())
	l := &nsLink{s: s, ep: ep, mtu: cfg.MTU, local: cfg.Local, dns: cfg.DNS, ctx: ctx, cancel: cancel}
	log.debugf("netstack: up, address %v, MTU %d, DNS %v", cfg.Local, cfg.MTU, cfg.DNS)
	return l, nil
}

// Read returns packets the stack sends, copied to bufs[i][offset:] (the
// data path seals them in place there); it blocks for the first one.
func (l *nsLink) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	max := min(len(bufs), len(sizes))
	if max == 0 {
		return 0, nil
	}
	pkt := l.ep.ReadContext(l.ctx)
	if pkt == nil {
		return 0, fmt.Errorf("netstack: read: %w", os.ErrClosed)
	}
	n := 0
	for pkt != nil {
		sizes[n] = copyPacket(bufs[n][offset:], pkt)
		pkt.DecRef()
		n++
		if n == max {
			break
		}
		pkt = l.ep.Read()
	}
	return n, nil
}

// copyPacket copies pkt's bytes to b without allocating (AsSlices would
// allocate the slice of slices); a packet longer than b is cut (and then
// dropped as malformed by the data path's length check).
func copyPacket(b []byte, pkt *stack.PacketBuffer) int {
	vl, skip := pkt.AsViewList()
	n := 0
	for v := vl.Front(); v != nil && n < len(b); v = v.Next() {
		s := v.AsSlice()
		if skip >= len(s) {
			skip -= len(s)
			continue
		}
		n += copy(b[n:], s[skip:])
		skip = 0
	}
	return n
}

// Write hands the packets bufs[i][offset:] (from ESP) to the stack. The
// stack copies each one into its own buffer; the caller's buffer is free
// again on return.
func (l *nsLink) Write(bufs [][]byte, offset int) (int, error) {
	l.injected.Add(1)
	defer l.injected.Done()
	if l.closed.Load() {
		return 0, fmt.Errorf("netstack: write: %w", os.ErrClosed)
	}
	for i, b := range bufs {
		p := b[offset:]
		if len(p) == 0 {
			continue
		}
		var proto tcpip.NetworkProtocolNumber
		switch p[0] >> 4 {
		case 4:
			proto = ipv4.ProtocolNumber
		case 6:
			proto = ipv6.ProtocolNumber
		default:
			return i, errors.New("netstack: write: not an IP packet")
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)})
		l.ep.InjectInbound(proto, pkt)
		pkt.DecRef()
	}
	return len(bufs), nil
}

func (l *nsLink) BatchSize() int { return nsBatch }
func (l *nsLink) Name() string   { return "netstack" }
func (l *nsLink) MTU() int       { return l.mtu }

// DNSSetup says where DNS went (dnsSetuper): nowhere on the host.
func (l *nsLink) DNSSetup() string { return "netstack" }

// Close resets every connection of the stack and frees it. It is
// idempotent.
func (l *nsLink) Close() error {
	l.closeOnce.Do(func() {
		if l.onClose != nil {
			l.onClose()
		}
		l.closed.Store(true)
		l.cancel()
		l.injected.Wait()
		l.s.Close()
		l.s.Wait()
		l.ep.Close()
	})
	return nil
}

// resolvePort resolves host (a literal or a name, through the tunnel's DNS)
// and port (a number or a service name).
func (l *nsLink) resolvePort(ctx context.Context, host, port string) (netip.AddrPort, error) {
	p, err := net.LookupPort("tcp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	a, err := l.resolve(ctx, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

// resolve turns host into an IPv4 address: a literal as is, a name through
// the DNS servers the server offered in IPCP, queried inside the tunnel.
func (l *nsLink) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	if len(l.dns) == 0 {
		return netip.Addr{}, errNoDNS
	}
	addrs, err := l.resolver().LookupNetIP(ctx, "ip4", host)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		// It names the server of /etc/resolv.conf it thinks it asked.
		dnsErr.Server = fmt.Sprint(l.dns)
	}
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, &net.DNSError{Err: "no IPv4 address", Name: host, IsNotFound: true}
	}
	return addrs[0].Unmap(), nil
}

// resolver is a pure-Go resolver whose queries go to the tunnel's DNS
// servers (in turn) through the stack, whatever /etc/resolv.conf names.
func (l *nsLink) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			i := int(l.next.Add(1)-1) % len(l.dns)
			ap := netip.AddrPortFrom(l.dns[i], 53)
			if network == "tcp" || network == "tcp4" || network == "tcp6" {
				return l.dialAddr(ctx, "tcp", ap)
			}
			return l.dialAddr(ctx, "udp", ap)
		},
	}
}

// dialAddr connects inside the stack: network "tcp" or "udp".
func (l *nsLink) dialAddr(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
	fa, proto := fullAddr(ap)
	switch network {
	case "tcp", "tcp4", "tcp6":
		return l.dialTCP(ctx, fa, proto)
	case "udp", "udp4", "udp6":
		return gonet.DialUDP(l.s, nil, &fa, proto)
	}
	return nil, fmt.Errorf("netstack: unknown network %q", network)
}

// Why a connection inside the stack failed, for the front ends' replies
// (SOCKS5 reply codes, HTTP statuses).
var (
	errRefused     = errors.New("connection refused")
	errUnreachable = errors.New("no route to host")
	errTimedOut    = errors.New("connection timed out")
)

// dialTCP connects a TCP endpoint of the stack, keeping the stack's reason
// for a failure as one of the errors above (gonet's dial keeps only text).
func (l *nsLink) dialTCP(ctx context.Context, fa tcpip.FullAddress, proto tcpip.NetworkProtocolNumber) (net.Conn, error) {
	var wq waiter.Queue
	ep, terr := l.s.NewEndpoint(tcp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, fmt.Errorf("netstack: new TCP endpoint: %s", terr)
	}
	we, ready := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)
	terr = ep.Connect(fa)
	if _, ok := terr.(*tcpip.ErrConnectStarted); ok {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, ctx.Err()
		case <-ready:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		var err error
		switch terr.(type) {
		case *tcpip.ErrConnectionRefused, *tcpip.ErrConnectionReset:
			err = errRefused
		case *tcpip.ErrHostUnreachable, *tcpip.ErrNetworkUnreachable:
			err = errUnreachable
		case *tcpip.ErrTimeout:
			err = errTimedOut
		default:
			err = errors.New(terr.String())
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IP(fa.Addr.AsSlice()), Port: int(fa.Port)}, Err: err}
	}
	return gonet.NewTCPConn(&wq, ep), nil
}

// listenUDP opens an unconnected UDP socket inside the stack (for SOCKS5
// UDP ASSOCIATE): it sends to and receives from any address.
func (n *netstack) listenUDP() (*gonet.UDPConn, error) {
	l := n.link.Load()
	if l == nil {
		return nil, errLinkDown
	}
	la := tcpip.FullAddress{NIC: nsNIC, Addr: tcpip.AddrFrom4(l.local.As4())}
	return gonet.DialUDP(l.s, &la, nil, ipv4.ProtocolNumber)
}

func fullAddr(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	a := ap.Addr().Unmap()
	if a.Is4() {
		return tcpip.FullAddress{NIC: nsNIC, Addr: tcpip.AddrFrom4(a.As4()), Port: ap.Port()}, ipv4.ProtocolNumber
	}
	return tcpip.FullAddress{NIC: nsNIC, Addr: tcpip.AddrFrom16(a.As16()), Port: ap.Port()}, ipv6.ProtocolNumber
}
