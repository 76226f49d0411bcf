package tunnel

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// A SOCKS5 server (RFC 1928) whose connections go through the tunnel:
// CONNECT and UDP ASSOCIATE, no authentication or username/password
// (RFC 1929). Host names in requests are resolved with the tunnel's DNS
// servers (what clients call socks5h).

// SOCKS5 constants. Ref: RFC 1928 §3-§6, RFC 1929 §2.
const (
	socksVersion = 5

	socksAuthNone     = 0x00
	socksAuthPassword = 0x02
	socksNoAcceptable = 0xFF // NO ACCEPTABLE METHODS

	socksPasswordVersion = 1

	socksCmdConnect      = 1
	socksCmdBind         = 2
	socksCmdUDPAssociate = 3

	socksAtypIPv4   = 1
	socksAtypDomain = 3
	socksAtypIPv6   = 4

	socksSucceeded           = 0x00
	socksGeneralFailure      = 0x01
	socksNotAllowed          = 0x02
	socksNetworkUnreachable  = 0x03
	socksHostUnreachable     = 0x04
	socksConnectionRefused   = 0x05
	socksTTLExpired          = 0x06
	socksCommandNotSupported = 0x07
	socksAddrNotSupported    = 0x08
)

// socksHandshakeTimeout bounds the greeting, authentication and request.
const socksHandshakeTimeout = 30 * time.Second

var (
	errSocksVersion = errors.New("socks5: not SOCKS version 5")
	errSocksAddr    = errors.New("socks5: bad address")
	errSocksAtyp    = errors.New("socks5: unknown address type")
)

// socksAddr is a SOCKS5 address: an IP or a host name, and a port.
type socksAddr struct {
	IP   netip.Addr
	Host string // when IP is not valid
	Port uint16
}

func (a socksAddr) String() string {
	if a.IP.IsValid() {
		return netip.AddrPortFrom(a.IP, a.Port).String()
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(int(a.Port)))
}

// appendSocksAddr appends ATYP, DST.ADDR and DST.PORT.
// Ref: RFC 1928 §4, §5.
func appendSocksAddr(b []byte, a socksAddr) []byte {
	switch {
	case a.IP.Is4():
		v := a.IP.As4()
		b = append(append(b, socksAtypIPv4), v[:]...)
	case a.IP.IsValid():
		v := a.IP.As16()
		b = append(append(b, socksAtypIPv6), v[:]...)
	default:
		b = append(append(b, socksAtypDomain, byte(len(a.Host))), a.Host...)
	}
	return binary.BigEndian.AppendUint16(b, a.Port)
}

// parseSocksAddr parses ATYP, DST.ADDR and DST.PORT at the start of b.
func parseSocksAddr(b []byte) (a socksAddr, rest []byte, err error) {
	if len(b) < 1 {
		return a, nil, errSocksAddr
	}
	atyp, b := b[0], b[1:]
	switch atyp {
	case socksAtypIPv4:
		if len(b) < 4+2 {
			return a, nil, errSocksAddr
		}
		a.IP, b = netip.AddrFrom4([4]byte(b[:4])), b[4:]
	case socksAtypIPv6:
		if len(b) < 16+2 {
			return a, nil, errSocksAddr
		}
		a.IP, b = netip.AddrFrom16([16]byte(b[:16])), b[16:]
	case socksAtypDomain:
		if len(b) < 1 || int(b[0]) == 0 || len(b) < 1+int(b[0])+2 {
			return a, nil, errSocksAddr
		}
		a.Host, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
	default:
		return a, nil, errSocksAtyp
	}
	a.Port, b = binary.BigEndian.Uint16(b), b[2:]
	return a, b, nil
}

// readSocksAddr reads ATYP, DST.ADDR and DST.PORT from r.
func readSocksAddr(r io.Reader) (socksAddr, error) {
	var b [1 + 1 + 255 + 2]byte
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return socksAddr{}, err
	}
	var n int // bytes after ATYP
	switch b[0] {
	case socksAtypIPv4:
		n = 4 + 2
	case socksAtypIPv6:
		n = 16 + 2
	case socksAtypDomain:
		if _, err := io.ReadFull(r, b[1:2]); err != nil {
			return socksAddr{}, err
		}
		n = 1 + int(b[1]) + 2
		if _, err := io.ReadFull(r, b[2:1+n]); err != nil {
			return socksAddr{}, err
		}
		a, _, err := parseSocksAddr(b[:1+n])
		return a, err
	default:
		return socksAddr{}, errSocksAtyp
	}
	if _, err := io.ReadFull(r, b[1:1+n]); err != nil {
		return socksAddr{}, err
	}
	a, _, err := parseSocksAddr(b[:1+n])
	return a, err
}

