// Package peertest is an in-process L2TP/IPsec server for end-to-end tests
// of package tunnel without root. It is built only from the proto/
// packages — isakmp.Responder, esp.SA, l2tp.LNS and ppp.Server — and
// configured by a Profile to behave like SoftEther or like
// Libreswan + xl2tpd + pppd. It answers ICMP echo requests to its PPP
// address (and its subnet), so a test can ping through the whole stack.
//
// Sockets. The server owns two sockets, its UDP 500 and UDP 4500, and
// knows a datagram's destination port by the socket it arrived on — the
// same thing a real server knows — so nothing is guessed:
//
//	on the IKE socket (500):    every datagram is IKE
//	on the NAT-T socket (4500): exactly one byte 0xFF   → NAT-keepalive (counted)
//	                            first four bytes zero   → IKE (marker stripped)
//	                            anything else           → ESP, looked up by SPI
//
// (RFC 3948 §2). Answers leave from the socket the FSM names (isakmp.Send
// NATT), so the client sees Main Mode messages 2 and 4 come from port 500
// and everything after from port 4500, as it expects. Listen opens both on
// a nettest.Network.
//
// Concurrency. One reader goroutine per socket hands datagrams over a
// channel to one loop goroutine, which owns every FSM and SA and drives the
// FSM timers: a 20 ms ticker of real time calls Tick once Deadline has
// passed on the server's clock (Profile.Now, real time by default). With a
// fake clock the timers fire within one tick of the test moving it past
// their deadline. Stats, Events and Wait are safe to call from any
// goroutine. Close stops everything and waits for the goroutines.
//
// Sessions. A Main Mode from a new client address (IP and port) replaces
// the whole session, as a server that lost its state would. A Main Mode
// from the current client's address with a new cookie is a
// re-authentication: a second IKE SA next to the first, under the same
// L2TP tunnel and PPP link (SoftEther keys its state by the client's
// IP:port). Deleting the last IKE SA, or any IKE failure of it, ends the
// session, so one Server serves several connections in a row.
//
// Outside data path. With Profile.Data the server does not read its NAT-T
// socket: an outside data path (the benchmark peer's tunnel.ServerPath)
// does, takes the data, and hands the control messages back through
// Inject; the DataHooks tell it the session's client, SAs and L2TP IDs.
//
// It is a test peer: it trusts its client more than a server should, and
// on its own data path it is not fast.
package peertest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
)

// tickEvery is how often the loop checks the FSM deadlines.
const tickEvery = 20 * time.Millisecond

