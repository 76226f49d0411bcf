package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// NetstackConfig selects netstack mode (Config.Netstack): no TUN device,
// the tunnel reached through local front ends instead.
type NetstackConfig struct {
	// SOCKS5 is the SOCKS5 server's listen address ("127.0.0.1:1080");
	// "": none.
	SOCKS5 string
	// SOCKS5User and SOCKS5Password, when the user is set, are the
	// credentials SOCKS5 clients must give (RFC 1929); otherwise no
	// authentication. The password is never logged.
	SOCKS5User     string
	SOCKS5Password []byte
	// HTTPProxy is the HTTP proxy's listen address; "": none.
	HTTPProxy string
	// Forwards are ssh -L style port forwards.
	Forwards []Forward
}

// ErrListen is wrapped by Run's error when a front end of netstack mode
// cannot listen on its address (in use, or not the machine's).
var ErrListen = errors.New("cannot listen")

// DefaultSOCKS5 is the SOCKS5 address when netstack mode has no other
// front end.
const DefaultSOCKS5 = "127.0.0.1:1080"

// Forward is one port forward: connections (TCP) or datagrams (UDP) to
// Local on the host go to Remote inside the tunnel.
type Forward struct {
	Network string // "tcp" or "udp"
	Local   string // host:port to listen on
	Remote  string // host:port inside the tunnel; a host name is resolved with the tunnel's DNS
}

func (f Forward) String() string { return f.Network + ":" + f.Local + ":" + f.Remote }

// ParseForward parses [tcp|udp:]LOCAL:REMOTE, LOCAL being [HOST:]PORT
// (HOST defaults to 127.0.0.1) and REMOTE HOST:PORT. IPv6 hosts go in
// brackets.
func ParseForward(s string) (Forward, error) {
	f := Forward{Network: "tcp"}
	rest := s
	for _, n := range []string{"tcp:", "udp:"} {
		if strings.HasPrefix(rest, n) {
			f.Network, rest = n[:3], rest[4:]
		}
	}
	parts := splitHostPorts(rest)
	switch len(parts) {
	case 3: // PORT:HOST:PORT
		f.Local, f.Remote = net.JoinHostPort("127.0.0.1", parts[0]), net.JoinHostPort(unbracket(parts[1]), parts[2])
	case 4: // HOST:PORT:HOST:PORT
		f.Local, f.Remote = net.JoinHostPort(unbracket(parts[0]), parts[1]), net.JoinHostPort(unbracket(parts[2]), parts[3])
	default:
		return Forward{}, fmt.Errorf("%w: forward %q: want [tcp|udp:][LOCALHOST:]PORT:HOST:PORT", ErrConfig, s)
	}
	for _, hp := range []string{f.Local, f.Remote} {
		h, p, err := net.SplitHostPort(hp)
		if err != nil || h == "" || !validPort(p) {
			return Forward{}, fmt.Errorf("%w: forward %q: bad address %q", ErrConfig, s, hp)
		}
	}
	return f, nil
}