// parseSocksUDP parses a UDP ASSOCIATE datagram's header: RSV(2) FRAG(1)
// then the address; it returns the destination and the data.
// Ref: RFC 1928 §7.
func parseSocksUDP(b []byte) (socksAddr, []byte, error) {
	if len(b) < 3 || b[0] != 0 || b[1] != 0 {
		return socksAddr{}, nil, errSocksAddr
	}
	if b[2] != 0 {
		return socksAddr{}, nil, errors.New("socks5: fragmented UDP datagram") // not supported: dropped (§7)
	}
	return parseSocksAddr(b[3:])
}

// appendSocksUDP appends a UDP ASSOCIATE header for a datagram from a.
func appendSocksUDP(b []byte, a socksAddr) []byte {
	return appendSocksAddr(append(b, 0, 0, 0), a)
}

// socks5Server serves one listener.
type socks5Server struct {
	n        *netstack
	fe       *frontEnds
	user     string
	password []byte
}

// serveConn handles one client connection (closed by the caller).
func (s *socks5Server) serveConn(c net.Conn) {
	c.SetDeadline(time.Now().Add(socksHandshakeTimeout))
	r := bufio.NewReaderSize(c, 512)
	req, err := s.handshake(c, r)
	if err != nil {
		s.fe.log.debugf("socks5: %v: %v", c.RemoteAddr(), err)
		return
	}
	switch req.cmd {
	case socksCmdConnect:
		s.connect(c, req.addr)
	case socksCmdUDPAssociate:
		s.associate(c, r)
	}
}

type socksRequest struct {
	cmd  byte
	addr socksAddr
}

// handshake reads the greeting and the request (answering the method
// choice and the authentication); a request it will not serve gets its
// reply here, with an error.
func (s *socks5Server) handshake(c net.Conn, r *bufio.Reader) (socksRequest, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return socksRequest{}, err
	}
	if hdr[0] != socksVersion {
		return socksRequest{}, errSocksVersion // no reply: it may not be a SOCKS client at all
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		return socksRequest{}, err
	}
	want := byte(socksAuthNone)
	if s.user != "" {
		want = socksAuthPassword
	}
	ok := false
	for _, m := range methods {
		ok = ok || m == want
	}
	if !ok {
		c.Write([]byte{socksVersion, socksNoAcceptable})
		return socksRequest{}, fmt.Errorf("socks5: no acceptable authentication method in %x", methods)
	}
	if _, err := c.Write([]byte{socksVersion, want}); err != nil {
		return socksRequest{}, err
	}
	if want == socksAuthPassword {
		if err := s.authenticate(c, r); err != nil {
			return socksRequest{}, err
		}
	}
	var req [3]byte
	if _, err := io.ReadFull(r, req[:]); err != nil {
		return socksRequest{}, err
	}
	if req[0] != socksVersion {
		return socksRequest{}, errSocksVersion
	}
	addr, err := readSocksAddr(r)
	if errors.Is(err, errSocksAtyp) || errors.Is(err, errSocksAddr) {
		writeSocksReply(c, socksAddrNotSupported, socksAddr{IP: netip.IPv4Unspecified()})
		return socksRequest{}, err
	}
	if err != nil {
		return socksRequest{}, err
	}
	switch req[1] {
	case socksCmdConnect, socksCmdUDPAssociate:
		return socksRequest{cmd: req[1], addr: addr}, nil
	}
	writeSocksReply(c, socksCommandNotSupported, socksAddr{IP: netip.IPv4Unspecified()})
	return socksRequest{}, fmt.Errorf("socks5: command %d not supported", req[1])
}

// authenticate runs the username/password subnegotiation. Ref: RFC 1929 §2.
func (s *socks5Server) authenticate(c net.Conn, r *bufio.Reader) error {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return err
	}
	if b[0] != socksPasswordVersion {
		c.Write([]byte{socksPasswordVersion, 1})
		return errors.New("socks5: bad username/password version")
	}
	user := make([]byte, b[1])
	if _, err := io.ReadFull(r, user); err != nil {
		return err
	}
	if _, err := io.ReadFull(r, b[:1]); err != nil {
		return err
	}
	pass := make([]byte, b[0])
	if _, err := io.ReadFull(r, pass); err != nil {
		return err
	}
	okUser := subtle.ConstantTimeCompare(user, []byte(s.user))
	okPass := subtle.ConstantTimeCompare(pass, s.password)
	clear(pass)
	if okUser&okPass != 1 {
		c.Write([]byte{socksPasswordVersion, 1})
		return fmt.Errorf("socks5: wrong username or password for user %q", user)
	}
	_, err := c.Write([]byte{socksPasswordVersion, 0})
	return err
}

// writeSocksReply sends VER REP RSV and BND. Ref: RFC 1928 §6.
func writeSocksReply(c net.Conn, rep byte, bnd socksAddr) error {
	b := appendSocksAddr([]byte{socksVersion, rep, 0}, bnd)
	_, err := c.Write(b)
	return err
}