// Conn is one of the server's UDP sockets. *nettest.Conn and *net.UDPConn
// satisfy it.
type Conn interface {
	ReadFromUDPAddrPort(b []byte) (n int, addr netip.AddrPort, err error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}

// Stats counts what the server saw and did. Counters only grow (a new
// session does not reset them).
type Stats struct {
	MM1s          int // Main Modes started (new initiator cookies)
	Reauths       int // of which from the current client while a session was up (re-authentication)
	Phase1Up      int // IKE SAs established
	MM5Rejections int // MM5s whose HASH_I did not verify (wrong PSK)
	NewSAsDeleted int // IPsec SAs deleted at once (Profile.DeleteNewSAs)
	QuickModes    int // Quick Modes begun: the client's message 1 answered, or started through RekeyPastLifetime or Rekey (not RekeyAfter's, which the Responder starts on its own)
	ChildSAs      int // IPsec SA pairs installed, re-keys included (Quick Modes finished)
	Rekeys        int // of which re-keys
	ServerRekeys  int // of which the server started through Profile.RekeyPastLifetime or Server.Rekey
	ChildSAsGone  int // SA pairs removed (client Delete, retired after a re-key, expired)
	CurrentSAGone int // of which the newest pair (client Delete or expiry, not a re-key)
	IKEDeletes    int // IKE SA Deletes received from the client
	IKEFailures   int // other fatal IKE errors
	SessionsEnded int // sessions over after their last IKE SA went

	Keepalives   int // NAT-T keepalives received
	UnknownSPI   int // ESP for an SPI we do not have
	ESPErrors    int // ESP that did not open (ICV, replay, padding) or carried no UDP/L2TP
	ESPIn        int // ESP packets opened
	ESPInOld     int // of which on an SA older than the newest pair (the client has not moved to it yet)
	ESPOut       int // ESP packets sealed and sent
	WrongSession int // L2TP data for another tunnel/session
	TunnelModeIn int // ESP packets with an inner IPv4 header (tunnel mode) opened
	PlainESPIn   int // ESP packets from the plain-ESP socket (IP protocol 50)
	// UDPESPRefused counts ESP in UDP dropped because of Profile.NoUDPESP.
	UDPESPRefused int
	// InjectDrops counts messages Inject dropped for a full queue.
	InjectDrops int

	TunnelsUp       int
	SessionsUp      int
	CDNReceived     int // CDN from the client
	StopCCNReceived int // StopCCN from the client
	L2TPClosed      int // tunnel or call closed for another reason
	SLIsSent        int // Set-Link-Info sent (Profile.SendSLI)
	WENsSent        int // WAN-Error-Notify sent (Profile.SendWEN)

	LinkUp         int // LCP opened
	AuthUp         int // authentication succeeded
	AuthMethod     ppp.AuthMethod
	PPPUp          int // IPCP opened
	PPPDown        int
	LastPPPError   string // the Down error of the last PPP session ("" for a clean close)
	IPv4In         int    // IPv4 packets from the client
	PingsAnswered  int
	IPv6In         int // IPv6 packets from the client (Profile.IPv6)
	Pings6Answered int // ICMPv6 echo requests to the server's link-local address answered
	// ProtoRejects counts the client's LCP Protocol-Rejects of IPv6CP
	// (Profile.SendIPv6CP).
	ProtoRejects int
}

type datagram struct {
	data  []byte
	from  netip.AddrPort
	natt  bool   // arrived on the NAT-T socket
	plain bool   // arrived on the plain-ESP socket
	inner Inner  // injected (Inject): what data is, already out of ESP; 0: a datagram as read
	done  func() // Profile.Busy's release; called by the loop once handled
}

// busy marks the server busy (Profile.Busy) and returns the release.
func (s *Server) busy(what string) func() {
	if s.p.Busy == nil {
		return func() {}
	}
	return s.p.Busy(what)
}

// Server is a running fake L2TP/IPsec server.
type Server struct {
	p        Profile
	ikeConn  Conn // immutable
	nattConn Conn // immutable
	espConn  Conn // immutable; nil: no plain ESP
	ikeAddr  netip.AddrPort

	in         chan datagram      // readers → loop; never closed
	deletedNew int                // loop: SAs deleted so far for Profile.DeleteNewSAs
	ikeDeleted int                // loop: IKE SAs deleted so far for Profile.DeleteIKEOnSession
	done       chan struct{}      // closed by Close
	rekeyReq   chan chan struct{} // Rekey → loop, which closes the channel sent once it has acted
	hangupReq  chan func()        // Hangup → loop, with its busy release
	frameReq   chan request       // SendPPP → loop
	ipv4Out    chan request       // SendIPv4 → loop
	wg         sync.WaitGroup
	closeOnce  sync.Once

	mu      sync.Mutex
	stats   Stats         // caller must hold mu
	events  []string      // caller must hold mu
	changed chan struct{} // closed and replaced on every change; caller must hold mu

	sess *session // owned by the loop
}

// session is the state of one client connection, owned by the loop.
type session struct {
	client    netip.AddrPort // where answers go (the client's one socket)
	ikes      []*ikeSA       // live IKE SAs, newest last
	inSAs     map[uint32]*esp.SA
	outSA     *esp.SA
	outPair   uint32    // InSPI of the newest pair (the one outSA belongs to)
	rekeyAt   time.Time // Profile.RekeyPastLifetime: when to start one
	lns       *l2tp.LNS
	l2tpUp    l2tp.SessionUp
	sessUp    bool
	innerPort uint16     // the client's inner UDP source port (1701)
	tunnel    bool       // the newest SA pair is in tunnel mode: ESP carries an inner IPv4 header
	plain     bool       // the client sent plain ESP: answer on the plain-ESP socket
	innerSrc  netip.Addr // tunnel mode: the client's inner IPv4 source address
	ppp       *ppp.Server
	pppUp     bool
	local6    netip.Addr // the server's IPv6 link-local address once IPv6CP is open
	nextKA    time.Time
}

// ikeSA is one IKE SA of a session (two during a re-authentication).
type ikeSA struct {
	ckyI     [8]byte
	r        *isakmp.Responder
	rekeying bool // the server started a Quick Mode that has not finished
}

// newest returns the newest IKE SA, or nil.
func (ss *session) newest() *ikeSA {
	if len(ss.ikes) == 0 {
		return nil
	}
	return ss.ikes[len(ss.ikes)-1]
}

// Start runs a server for profile p on two sockets: ike (its UDP 500)
// and natt (its UDP 4500). The server owns them: Close closes them.
func Start(p Profile, ike, natt Conn) *Server { return StartESP(p, ike, natt, nil) }

// StartESP is Start with a third socket for plain ESP (IP protocol 50),
// if esp is not nil: everything read from it is ESP, and once the client
// has sent plain ESP the server answers the same way, to the client's
// address (port ESPPort on a nettest network; a raw socket ignores it).
func StartESP(p Profile, ike, natt, esp Conn) *Server {
	if p.Rand == nil {
		p.Rand = rand.Reader
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	s := &Server{
		p:         p,
		ikeConn:   ike,
		nattConn:  natt,
		ikeAddr:   addrPortOf(ike),
		espConn:   esp,
		in:        make(chan datagram, 256),
		done:      make(chan struct{}),
		rekeyReq:  make(chan chan struct{}),
		hangupReq: make(chan func(), 1),
		frameReq:  make(chan request),
		ipv4Out:   make(chan request, 256),
		changed:   make(chan struct{}),
	}
	s.wg.Add(2)
	go s.read(ike, datagram{})
	go s.loop()
	if p.Data == nil {
		s.wg.Add(1)
		go s.read(natt, datagram{natt: true})
	}
	if esp != nil {
		s.wg.Add(1)
		go s.read(esp, datagram{plain: true})
	}
	return s
}

// ESPPort stands for IP protocol 50 on a nettest network, where every
// socket has a port: ListenESP opens the server's plain-ESP socket there,
// and a client's fake raw socket listens on its own address at ESPPort.
const ESPPort = inet.ProtoESP

// ListenESP is Listen with a plain-ESP socket at addr:ESPPort.
func ListenESP(n *nettest.Network, addr netip.Addr, p Profile) (*Server, error) {
	ike, err := n.Listen(netip.AddrPortFrom(addr, inet.PortIKE))
	if err != nil {
		return nil, err
	}
	natt, err := n.Listen(netip.AddrPortFrom(addr, inet.PortNATT))
	if err != nil {
		ike.Close()
		return nil, err
	}
	esp, err := n.Listen(netip.AddrPortFrom(addr, ESPPort))
	if err != nil {
		ike.Close()
		natt.Close()
		return nil, err
	}
	return StartESP(p, ike, natt, esp), nil
}

// Listen opens the server's ports 500 and 4500 at addr on n and starts a
// server for p on them.
func Listen(n *nettest.Network, addr netip.Addr, p Profile) (*Server, error) {
	ike, err := n.Listen(netip.AddrPortFrom(addr, inet.PortIKE))
	if err != nil {
		return nil, err
	}
	natt, err := n.Listen(netip.AddrPortFrom(addr, inet.PortNATT))
	if err != nil {
		ike.Close()
		return nil, err
	}
	return Start(p, ike, natt), nil
}

// Close stops the server: it closes both sockets and waits for its
// goroutines. It sends nothing to the client. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.ikeConn.Close()
		s.nattConn.Close()
		if s.espConn != nil {
			s.espConn.Close()
		}
	})
	s.wg.Wait()
	// Release what the loop left unhandled (Profile.Busy).
	for {
		select {
		case d := <-s.in:
			d.done()
		case r := <-s.ipv4Out:
			r.done()
		case done := <-s.hangupReq:
			done()
		default:
			return
		}
	}
}