// splitHostPorts splits on colons outside brackets.
func splitHostPorts(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func unbracket(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// Validate checks the listen addresses and the SOCKS5 credentials.
func (c NetstackConfig) Validate() error {
	for _, a := range []struct{ name, addr string }{{"socks5", c.SOCKS5}, {"http-proxy", c.HTTPProxy}} {
		if a.addr == "" {
			continue
		}
		if _, err := netip.ParseAddrPort(a.addr); err != nil {
			if h, p, err := net.SplitHostPort(a.addr); err != nil || h == "" || !validPort(p) {
				return fmt.Errorf("%w: %s address %q: want HOST:PORT", ErrConfig, a.name, a.addr)
			}
		}
	}
	if c.SOCKS5User != "" && c.SOCKS5 == "" {
		return fmt.Errorf("%w: a SOCKS5 user without a SOCKS5 server", ErrConfig)
	}
	if len(c.SOCKS5User) > 255 || len(c.SOCKS5Password) > 255 {
		return fmt.Errorf("%w: SOCKS5 user and password are at most 255 bytes (RFC 1929)", ErrConfig)
	}
	for _, f := range c.Forwards {
		if f.Network != "tcp" && f.Network != "udp" {
			return fmt.Errorf("%w: forward %v: network must be tcp or udp", ErrConfig, f)
		}
	}
	return nil
}

// frontEnds are the listeners of netstack mode and the connections they
// carry. close stops them all and waits for their goroutines.
type frontEnds struct {
	n   *netstack
	log *Logger

	ctx    context.Context // cancelled by close: ends dials in progress
	cancel context.CancelFunc

	socks5Addr, httpAddr string // where they listen ("" none)

	mu      sync.Mutex
	closers map[io.Closer]struct{} // listeners and open connections; caller must hold mu
	done    bool                   // close has run; caller must hold mu
	wg      sync.WaitGroup
}

func startFrontEnds(n *netstack, cfg NetstackConfig, log *Logger) (*frontEnds, error) {
	fe := &frontEnds{n: n, log: log, closers: map[io.Closer]struct{}{}}
	fe.ctx, fe.cancel = context.WithCancel(context.Background())
	fail := func(err error) (*frontEnds, error) {
		fe.close()
		return nil, err
	}
	if cfg.SOCKS5 != "" {
		ln, err := net.Listen("tcp", cfg.SOCKS5)
		if err != nil {
			return fail(fmt.Errorf("socks5: %w: %w", ErrListen, err))
		}
		fe.socks5Addr = ln.Addr().String()
		if cfg.SOCKS5User == "" {
			warnOpen(log, "socks5", ln.Addr())
		}
		s := &socks5Server{n: n, fe: fe, user: cfg.SOCKS5User, password: cfg.SOCKS5Password}
		fe.serve(ln, s.serveConn)
		log.infof("socks5: listening on %s", fe.socks5Addr)
	}
	if cfg.HTTPProxy != "" {
		ln, err := net.Listen("tcp", cfg.HTTPProxy)
		if err != nil {
			return fail(fmt.Errorf("http-proxy: %w: %w", ErrListen, err))
		}
		fe.httpAddr = ln.Addr().String()
		warnOpen(log, "http-proxy", ln.Addr())
		fe.serveHTTP(ln)
		log.infof("http-proxy: listening on %s", fe.httpAddr)
	}
	for _, f := range cfg.Forwards {
		if f.Network == "udp" {
			pc, err := net.ListenPacket("udp", f.Local)
			if err != nil {
				return fail(fmt.Errorf("forward %v: %w: %w", f, ErrListen, err))
			}
			fe.forwardUDP(pc, f.Remote)
		} else {
			ln, err := net.Listen("tcp", f.Local)
			if err != nil {
				return fail(fmt.Errorf("forward %v: %w: %w", f, ErrListen, err))
			}
			remote := f.Remote
			fe.serve(ln, func(c net.Conn) { fe.forwardTCP(c, remote) })
		}
		log.infof("forward: %v", f)
	}
	return fe, nil
}

// warnOpen warns about a proxy without authentication that listens beyond
// the loopback interface: whoever reaches it uses the tunnel.
func warnOpen(log *Logger, name string, a net.Addr) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.AddrPort().Addr().Unmap().IsLoopback() {
		return
	}
	log.errorf("%s: listening on %v without authentication: anyone who can reach it can use the tunnel", name, a)
}

// track registers c to be closed by close; false: close has run (c is
// closed here).
func (fe *frontEnds) track(c io.Closer) bool {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if fe.done {
		c.Close()
		return false
	}
	fe.closers[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (fe *frontEnds) untrack(c io.Closer) {
	fe.mu.Lock()
	delete(fe.closers, c)
	fe.mu.Unlock()
	c.Close()
}

// go runs f as a goroutine close waits for.
func (fe *frontEnds) goTracked(f func()) {
	fe.wg.Add(1)
	go func() {
		defer fe.wg.Done()
		f()
	}()
}

// serve accepts connections on ln until close and runs handle for each
// one in its own goroutine; handle's connection is closed after it.
func (fe *frontEnds) serve(ln net.Listener, handle func(net.Conn)) {
	fe.track(ln)
	fe.goTracked(func() {
		var backoff readBackoff
		for {
			c, err := ln.Accept()
			if err != nil {
				if isClosed(err) || backoff.n >= maxTUNErrors {
					return
				}
				backoff.wait() // EMFILE and the like
				continue
			}
			backoff.reset()
			if !fe.track(c) {
				return
			}
			fe.goTracked(func() {
				defer fe.untrack(c)
				handle(c)
			})
		}
	})
}

// close closes the listeners and every connection, then waits for the
// goroutines. It is idempotent.
func (fe *frontEnds) close() {
	fe.cancel()
	fe.mu.Lock()
	fe.done = true
	for c := range fe.closers {
		c.Close()
	}
	clear(fe.closers)
	fe.mu.Unlock()
	fe.wg.Wait()
}

// splice copies both ways between a (the local client) and b (inside the
// tunnel) until both directions end, passing half-closes on; it closes b.
func (fe *frontEnds) splice(a, b net.Conn) {
	if !fe.track(b) {
		return
	}
	defer fe.untrack(b)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyHalf(b, a)
	}()
	copyHalf(a, b)
	wg.Wait()
}

// copyHalf copies src to dst, then closes dst's write side (or all of dst
// if it cannot half-close) and src's read side.
func copyHalf(dst, src net.Conn) {
	bp := spliceBufs.Get().(*[spliceBuf]byte)
	_, err := io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, bp[:])
	spliceBufs.Put(bp)
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := dst.(closeWriter); ok && err == nil {
		cw.CloseWrite()
	} else {
		dst.Close()
		src.Close()
	}
}

// spliceBuf is the copy buffer of one direction of a spliced connection,
// pooled: 100 connections do not hold 100 idle buffers each.
const spliceBuf = 32 << 10

var spliceBufs = sync.Pool{New: func() any { return new([spliceBuf]byte) }}

// onlyWriter and onlyReader hide ReadFrom/WriteTo so io.CopyBuffer uses
// the pooled buffer.
type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

// forwardTCP connects c to remote inside the tunnel.
func (fe *frontEnds) forwardTCP(c net.Conn, remote string) {
	ctx, cancel := fe.dialContext()
	up, err := fe.n.dial(ctx, "tcp", remote)
	cancel()
	if err != nil {
		fe.log.debugf("forward: %v → %s: %v", c.RemoteAddr(), remote, err)
		return
	}
	fe.splice(c, up)
}

// dialContext is the context of one dial: dialTimeout, or until close.
func (fe *frontEnds) dialContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(fe.ctx, dialTimeout)
}