// socksReplyFor maps a dial error to a reply code.
func socksReplyFor(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errLinkDown):
		return socksNetworkUnreachable
	case errors.Is(err, errNoDNS), errors.As(err, &dnsErr):
		return socksHostUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return socksTTLExpired
	case errors.Is(err, errRefused):
		return socksConnectionRefused
	case errors.Is(err, errUnreachable):
		return socksHostUnreachable
	case errors.Is(err, errTimedOut):
		return socksTTLExpired
	}
	return socksGeneralFailure
}

// connect serves CONNECT: dial, reply, splice.
func (s *socks5Server) connect(c net.Conn, to socksAddr) {
	ctx, cancel := s.fe.dialContext()
	up, err := s.n.dial(ctx, "tcp", to.String())
	cancel()
	if err != nil {
		writeSocksReply(c, socksReplyFor(err), socksAddr{IP: netip.IPv4Unspecified()})
		s.fe.log.debugf("socks5: %v: connect %v: %v", c.RemoteAddr(), to, err)
		return
	}
	bnd := socksAddr{IP: netip.IPv4Unspecified()}
	if ta, ok := up.LocalAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		bnd = socksAddr{IP: ap.Addr().Unmap(), Port: ap.Port()}
	}
	if err := writeSocksReply(c, socksSucceeded, bnd); err != nil {
		up.Close()
		return
	}
	c.SetDeadline(time.Time{})
	s.fe.splice(c, up)
}

// associate serves UDP ASSOCIATE: a local UDP socket on the address the
// client reached us at, relaying to and from one tunnel socket, for as
// long as the TCP connection c stays open. Ref: RFC 1928 §7.
func (s *socks5Server) associate(c net.Conn, r *bufio.Reader) {
	up, err := s.n.listenUDP()
	if err != nil {
		writeSocksReply(c, socksReplyFor(err), socksAddr{IP: netip.IPv4Unspecified()})
		return
	}
	if !s.fe.track(up) {
		return
	}
	defer s.fe.untrack(up)
	local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr()
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		writeSocksReply(c, socksGeneralFailure, socksAddr{IP: netip.IPv4Unspecified()})
		return
	}
	if !s.fe.track(pc) {
		return
	}
	defer s.fe.untrack(pc)
	bnd := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	if err := writeSocksReply(c, socksSucceeded, socksAddr{IP: bnd.Addr().Unmap(), Port: bnd.Port()}); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	clientIP := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
	var client netip.AddrPort // where answers go: the first datagram's source; owned by the client→tunnel goroutine until done
	clientSet := make(chan netip.AddrPort, 1)
	done := make(chan struct{})
	s.fe.goTracked(func() { // tunnel → client
		var to netip.AddrPort
		select {
		case to = <-clientSet:
		case <-done:
			return
		}
		// Datagrams land after room for the longest header (3 + a
		// 255-byte name + 4), which is then written in front of them.
		const room = 3 + 1 + 1 + 255 + 2
		buf := make([]byte, room+maxPacket)
		for {
			n, from, err := up.ReadFrom(buf[room:])
			if err != nil {
				return
			}
			ua, ok := from.(*net.UDPAddr)
			if !ok {
				continue
			}
			fa := ua.AddrPort()
			hdr := appendSocksUDP(make([]byte, 0, 32), socksAddr{IP: fa.Addr().Unmap(), Port: fa.Port()})
			start := room - len(hdr)
			copy(buf[start:], hdr)
			pc.WriteToUDPAddrPort(buf[start:room+n], to)
		}
	})
	s.fe.goTracked(func() { // client → tunnel
		buf := make([]byte, maxPacket)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if from.Addr().Unmap() != clientIP.Unmap() {
				continue // only the client that asked (§7)
			}
			if !client.IsValid() {
				client = from
				clientSet <- from
			} else if from != client {
				continue
			}
			dst, data, err := parseSocksUDP(buf[:n])
			if err != nil {
				continue
			}
			ctx, cancel := s.fe.dialContext()
			ap, err := s.resolve(ctx, dst)
			cancel()
			if err != nil {
				s.fe.log.debugf("socks5: udp to %v: %v", dst, err)
				continue
			}
			up.WriteTo(data, net.UDPAddrFromAddrPort(ap))
		}
	})
	// The association ends when the TCP connection does (§7): wait for EOF.
	io.Copy(io.Discard, r)
	close(done)
	// the deferred untracks close pc and up, ending both goroutines
}

func (s *socks5Server) resolve(ctx context.Context, a socksAddr) (netip.AddrPort, error) {
	if a.IP.IsValid() {
		return netip.AddrPortFrom(a.IP.Unmap(), a.Port), nil
	}
	l := s.n.link.Load()
	if l == nil {
		return netip.AddrPort{}, errLinkDown
	}
	ip, err := l.resolve(ctx, a.Host)
	return netip.AddrPortFrom(ip, a.Port), err
}