// Rekey makes the server start a Quick Mode for the current IKE SA now (as
// SoftEther does at the SA lifetime + 1 s). It returns once the server has
// sent message 1 (Stats.QuickModes has grown), or found no IKE SA to do it
// on or one already under way, or was closed.
func (s *Server) Rekey() {
	done := make(chan struct{})
	select {
	case s.rekeyReq <- done:
		select {
		case <-done:
		case <-s.done:
		}
	case <-s.done:
	}
}

// Hangup makes the server end the current session the way a server that
// shuts down does: LCP Terminate-Request, CDN and StopCCN, Deletes for the
// IPsec SAs and the IKE SA, all at once and sent once; then it forgets the
// session.
func (s *Server) Hangup() {
	done := s.busy("the server's loop, with a hang-up")
	select {
	case s.hangupReq <- done:
	default:
		done() // one is pending already
	}
}

// request is a test's request to the loop (SendPPP, SendIPv4) and its
// busy release (Profile.Busy), which the loop calls once it is done.
type request struct {
	data []byte
	done func()
}

// SendPPP sends frame, a whole PPP frame of the server's making (an
// IPv6CP Terminate-Request, say), in the current session, outside the
// server's own PPP state machine. It returns once the loop has taken it.
func (s *Server) SendPPP(frame []byte) {
	r := request{frame, s.busy("the server's loop, with a PPP frame to send")}
	select {
	case s.frameReq <- r:
	case <-s.done:
		r.done()
	}
}

// SendIPv4 sends the IPv4 packet pkt (not kept) to the client over PPP,
// if IPCP is open; it blocks while the server's queue is full, and drops
// the packet once the server is closed.
func (s *Server) SendIPv4(pkt []byte) {
	r := request{append([]byte(nil), pkt...), s.busy("the server's loop, with an IPv4 packet to send")}
	select {
	case s.ipv4Out <- r:
	case <-s.done:
		r.done()
	}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Events returns what happened, one line per step, in order, each after
// the time on the server's clock.
func (s *Server) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// Wait blocks until cond(Stats) holds or timeout passes, and returns the
// last snapshot and whether cond held. cond is re-evaluated on every
// change, never by polling.
func (s *Server) Wait(timeout time.Duration, cond func(Stats) bool) (Stats, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		st, ch := s.stats, s.changed
		s.mu.Unlock()
		if cond(st) {
			return st, true
		}
		select {
		case <-ch:
		case <-t.C:
			st := s.Stats()
			return st, cond(st)
		}
	}
}

// update changes the stats under the lock, optionally logs an event, and
// wakes Wait.
func (s *Server) update(f func(*Stats), format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f != nil {
		f(&s.stats)
	}
	if format != "" {
		s.events = append(s.events, s.p.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) count(f func(*Stats)) { s.update(f, "") }

// ---------------------------------------------------------------------------
// Goroutines.

// read hands every datagram on c to the loop, marked as kind is (the NAT-T
// port, the plain-ESP socket), until c is closed. Any read error ends it
// (nettest sockets only fail when closed).
func (s *Server) read(c Conn, kind datagram) {
	defer s.wg.Done()
	buf := make([]byte, 1<<16)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		d := kind
		d.data, d.from = append([]byte(nil), buf[:n]...), unmap(from)
		d.done = s.busy("the server's loop, with a datagram from " + d.from.String())
		select {
		case s.in <- d:
		case <-s.done:
			d.done()
			return
		}
	}
}

func (s *Server) loop() {
	defer s.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case d := <-s.in:
			s.handle(s.p.Now(), d)
			d.done()
		case done := <-s.rekeyReq:
			if s.sess != nil {
				s.rekey(s.p.Now())
			}
			close(done)
		case done := <-s.hangupReq:
			s.hangup(s.p.Now())
			done()
		case f := <-s.frameReq:
			if s.sess != nil {
				s.sendPPP(f.data)
			}
			f.done()
		case pkt := <-s.ipv4Out:
			if s.sess != nil && s.sess.pppUp {
				frame := make([]byte, ppp.HeaderLen+len(pkt.data))
				ppp.PutHeader(frame, ppp.ProtoIPv4)
				copy(frame[ppp.HeaderLen:], pkt.data)
				s.sendPPP(frame)
			}
			pkt.done()
		case <-t.C:
			s.tick(s.p.Now())
		}
	}
}

// rekey starts a server-initiated Quick Mode on the newest IKE SA.
func (s *Server) rekey(now time.Time) {
	ik := s.sess.newest()
	if ik == nil {
		return
	}
	acts := ik.r.Rekey(now)
	if len(acts) > 0 {
		ik.rekeying = true
		s.update(func(st *Stats) { st.QuickModes++ }, "isakmp: server starts a Quick Mode (re-key)")
	}
	s.doIKE(now, ik, acts)
}