// dialTimeout bounds a front end's connection attempt inside the tunnel
// (name resolution included).
const dialTimeout = 30 * time.Second

// udpIdle is how long a UDP forward or association keeps a client's
// tunnel socket without traffic.
const udpIdle = 2 * time.Minute

// forwardUDP relays datagrams from local clients on pc to remote: one
// tunnel socket per client address, closed after udpIdle.
func (fe *frontEnds) forwardUDP(pc net.PacketConn, remote string) {
	fe.track(pc)
	fe.goTracked(func() {
		type session struct{ up net.Conn }
		var mu sync.Mutex
		sessions := map[string]*session{}
		buf := make([]byte, maxPacket)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				if isClosed(err) {
					return
				}
				continue
			}
			key := from.String()
			mu.Lock()
			s := sessions[key]
			mu.Unlock()
			if s == nil {
				ctx, cancel := fe.dialContext()
				up, err := fe.n.dial(ctx, "udp", remote)
				cancel()
				if err != nil {
					fe.log.debugf("forward: udp %v → %s: %v", from, remote, err)
					continue
				}
				if !fe.track(up) {
					return
				}
				s = &session{up: up}
				mu.Lock()
				sessions[key] = s
				mu.Unlock()
				fe.goTracked(func() {
					defer func() {
						mu.Lock()
						delete(sessions, key)
						mu.Unlock()
						fe.untrack(up)
					}()
					rb := make([]byte, maxPacket)
					for {
						up.SetReadDeadline(time.Now().Add(udpIdle))
						n, err := up.Read(rb)
						if err != nil {
							return
						}
						if _, err := pc.WriteTo(rb[:n], from); err != nil && errors.Is(err, net.ErrClosed) {
							return
						}
					}
				})
			}
			s.up.Write(buf[:n])
		}
	})
}
