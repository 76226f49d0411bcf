package tunnel

import (
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// The fast path between the TUN device and the UDP socket.
//
// Outbound (TUN → server), written in place in front of the IPv4 packet that
// the TUN read left at buf[tunOffset:]; offsets for a 16-byte IV (AES-CBC),
// the longest in proto/suite today:
//
//	|ESP hdr|  IV  |[inner IPv4]|UDP|L2TP|PPP| IPv4 packet ... |pad|PL|NH|ICV|
//	0       8      24           44  52   58  62 = tunOffset
//	└─ sa.Headroom() ─┘└ tunnelHeader ┘└─ innerHeaders ─┘
//
// A transform with a shorter IV starts its ESP header further in, and so
// does transport mode, which has no inner IPv4 header (tunnel mode:
// tunnelAddrs); the buffer's first bytes are then unused.
//
// Inbound (server → TUN): ESP is opened in place in the datagram buffer, and
// the IP packet inside is queued where it lies (queueTUN); after each batch
// of datagrams the queue goes to the TUN with one Write, in which the Linux
// offload TUN merges consecutive TCP segments (tun_offload_linux.go). The
// headers in front of the packet leave room for the TUN's own header.
//
// With the offload TUN, readTUN's reads are 64 KiB TCP segments split into
// MTU-sized packets, each in a slot of one arena laid out as above.
//
// Goroutines: readTUN (one per TUN) and readUDP (one per socket) each own
// their buffers for their lifetime. The control goroutine sends IKE, L2TP
// control messages and PPP frames through send*, which take a pooled buffer
// per message and return it before they return. Nothing on the per-packet
// path allocates (TestDataPathAllocs).
//
// Files: pools.go (the packet buffers), counters.go (statistics),
// satable.go (the SAs in use), send.go (TUN → server, and the control
// goroutine's sends), receive.go (server → TUN or control goroutine),
// ratelimit.go (log rate limit, read backoff), udp.go (the socket and the
// NAT-T demultiplexer).
//
// Benchmark goal (BenchmarkEncap vs BenchmarkBaseline, docs/architecture.md):
// at 1400 bytes, encapsulation costs at most 1.15× the bare CBC cipher +
// HMAC over the same ESP payload length. Tests never assert speed.

// Buffer layout.
const (
	// maxPacket is the size of every pooled buffer: the largest UDP
	// datagram, so that IKE messages (which share the socket with ESP) and
	// any IPv4 packet up to the TUN MTU, with all headers and the ESP
	// trailer, fit without truncation.
	maxPacket = 1 << 16

	// innerHeaders are the headers between ESP and the IPv4 packet: the
	// transport-mode inner UDP header, the L2TP data header and the PPP
	// header (FF 03 00 21).
	innerHeaders = inet.UDPHeaderLen + l2tp.DataHeaderLen + ppp.HeaderLen

	// tunnelHeader is the inner IPv4 header of tunnel-mode ESP, in front
	// of the inner UDP header. Ref: RFC 4301 §5.1.2.
	tunnelHeader = inet.IPv4HeaderLen
)

// Buffer layout that depends on the ESP transforms: sized at start-up from
// the proto/suite registry, so that any transform fits.
var (
	// maxESPHeadroom is the most ESP writes in front of its payload: the
	// header and the longest IV (RFC 4303 §2).
	maxESPHeadroom = esp.MaxHeadroom()
	// maxESPTrailer is the most ESP writes after its payload: padding to the
	// largest block, Pad Length, Next Header, and the longest ICV.
	maxESPTrailer = esp.MaxTrailer()

	// tunOffset is where TUN reads land in a buffer: room for every header
	// in front of the IPv4 packet.
	tunOffset = maxESPHeadroom + tunnelHeader + innerHeaders

	// maxTUNPacket is the largest packet a TUN read may return for it still
	// to fit a buffer after encapsulation.
	maxTUNPacket = maxPacket - tunOffset - maxESPTrailer
)

// Errors of the data path. They are values (never built per packet), so
// that dropping a packet does not allocate either.
var (
	errNoOutboundSA = errors.New("tunnel: no outbound IPsec SA yet")
	errNoSession    = errors.New("tunnel: no L2TP session yet")
	errTooBig       = errors.New("tunnel: message too large for a packet buffer")
	errNoRoom       = errors.New("tunnel: buffer lacks headroom for the L2TP/IPsec headers")
	errNextHeader   = errors.New("tunnel: ESP next header is not UDP (transport mode) or IPv4 (tunnel mode)")
	errInnerIPv4    = errors.New("tunnel: malformed inner IPv4 header (tunnel mode)")
	errInnerAddr    = errors.New("tunnel: inner IPv4 addresses are not the server's and ours (tunnel mode)")
	errDummy        = errors.New("tunnel: ESP dummy packet") // RFC 4303 §2.6: discard silently
	errInnerUDP     = errors.New("tunnel: malformed inner UDP header")
	errWrongSession = errors.New("tunnel: L2TP data for another tunnel or session")
	errPPPFrame     = errors.New("tunnel: malformed PPP frame")
	errNotIPv4      = errors.New("tunnel: PPP IPv4 frame does not hold an IPv4 packet")
	errNotIPv6      = errors.New("tunnel: PPP IPv6 frame does not hold an IPv6 packet")
)

// dataPath moves packets between the TUN and the UDP socket.
type dataPath struct {
	conn     PacketConn     // immutable; read only by readUDP, written by everyone (UDP sockets allow concurrent writes)
	batch    batchWriter    // immutable: conn's sendmmsg, used by readTUN; nil: send one packet at a time
	gso      bool           // set before the readers start, then immutable: batch may send UDP_SEGMENT messages (readTUN's txBatch)
	noGRO    bool           // set before the readers start, then immutable: readUDP does not set UDP_GRO
	ikeAddr  netip.AddrPort // immutable: server's IKE address (port 500)
	nattAddr netip.AddrPort // immutable: server's NAT-T address (port 4500)
	log      *Logger        // immutable; nil discards
	raw      ESPConn        // set before the readers start, then immutable: plain ESP's raw socket; nil: none
	plain    atomic.Bool    // ESP goes through raw, not in UDP; stored by the control loop after phase 1

	// wrongSessionToControl (immutable; ServerPath's): L2TP data for no
	// session of ours goes to the control goroutine as a whole L2TP
	// message (kindL2TP) instead of being dropped. A server learns the
	// call's IDs from ICCN, which the client's first LCP frame follows at
	// once: the control plane, which takes ICCN first, must get that frame.
	wrongSessionToControl bool

	out     atomic.Pointer[esp.SA]      // outbound SA; stored by the control loop (setOutbound), loaded per packet
	in      atomic.Pointer[[]*esp.SA]   // inbound SAs; the slice is never modified once stored (copy-on-write)
	inMu    sync.Mutex                  // serialises the writers of in (addInbound, removeInbound)
	session atomic.Uint64               // packed L2TP IDs (packSession); 0 = no session; stored by the control loop
	tun     atomic.Pointer[TUN]         // where readUDP writes IP packets; stored by the control loop (setTUN)
	inner   atomic.Pointer[tunnelAddrs] // tunnel mode's inner addresses; nil: transport mode; stored by the control loop (setMode)
	mss     atomic.Uint32               // TCP MSS that SYNs are clamped to in both directions (clampMSS); 0 = none; stored by setTUN
	ipv6    atomic.Bool                 // IPv6CP is open: IPv6 packets cross the tunnel (PPP protocol 0x0057); stored by the control loop

	// now is the control loop's clock (Deps.Clock.Now); lastTx is when
	// something was last sent to the NAT-T port, as nanoseconds since
	// txBase (markTx; readTUN marks once per batch). nil now: not tracked.
	now    func() time.Time
	txBase time.Time
	lastTx atomic.Int64
	lastRx atomic.Int64 // when a datagram last came from the server, as lastTx (markRx)

	// hold marks the control loop busy from a control message's hand-over
	// until it has handled it (ctrlPacket.done): a busyClock's busyHold.
	// nil (the real clock): nothing to mark. Set before the readers start,
	// then immutable.
	hold func() func()

	// pcap records decrypted L2TP messages (Config.Pcap); nil: none.
	// Set by setCapture before the readers start, then immutable.
	pcap      *capture
	pcapLocal netip.Addr

	c        dataCounters
	bufsHeld atomic.Int64 // pooled buffers taken and not yet returned; tests check it ends at 0

	rxLog, txLog rateLimit // per-packet error logs, at most one a second each
	dropLog      rateLimit // readUDP's drop summary (udpReader.drop), at most one per dropLogPeriod

	// ikeFilter says which IKE messages the control loop's IKE SAs may
	// take (isakmp.Filter, one per SA; zero: none); stored by the control
	// loop (setIKEFilter) before it sends anything they answer. nil: no
	// filter (tests of the data path alone).
	ikeFilter atomic.Pointer[[2]isakmp.Filter]
}

// dropLogPeriod is how often at most -v shows what readUDP dropped.
const dropLogPeriod = 5 * time.Second

// setIKEFilter makes readUDP forward only IKE messages that one of f
// matches. Called by the control loop.
func (d *dataPath) setIKEFilter(f [2]isakmp.Filter) { d.ikeFilter.Store(&f) }

// ikeMatch reports whether the well-formed IKE message msg passes the
// IKE filter. It does not allocate.
func (d *dataPath) ikeMatch(msg []byte) bool {
	f := d.ikeFilter.Load()
	return f == nil || f[0].Match(msg) || f[1].Match(msg)
}

// newDataPath returns a data path on conn. ikeAddr and nattAddr are the
// server's ports 500 and 4500; datagrams from anywhere else are dropped.
func newDataPath(conn PacketConn, ikeAddr, nattAddr netip.AddrPort, log *Logger) *dataPath {
	batch, gso := newBatchWriter(conn)
	return &dataPath{
		conn:     conn,
		batch:    batch,
		gso:      gso,
		ikeAddr:  unmapAddrPort(ikeAddr),
		nattAddr: unmapAddrPort(nattAddr),
		log:      log,
		dropLog:  rateLimit{period: dropLogPeriod},
	}
}

// noUDPOffload makes the data path send and receive one datagram per
// message (Config.NoUDPOffload). Called before the readers start.
func (d *dataPath) noUDPOffload() { d.gso, d.noGRO = false, true }

// tunnelAddrs are the addresses of tunnel mode's inner IPv4 header: the
// Quick Mode selectors, ours (the socket's address) and the server's.
type tunnelAddrs struct {
	local, server netip.Addr
}

// setMode sets transport mode (tunnel false) or tunnel mode with an inner
// IPv4 header local ↔ server, for what is sent and received from now on.
func (d *dataPath) setMode(tunnel bool, local, server netip.Addr) {
	if !tunnel {
		d.inner.Store(nil)
		return
	}
	d.inner.Store(&tunnelAddrs{local: local.Unmap(), server: server.Unmap()})
}

// setClock makes the data path note when it last sent to the NAT-T port,
// on the given clock, and, on a busyClock, hold it while a control message
// is on its way to the control loop; call it before anything is sent.
func (d *dataPath) setClock(clock Clock) {
	d.now = clock.Now
	d.txBase = clock.Now()
	if bc, ok := clock.(busyClock); ok {
		d.hold = bc.busyHold
	}
}

// setCapture makes the data path record the L2TP messages it seals and
// opens in c, between local and the server; call it before anything is
// sent or read.
func (d *dataPath) setCapture(c *capture, local netip.Addr) {
	d.pcap, d.pcapLocal = c, local
}

// markTx notes that something went to the NAT-T port now.
func (d *dataPath) markTx() {
	if d.now != nil {
		d.lastTx.Store(int64(d.now().Sub(d.txBase)))
	}
}

// markRx notes that a datagram came from the server now.
func (d *dataPath) markRx() {
	if d.now != nil {
		d.lastRx.Store(int64(d.now().Sub(d.txBase)))
	}
}

// lastRecv is when a datagram last came from the server (the time of
// setClock if none has): what DPD judges the server's liveness by.
func (d *dataPath) lastRecv() time.Time {
	return d.txBase.Add(time.Duration(d.lastRx.Load()))
}

// lastSend is when something last went to the NAT-T port (the time of
// setClock if nothing has).
func (d *dataPath) lastSend() time.Time {
	return d.txBase.Add(time.Duration(d.lastTx.Load()))
}

// setSession sets the L2TP IDs: the peer's tunnel and session ID (written
// into outbound data headers) and ours (inbound data for any other IDs is a
// stale session and dropped). Any ID 0 (reserved, RFC 2661 §3.1) clears the
// session: outbound IPv4 and PPP frames are dropped and inbound data too.
// Call it as soon as ICRP arrives, before ICCN, so that the server's first
// LCP frame is not dropped.
func (d *dataPath) setSession(peerTunnel, peerSession, localTunnel, localSession uint16) {
	d.session.Store(packSession(peerTunnel, peerSession, localTunnel, localSession))
}

func packSession(peerTunnel, peerSession, localTunnel, localSession uint16) uint64 {
	if peerTunnel == 0 || peerSession == 0 || localTunnel == 0 || localSession == 0 {
		return 0
	}
	return uint64(peerTunnel)<<48 | uint64(peerSession)<<32 | uint64(localTunnel)<<16 | uint64(localSession)
}

func unpackSession(v uint64) (peerTunnel, peerSession, localTunnel, localSession uint16) {
	return uint16(v >> 48), uint16(v >> 32), uint16(v >> 16), uint16(v)
}

// setTUN sets where readUDP writes inbound IPv4 packets (nil: drop them)
// and the MSS that TCP SYNs crossing the tunnel are clamped to: the TUN's
// MTU less the IPv4 and TCP headers. Clear it before closing the TUN.
func (d *dataPath) setTUN(t TUN) {
	if t == nil {
		d.tun.Store(nil)
		return
	}
	if mtu := t.MTU(); mtu > inet.TCPIPv4Overhead && mtu <= 0xFFFF {
		d.mss.Store(uint32(mtu - inet.TCPIPv4Overhead))
	}
	d.tun.Store(&t)
}

// clampMSS lowers the MSS option of a TCP SYN or SYN-ACK in the IPv4 or
// IPv6 packet pkt to fit the tunnel, so that neither end sends segments that
// would need fragmenting (or vanish in a path-MTU black hole). It does not
// allocate; n counts the packets it changed.
func (d *dataPath) clampMSS(pkt []byte, n *atomic.Uint64) {
	m := d.mss.Load()
	if m == 0 || len(pkt) == 0 {
		return
	}
	var changed bool
	if pkt[0]>>4 == 6 {
		// The IPv6 header is 20 bytes longer: the same MTU leaves 20 less.
		if m > inet.TCPIPv6Overhead-inet.TCPIPv4Overhead {
			changed = inet.ClampMSS6(pkt, uint16(m-(inet.TCPIPv6Overhead-inet.TCPIPv4Overhead)))
		}
	} else {
		changed = inet.ClampMSS(pkt, uint16(m))
	}
	if changed {
		n.Add(1)
	}
}

// isClosed reports whether a read error means the socket or TUN was closed:
// net.ErrClosed for sockets, os.ErrClosed (fs.ErrClosed) for files.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, fs.ErrClosed)
}

func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