func (s *Server) hangup(now time.Time) {
	ss := s.sess
	if ss == nil {
		return
	}
	s.update(nil, "server hangs up")
	if ss.ppp != nil {
		s.doPPP(now, ss.ppp.Close(now))
	}
	if ss.lns != nil {
		s.doL2TP(now, ss.lns.Close(now))
	}
	for _, ik := range ss.ikes {
		if s.sess == ss {
			s.doIKE(now, ik, ik.r.Close(now))
		}
	}
	s.endSession()
}

func due(d, now time.Time) bool { return !d.IsZero() && !now.Before(d) }

func (s *Server) tick(now time.Time) {
	ss := s.sess
	if ss == nil {
		return
	}
	for _, ik := range append([]*ikeSA(nil), ss.ikes...) {
		if due(ik.r.Deadline(), now) {
			s.doIKE(now, ik, ik.r.Tick(now))
		}
		if s.sess != ss {
			return // the last IKE SA failed and the session ended
		}
	}
	if ss.lns != nil && due(ss.lns.Deadline(), now) {
		s.doL2TP(now, ss.lns.Tick(now))
	}
	if ss.ppp != nil && due(ss.ppp.Deadline(), now) {
		s.doPPP(now, ss.ppp.Tick(now))
	}
	if due(ss.rekeyAt, now) {
		ss.rekeyAt = time.Time{}
		s.rekey(now)
		if s.sess != ss {
			return
		}
	}
	if s.p.NATKeepalive > 0 && ss.outSA != nil && due(ss.nextKA, now) {
		ss.nextKA = now.Add(s.p.NATKeepalive)
		s.nattConn.WriteToUDPAddrPort([]byte{inet.KeepaliveByte}, ss.client)
	}
}

// ---------------------------------------------------------------------------
// Receive path.

func (s *Server) handle(now time.Time, d datagram) {
	switch d.inner {
	case InnerL2TP:
		if s.sess != nil && d.from == s.sess.client {
			s.handleL2TPMessage(now, d.data)
		}
		return
	case InnerPPP:
		if s.sess != nil && d.from == s.sess.client && s.sess.sessUp {
			s.handleFrame(now, d.data)
		}
		return
	}
	if d.plain {
		if s.sess == nil || d.from.Addr() != s.sess.client.Addr() {
			s.count(func(st *Stats) { st.UnknownSPI++ })
			return
		}
		s.sess.plain = true
		s.count(func(st *Stats) { st.PlainESPIn++ })
		s.handleESP(now, d.data)
		return
	}
	if !d.natt {
		s.handleIKE(now, d.from, d.data, false)
		return
	}
	switch {
	case inet.IsKeepalive(d.data):
		s.count(func(st *Stats) { st.Keepalives++ })
	case inet.HasNonESPMarker(d.data):
		s.handleIKE(now, d.from, d.data[inet.NonESPMarkerLen:], true)
	default:
		if s.p.NoUDPESP {
			s.count(func(st *Stats) { st.UDPESPRefused++ })
			return
		}
		s.handleESP(now, d.data)
	}
}

func (s *Server) handleIKE(now time.Time, from netip.AddrPort, msg []byte, natt bool) {
	var h isakmp.Header
	if h.UnmarshalBinary(msg) != nil {
		return
	}
	var ik *ikeSA
	if s.sess != nil {
		for _, x := range s.sess.ikes {
			if x.ckyI == h.ICookie {
				ik = x
			}
		}
	}
	mm1 := (h.Exchange == isakmp.ExchangeMain || h.Exchange == isakmp.ExchangeAggressive && !s.p.NoAggressive) &&
		h.RCookie == [8]byte{} && h.Flags&isakmp.FlagEncryption == 0
	if ik == nil && mm1 {
		if s.sess == nil || s.sess.client != from {
			s.newSession(from)
		}
		ik = s.newIKESA(from, h.ICookie)
	}
	if ik == nil {
		return
	}
	before := ik.r.MM5Rejections()
	acts := ik.r.HandleFrom(now, msg, natt)
	if n := ik.r.MM5Rejections() - before; n > 0 {
		s.update(func(st *Stats) { st.MM5Rejections += n }, "isakmp: MM5 with a HASH_I that does not verify (wrong PSK?)")
	}
	s.doIKE(now, ik, acts)
}

// newSession forgets the current session (without telling anyone, as a
// server that lost its state would) and starts an empty one for client.
func (s *Server) newSession(client netip.AddrPort) {
	s.endSession()
	if s.p.Data != nil && s.p.Data.Client != nil {
		s.p.Data.Client(client)
	}
	s.sess = &session{
		client:    client,
		inSAs:     make(map[uint32]*esp.SA),
		innerPort: inet.PortL2TP,
	}
}

// newIKESA adds a responder for a Main Mode with initiator cookie ckyI to
// the session.
func (s *Server) newIKESA(client netip.AddrPort, ckyI [8]byte) *ikeSA {
	local := s.ikeAddr
	idAddr := s.ikeAddr.Addr()
	if s.p.Wildcard {
		local = netip.AddrPortFrom(netip.IPv4Unspecified(), s.ikeAddr.Port())
		idAddr = netip.IPv4Unspecified()
	}
	remote := client
	if s.p.ForceNAT {
		remote = netip.AddrPort{}
	}
	ik := &ikeSA{
		ckyI: ckyI,
		r: isakmp.NewResponder(isakmp.ResponderConfig{
			PSK:           s.p.PSK,
			Rand:          s.p.Rand,
			Local:         local,
			Remote:        remote,
			Proposals:     s.p.Proposals,
			ESP:           s.p.ESP,
			PFS:           s.p.PFS,
			ServerOrder:   s.p.ServerOrder,
			SilentRefusal: s.p.SilentRefusal,
			CookieRefusal: s.p.CookieRefusal,
			ForceNAT:      s.p.ForceNAT,
			ESPModes:      s.p.ESPModes,
			IDAddr:        idAddr,
			RekeyAfter:    s.p.RekeyAfter,
			SendDPD:       s.p.SendDPD,
			OnBadPSK:      s.p.OnBadPSK,

			ID:            s.p.ID,
			Cert:          s.p.Cert,
			CertOnRequest: s.p.CertOnRequest,
			NoAggressive:  s.p.NoAggressive,
		}),
	}
	reauth := len(s.sess.ikes) > 0
	s.sess.ikes = append(s.sess.ikes, ik)
	s.update(func(st *Stats) {
		st.MM1s++
		if reauth {
			st.Reauths++
		}
	}, "isakmp: Main Mode from %v (re-authentication: %v)", client, reauth)
	return ik
}

func (s *Server) handleESP(now time.Time, pkt []byte) {
	ss := s.sess
	spi, ok := esp.PeekSPI(pkt)
	var sa *esp.SA
	if ok && ss != nil {
		sa = ss.inSAs[spi]
	}
	if sa == nil {
		s.count(func(st *Stats) { st.UnknownSPI++ })
		return
	}
	inner, nh, err := sa.Open(pkt)
	if err == nil && ss.tunnel {
		// Tunnel mode: an inner IPv4 header to us, then UDP.
		src, dst, udp, ok := inet.ParseTunnelIPv4(inner)
		if nh != esp.NextHeaderIPv4 || !ok || dst != s.ikeAddr.Addr() {
			s.count(func(st *Stats) { st.ESPErrors++ })
			return
		}
		ss.innerSrc, inner, nh = src, udp, esp.NextHeaderUDP
		s.count(func(st *Stats) { st.TunnelModeIn++ })
	}
	if err != nil || nh != esp.NextHeaderUDP {
		s.count(func(st *Stats) { st.ESPErrors++ })
		return
	}
	src, _, msg, ok := inet.ParseUDP(inner)
	if !ok {
		s.count(func(st *Stats) { st.ESPErrors++ })
		return
	}
	if _, _, err := l2tp.ParseHeader(msg); err != nil {
		s.count(func(st *Stats) { st.ESPErrors++ })
		return
	}
	old := spi != ss.outPair
	s.count(func(st *Stats) {
		st.ESPIn++
		if old {
			st.ESPInOld++
		}
	})
	ss.innerPort = src
	s.handleL2TPMessage(now, msg)
}

// handleL2TPMessage handles the L2TP message msg
// (header included) of the current session: control messages go to the
// LNS, data to PPP.
func (s *Server) handleL2TPMessage(now time.Time, msg []byte) {
	ss := s.sess
	h, frame, err := l2tp.ParseHeader(msg)
	if err != nil {
		s.count(func(st *Stats) { st.ESPErrors++ })
		return
	}
	if h.Control {
		s.handleL2TP(now, msg)
		return
	}
	if !ss.sessUp || h.TunnelID != ss.l2tpUp.LocalTunnel || h.SessionID != ss.l2tpUp.LocalSession {
		s.count(func(st *Stats) { st.WrongSession++ })
		return
	}
	s.handleFrame(now, frame)
}

// handleL2TP hands the L2TP control message msg (header included) of the
// current session to the LNS, which it creates on the first one.
func (s *Server) handleL2TP(now time.Time, msg []byte) {
	ss := s.sess
	if ss.lns == nil {
		ss.lns = l2tp.NewLNS(l2tp.LNSConfig{
			HostName:      s.p.HostName,
			VendorName:    s.p.VendorName,
			Rand:          s.p.Rand,
			RecvWindow:    s.p.RecvWindow,
			HelloInterval: s.p.HelloInterval,
			Secret:        s.p.L2TPSecret,
			PlainAVPs:     s.p.L2TPPlainAVPs,
			ExtraAVPs:     s.p.VendorAVPs,
		})
	}
	s.doL2TP(now, ss.lns.Handle(now, msg))
}

// handleFrame handles the PPP frame of the current session's L2TP call.
func (s *Server) handleFrame(now time.Time, frame []byte) {
	ss := s.sess
	proto, info, ok := ppp.ParseFrame(frame)
	if !ok {
		s.count(func(st *Stats) { st.ESPErrors++ })
		return
	}
	if proto == ppp.ProtoIPv4 {
		s.handleIPv4(info)
		return
	}
	if proto == ppp.ProtoIPv6 && s.p.IPv6 {
		s.handleIPv6(info)
		return
	}
	// LCP Protocol-Reject (code 8) of IPv6CP. Ref: RFC 1661 §5.7.
	if proto == ppp.ProtoLCP && len(info) >= 6 && info[0] == 8 && uint16(info[4])<<8|uint16(info[5]) == ppp.ProtoIPV6CP {
		s.update(func(st *Stats) { st.ProtoRejects++ }, "ppp: the client Protocol-Rejected IPv6CP")
	}
	if proto == ppp.ProtoIPCP && s.ipcpLost() {
		return
	}
	if ss.ppp != nil {
		s.doPPP(now, ss.ppp.Handle(now, frame))
	}
}

// ipcpLost reports whether IPCP is lost both ways in the current call
// (Profile.LoseIPCPCalls).
func (s *Server) ipcpLost() bool {
	st := s.Stats()
	return st.SessionsUp <= s.p.LoseIPCPCalls
}

// handleIPv4 answers ICMP echo requests to the server's PPP address or its
// subnet once IPCP is open (SoftEther drops IP before that).
func (s *Server) handleIPv4(pkt []byte) {
	s.count(func(st *Stats) { st.IPv4In++ })
	ss := s.sess
	e, ok := inet.ParseICMPEcho(pkt)
	if (!ok || e.Type != inet.ICMPEchoRequest) && ss.pppUp && s.p.IPv4 != nil {
		s.p.IPv4(append([]byte(nil), pkt...))
		return
	}
	if !ok || e.Type != inet.ICMPEchoRequest || !ss.pppUp {
		return
	}
	if e.Dst != s.p.Local && !(s.p.Subnet.IsValid() && s.p.Subnet.Contains(e.Dst)) {
		return
	}
	reply := e.Reply()
	frame := make([]byte, ppp.HeaderLen+len(reply))
	ppp.PutHeader(frame, ppp.ProtoIPv4)
	copy(frame[ppp.HeaderLen:], reply)
	if s.sendPPP(frame) {
		s.count(func(st *Stats) { st.PingsAnswered++ })
	}
}

// handleIPv6 answers ICMPv6 echo requests to the server's link-local
// address once IPv6CP is open.
func (s *Server) handleIPv6(pkt []byte) {
	s.count(func(st *Stats) { st.IPv6In++ })
	ss := s.sess
	e, ok := inet.ParseICMPv6Echo(pkt)
	isPing := ok && e.Type == inet.ICMPv6EchoRequest && ss.local6.IsValid() && e.Dst == ss.local6
	if !isPing && ss.local6.IsValid() && s.p.IPv6Packets != nil {
		s.p.IPv6Packets(append([]byte(nil), pkt...))
		return
	}
	if !isPing {
		return
	}
	reply := inet.BuildICMPv6Echo(inet.ICMPv6EchoReply, e.Dst, e.Src, e.ID, e.Seq, e.Payload)
	frame := make([]byte, ppp.HeaderLen+len(reply))
	ppp.PutHeader(frame, ppp.ProtoIPv6)
	copy(frame[ppp.HeaderLen:], reply)
	if s.sendPPP(frame) {
		s.count(func(st *Stats) { st.Pings6Answered++ })
	}
}

// ---------------------------------------------------------------------------
// FSM actions.

// doIKE carries out the actions of ik, an IKE SA of the current session.
func (s *Server) doIKE(now time.Time, ik *ikeSA, acts []isakmp.Action) {
	ss := s.sess
	for _, a := range acts {
		switch a := a.(type) {
		case isakmp.Send:
			if a.NATT {
				b := make([]byte, inet.NonESPMarkerLen+len(a.Data))
				copy(b[inet.NonESPMarkerLen:], a.Data)
				s.nattConn.WriteToUDPAddrPort(b, ss.client)
			} else {
				s.ikeConn.WriteToUDPAddrPort(a.Data, ss.client)
			}
		case isakmp.Phase1Up:
			s.update(func(st *Stats) { st.Phase1Up++ }, "isakmp: phase 1 up (%v, client ID %s)", a.Proposal, a.PeerID)
		case isakmp.ChildSAInbound:
			// Sent with message 2 of a Quick Mode the client started.
			s.count(func(st *Stats) { st.QuickModes++ })
			if s.p.Data != nil {
				// The outside data path may read the client's first ESP
				// before this loop has taken message 3: it needs the
				// inbound SA now (installSA keeps the same one).
				c := a.SA
				in, err := esp.NewSA(c.InSPI, c.Transform, c.InEncKey, c.InAuthKey, s.p.Rand)
				if err != nil {
					s.update(nil, "esp: %v", err)
					break
				}
				ss.inSAs[c.InSPI] = in
				if s.p.Data.SAInbound != nil {
					s.p.Data.SAInbound(in)
				}
			}
		case isakmp.ChildSAUp:
			s.installSA(now, ik, a)
			if s.deletedNew < s.p.DeleteNewSAs {
				s.deletedNew++
				s.update(func(st *Stats) { st.NewSAsDeleted++ }, "isakmp: deleting the new IPsec SA in 0x%08x (DeleteNewSAs)", a.SA.InSPI)
				s.doIKE(now, ik, ik.r.DeleteSA(now, a.SA.InSPI))
			}
		case isakmp.ChildSAGone:
			delete(ss.inSAs, a.InSPI)
			current := a.InSPI == ss.outPair
			if s.p.Data != nil && s.p.Data.SAGone != nil {
				var out *esp.SA
				if current {
					out = ss.outSA
				}
				s.p.Data.SAGone(a.InSPI, out)
			}
			if current {
				ss.outSA, ss.outPair = nil, 0
			}
			s.update(func(st *Stats) {
				st.ChildSAsGone++
				if current {
					st.CurrentSAGone++
				}
			}, "isakmp: IPsec SA pair in 0x%08x out 0x%08x gone", a.InSPI, a.OutSPI)
		case isakmp.Fail:
			if errors.Is(a.Err, isakmp.ErrPeerDeleted) {
				s.update(func(st *Stats) { st.IKEDeletes++ }, "isakmp: client deleted the IKE SA")
			} else {
				s.update(func(st *Stats) { st.IKEFailures++ }, "isakmp: %v", a.Err)
			}
			ss.ikes = slices.DeleteFunc(ss.ikes, func(x *ikeSA) bool { return x == ik })
			if len(ss.ikes) == 0 {
				s.endSession() // the session is over; a new MM1 starts the next
				s.update(func(st *Stats) { st.SessionsEnded++ }, "session over")
			}
			return
		}
	}
}

func (s *Server) installSA(now time.Time, ik *ikeSA, a isakmp.ChildSAUp) {
	ss := s.sess
	c := a.SA
	in := ss.inSAs[c.InSPI] // installed ahead (ChildSAInbound, with Profile.Data)
	if in == nil {
		var err error
		if in, err = esp.NewSA(c.InSPI, c.Transform, c.InEncKey, c.InAuthKey, s.p.Rand); err != nil {
			s.update(nil, "esp: %v", err)
			return
		}
	}
	out, err := esp.NewSA(c.OutSPI, c.Transform, c.OutEncKey, c.OutAuthKey, s.p.Rand)
	if err != nil {
		s.update(nil, "esp: %v", err)
		return
	}
	ss.inSAs[c.InSPI] = in
	ss.outSA, ss.outPair = out, c.InSPI
	if s.p.Data != nil && s.p.Data.SAUp != nil {
		s.p.Data.SAUp(in, out)
	}
	ss.tunnel = isakmp.EncapIsTunnel(c.EncapMode)
	if ss.nextKA.IsZero() {
		ss.nextKA = now.Add(s.p.NATKeepalive)
	}
	byServer := a.Rekey && ik.rekeying
	ik.rekeying = false
	if s.p.RekeyPastLifetime > 0 && c.Lifetime > 0 {
		ss.rekeyAt = now.Add(c.Lifetime + s.p.RekeyPastLifetime)
	}
	s.update(func(st *Stats) {
		st.ChildSAs++
		if a.Rekey {
			st.Rekeys++
		}
		if byServer {
			st.ServerRekeys++
		}
	}, "isakmp: IPsec SA up (%v, in 0x%08x, out 0x%08x, lifetime %v, rekey %v)", c.Transform, c.InSPI, c.OutSPI, c.Lifetime, a.Rekey)
}

func (s *Server) doL2TP(now time.Time, acts []l2tp.Action) {
	ss := s.sess
	for _, a := range acts {
		switch a := a.(type) {
		case l2tp.Send:
			s.sendL2TP(a.Data)
		case l2tp.TunnelUp:
			s.update(func(st *Stats) { st.TunnelsUp++ }, "l2tp: tunnel up (ours %d, client's %d, host %q)", a.LocalTunnel, a.PeerTunnel, a.PeerHostName)
		case l2tp.SessionUp:
			ss.l2tpUp, ss.sessUp = a, true
			if s.p.Data != nil && s.p.Data.Session != nil {
				s.p.Data.Session(a.PeerTunnel, a.PeerSession, a.LocalTunnel, a.LocalSession)
			}
			ss.ppp = ppp.NewServer(ppp.ServerConfig{
				Auth:                 s.p.Auth,
				HonourNak:            s.p.HonourNak,
				Insist:               s.p.Insist,
				EAPMethods:           s.p.EAPMethods,
				SoftEtherEAP:         s.p.SoftEtherEAP,
				MSCHAPv2Success:      s.p.MSCHAPv2Success,
				Users:                s.p.Users,
				Name:                 s.p.AuthName,
				Local:                s.p.Local,
				Pool:                 s.p.Pool,
				DNS:                  s.p.DNS,
				RejectMagic:          s.p.RejectMagic,
				SendMagic:            s.p.SendMagic,
				MRU:                  s.p.MRU,
				PAPFailureTerminates: s.p.PAPFailureTerminates,
				OkOnce:               s.p.AuthOkOnce,
				Rand:                 s.p.Rand,
				EchoInterval:         s.p.EchoInterval,
				IPv6:                 s.p.IPv6,
				InterfaceID:          s.p.InterfaceID,
			})
			s.update(func(st *Stats) { st.SessionsUp++ }, "l2tp: session up (ours %d, client's %d)", a.LocalSession, a.PeerSession)
			if s.p.SendSLI {
				s.update(func(st *Stats) { st.SLIsSent++ }, "l2tp: Set-Link-Info sent")
				s.doL2TP(now, ss.lns.SetLinkInfo(now, 0xffffffff, 0xffffffff))
			}
			if s.p.SendWEN {
				s.update(func(st *Stats) { st.WENsSent++ }, "l2tp: WAN-Error-Notify sent")
				s.doL2TP(now, ss.lns.WANErrorNotify(now, [6]uint32{0, 1, 0, 0, 0, 0}))
			}
			if !s.p.PPPOnFirstData {
				s.doPPP(now, ss.ppp.Start(now))
			}
			if s.ikeDeleted < s.p.DeleteIKEOnSession {
				s.ikeDeleted++
				s.update(nil, "isakmp: deleting the IKE SA (DeleteIKEOnSession)")
				for _, ik := range ss.ikes {
					if s.sess == ss {
						s.doIKE(now, ik, ik.r.Close(now))
					}
				}
				s.endSession()
				return
			}
		case l2tp.Closed:
			var se *l2tp.StopError
			switch {
			case errors.As(a.Err, &se) && !se.Local && se.Tunnel:
				s.update(func(st *Stats) { st.StopCCNReceived++ }, "l2tp: StopCCN from the client: %v", a.Err)
			case errors.As(a.Err, &se) && !se.Local:
				s.update(func(st *Stats) { st.CDNReceived++ }, "l2tp: CDN from the client: %v", a.Err)
			default:
				s.update(func(st *Stats) { st.L2TPClosed++ }, "l2tp: closed: %v", a.Err)
			}
			// The call (and with StopCCN the tunnel) is gone, and PPP with
			// it. The LNS stays to acknowledge retransmissions.
			ss.sessUp = false
			ss.ppp, ss.pppUp = nil, false
			if s.p.Data != nil && s.p.Data.Session != nil {
				s.p.Data.Session(0, 0, 0, 0)
			}
		}
	}
}

func (s *Server) doPPP(now time.Time, acts []ppp.Action) {
	ss := s.sess
	for _, a := range acts {
		switch a := a.(type) {
		case ppp.Send:
			if proto, _, ok := ppp.ParseFrame(a.Data); ok && proto == ppp.ProtoIPCP && s.ipcpLost() {
				continue
			}
			if proto, info, ok := ppp.ParseFrame(a.Data); ok && proto == ppp.ProtoLCP && len(info) > 0 && info[0] == 1 &&
				s.Stats().SessionsUp <= s.p.LoseLCPRequestCalls {
				continue // Configure-Request. Ref: RFC 1661 §5.1
			}
			if proto, info, ok := ppp.ParseFrame(a.Data); ok && len(info) > 0 && s.p.LoseSuccessInCall > 0 &&
				s.Stats().SessionsUp == s.p.LoseSuccessInCall &&
				(proto == ppp.ProtoCHAP && info[0] == 3 || proto == ppp.ProtoPAP && info[0] == 2) {
				continue // CHAP Success, PAP Authenticate-Ack. Ref: RFC 1994 §4.3, RFC 1334 §2.2
			}
			s.sendPPP(a.Data)
		case ppp.LinkUp:
			s.update(func(st *Stats) { st.LinkUp++ }, "ppp: LCP opened (client MRU %d)", a.PeerMRU)
		case ppp.AuthUp:
			s.update(func(st *Stats) { st.AuthUp++; st.AuthMethod = a.Method }, "ppp: authenticated (%v)", a.Method)
		case ppp.Up:
			ss.pppUp, ss.local6 = true, a.Local6
			s.update(func(st *Stats) { st.PPPUp++ }, "ppp: IPCP opened (client %v, server %v, DNS %v)", a.Local, a.Peer, a.DNS)
			if a.Local6.IsValid() {
				s.update(nil, "ppp: IPv6CP opened (server %v, client %v)", a.Local6, a.Peer6)
			} else if s.p.IPv6 {
				s.update(nil, "ppp: IPv6 not up: %s", a.IPv6Off)
			}
			if s.p.SendIPv6CP {
				// IPv6CP Configure-Request, Interface-Identifier 02:00:5e:ff:fe:00:00:01.
				// Ref: RFC 5072 §4.1.
				s.sendPPP([]byte{0xff, 0x03, 0x80, 0x57, 1, 1, 0, 14, 1, 10, 2, 0, 0x5e, 0xff, 0xfe, 0, 0, 1})
			}
		case ppp.Down:
			ss.pppUp = false
			msg := ""
			if a.Err != nil {
				msg = a.Err.Error()
			}
			s.update(func(st *Stats) { st.PPPDown++; st.LastPPPError = msg }, "ppp: down: %v", a.Err)
		}
	}
}

// ---------------------------------------------------------------------------
// Send path.

// sendL2TP sends an L2TP message (header included) to the client: inner
// UDP 1701 → the client's inner port, ESP on the newest outbound SA.
func (s *Server) sendL2TP(msg []byte) bool {
	ss := s.sess
	sa := ss.outSA
	if sa == nil {
		return false
	}
	hr := sa.Headroom()
	ip, nh := 0, esp.NextHeaderUDP
	if ss.tunnel {
		ip, nh = inet.IPv4HeaderLen, esp.NextHeaderIPv4
	}
	buf := make([]byte, hr+ip+inet.UDPHeaderLen+len(msg)+sa.MaxTrailer())
	copy(buf[hr+ip+inet.UDPHeaderLen:], msg)
	inet.PutUDPHeader(buf[hr+ip:], inet.PortL2TP, ss.innerPort, len(msg))
	if ss.tunnel {
		dst := ss.innerSrc
		if !dst.IsValid() {
			dst = ss.client.Addr()
		}
		inet.PutTunnelIPv4(buf[hr:], s.ikeAddr.Addr(), dst, inet.UDPHeaderLen+len(msg))
	}
	pkt, err := sa.Seal(buf, hr, ip+inet.UDPHeaderLen+len(msg), nh)
	if err != nil {
		s.update(nil, "esp: seal: %v", err)
		return false
	}
	if ss.plain {
		if _, err := s.espConn.WriteToUDPAddrPort(pkt, netip.AddrPortFrom(ss.client.Addr(), ESPPort)); err != nil {
			return false
		}
	} else if _, err := s.nattConn.WriteToUDPAddrPort(pkt, ss.client); err != nil {
		return false
	}
	s.count(func(st *Stats) { st.ESPOut++ })
	return true
}

// sendPPP sends a PPP frame in an L2TP data message of the session.
func (s *Server) sendPPP(frame []byte) bool {
	ss := s.sess
	if !ss.sessUp {
		return false
	}
	var msg []byte
	if s.p.LengthBit {
		// Ref: RFC 2661 §3.1: T=0 L=1 Ver=2, Length, Tunnel ID, Session ID.
		const hdr = 8
		msg = make([]byte, hdr+len(frame))
		binary.BigEndian.PutUint16(msg[0:], 0x4002)
		binary.BigEndian.PutUint16(msg[2:], uint16(len(msg)))
		binary.BigEndian.PutUint16(msg[4:], ss.l2tpUp.PeerTunnel)
		binary.BigEndian.PutUint16(msg[6:], ss.l2tpUp.PeerSession)
		copy(msg[hdr:], frame)
	} else {
		msg = make([]byte, l2tp.DataHeaderLen+len(frame))
		l2tp.PutDataHeader(msg, ss.l2tpUp.PeerTunnel, ss.l2tpUp.PeerSession)
		copy(msg[l2tp.DataHeaderLen:], frame)
	}
	return s.sendL2TP(msg)
}

func addrPortOf(c Conn) netip.AddrPort {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		return unmap(a.AddrPort())
	}
	ap, _ := netip.ParseAddrPort(c.LocalAddr().String())
	return unmap(ap)
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
