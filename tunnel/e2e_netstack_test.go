package tunnel

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// The network behind the in-process server for netstack tests: a second
// gVisor stack on the server's PPP side with a web server and a DNS server.
var (
	nsDNS     = netip.MustParseAddr("192.168.30.1")   // the server's PPP address: answers DNS
	nsWeb     = netip.MustParseAddr("192.168.30.2")   // a web server on port 80
	nsWebName = "web.corp.example"                    // resolves to nsWeb through nsDNS
	nsBody    = "hello from behind the L2TP server\n" // what the web server answers on /
)

// nsBig is the size of /big.
const nsBig = 64 << 10

// peerNet is the server side's network.
type peerNet struct {
	s  *stack.Stack
	ep *channel.Endpoint
	wg sync.WaitGroup
}

// newPeerNet builds the server's network and puts it into p (Profile.IPv4);
// start connects its output to the server.
func newPeerNet(t *testing.T, p *peertest.Profile) *peerNet {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
	})
	ep := channel.New(1024, 1500, "")
	if err := s.CreateNIC(1, ep); err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{nsDNS, nsWeb} {
		pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddrFrom4(a.As4()).WithPrefix()}
		if err := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	pn := &peerNet{s: s, ep: ep}
	p.IPv4 = func(pkt []byte) {
		pb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(pkt)})
		ep.InjectInbound(ipv4.ProtocolNumber, pb)
		pb.DecRef()
	}
	p.DNS = []netip.Addr{nsDNS}

	web, err := gonet.ListenTCP(s, tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(nsWeb.As4()), Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, nsBody) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, nsBig))
	})
	hs := &http.Server{Handler: mux}
	pn.wg.Add(1)
	go func() { defer pn.wg.Done(); hs.Serve(web) }()

	dns, err := gonet.DialUDP(s, &tcpip.FullAddress{NIC: 1, Addr: tcpip.AddrFrom4(nsDNS.As4()), Port: 53}, nil, ipv4.ProtocolNumber)
	if err != nil {
		t.Fatal(err)
	}
	pn.wg.Add(1)
	go func() { defer pn.wg.Done(); serveDNS(dns) }()
	t.Cleanup(func() {
		hs.Close()
		dns.Close()
		s.Close()
		s.Wait()
		ep.Close()
		pn.wg.Wait()
	})
	return pn
}

// start forwards what the server's network sends to the server.
func (pn *peerNet) start(t *testing.T, srv *peertest.Server) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			pkt := pn.ep.ReadContext(ctx)
			if pkt == nil {
				return
			}
			b := pkt.ToView().AsSlice()
			srv.SendIPv4(b)
			pkt.DecRef()
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// serveDNS answers A queries for nsWebName with nsWeb and everything else
// with NXDOMAIN (RFC 1035 §4.1), until c is closed.
func serveDNS(c *gonet.UDPConn) {
	buf := make([]byte, 512)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		q := buf[:n]
		if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
			continue
		}
		// The question: labels, then QTYPE and QCLASS.
		i, name := 12, ""
		for i < len(q) && q[i] != 0 {
			l := int(q[i])
			if i+1+l > len(q) {
				break
			}
			name += string(q[i+1:i+1+l]) + "."
			i += 1 + l
		}
		if i+5 > len(q) {
			continue
		}
		qtype := binary.BigEndian.Uint16(q[i+1:])
		end := i + 5
		resp := append([]byte(nil), q[:end]...)
		resp[2] = 0x84 | resp[2]&0x01 // QR, AA, RD copied
		resp[3] = 0x80                // RA, NOERROR
		binary.BigEndian.PutUint16(resp[6:], 0)
		binary.BigEndian.PutUint16(resp[8:], 0)
		binary.BigEndian.PutUint16(resp[10:], 0)
		switch {
		case !strings.EqualFold(name, nsWebName+"."):
			resp[3] |= 3 // NXDOMAIN
		case qtype == 1: // A
			binary.BigEndian.PutUint16(resp[6:], 1)
			resp = append(resp, 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
			a := nsWeb.As4()
			resp = append(resp, a[:]...)
		}
		c.WriteTo(resp, from)
	}
}

// startNetstack connects in netstack mode with front ends on free ports
// and waits for the link; it returns the harness and the link.
func startNetstack(t *testing.T, nsc NetstackConfig, opts ...func(*Config)) (*harness, *peertest.Server, *LinkInfo) {
	t.Helper()
	p := peertest.SoftEther()
	pn := newPeerNet(t, &p)
	n, srv := startServer(t, p)
	pn.start(t, srv)
	cfg := e2eConfig(p)
	cfg.Routes = nil
	cfg.Netstack = &nsc
	for _, o := range opts {
		o(&cfg)
	}
	h := startRun(t, n, srv, cfg, nil)
	timer := time.NewTimer(connectTimeout)
	defer timer.Stop()
	for {
		h.mu.Lock()
		i := slices.IndexFunc(h.events, func(e Event) bool { return e.Kind == EventUp })
		var link *LinkInfo
		if i >= 0 {
			link = h.events[i].Link
		}
		ch := h.changed
		h.mu.Unlock()
		if link != nil {
			h.link = link
			return h, srv, link
		}
		select {
		case <-ch:
		case err := <-h.errc:
			h.errc <- err
			t.Fatalf("Run returned before the link came up: %v", err)
		case <-timer.C:
			t.Fatalf("not connected after %v", connectTimeout)
		}
	}
}

// freePort returns a loopback address with a port free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// socks5Dial is a SOCKS5 client (RFC 1928/1929): it connects to target
// (host:port, the host sent as a name unless it is an IP literal) through
// the server at proxy, and returns the connection or the reply code.
func socks5Dial(proxy, user, pass, target string) (net.Conn, byte, error) {
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fail := func(code byte, err error) (net.Conn, byte, error) {
		c.Close()
		return nil, code, err
	}
	method := byte(socksAuthNone)
	if user != "" {
		method = socksAuthPassword
	}
	if _, err := c.Write([]byte{5, 1, method}); err != nil {
		return fail(0, err)
	}
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return fail(0, err)
	}
	if b[1] != method {
		return fail(b[1], fmt.Errorf("method %#x", b[1]))
	}
	if user != "" {
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		c.Write(msg)
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return fail(0, err)
		}
		if b[1] != 0 {
			return fail(0xFF, errors.New("authentication failed"))
		}
	}
	host, port, _ := net.SplitHostPort(target)
	var pn uint16
	fmt.Sscan(port, &pn)
	a := socksAddr{Host: host, Port: pn}
	if ip, err := netip.ParseAddr(host); err == nil {
		a = socksAddr{IP: ip, Port: pn}
	}
	c.Write(appendSocksAddr([]byte{5, socksCmdConnect, 0}, a))
	var rep [3]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return fail(0, err)
	}
	if _, err := readSocksAddr(c); err != nil {
		return fail(0, err)
	}
	if rep[1] != socksSucceeded {
		return fail(rep[1], fmt.Errorf("reply %#x", rep[1]))
	}
	c.SetDeadline(time.Time{})
	return c, 0, nil
}

// httpGet fetches http://host/path over c (HTTP/1.0, so the server closes).
func httpGet(c net.Conn, host, path string) (string, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return string(b), fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

func TestE2ENetstackFrontEnds(t *testing.T) {
	goroutineLeakCheck(t)
	fwd := freePort(t)
	h, srv, link := startNetstack(t, NetstackConfig{
		SOCKS5:    "127.0.0.1:0",
		HTTPProxy: "127.0.0.1:0",
		Forwards:  []Forward{{Network: "tcp", Local: fwd, Remote: nsWebName + ":80"}},
	})
	if link.Interface != "netstack" || link.SOCKS5 == "" || link.HTTPProxy == "" || link.DNSSetup != "netstack" {
		t.Errorf("link = %+v, want interface netstack with both proxies", link)
	}

	t.Run("socks5h", func(t *testing.T) {
		c, code, err := socks5Dial(link.SOCKS5, "", "", nsWebName+":80")
		if err != nil {
			t.Fatalf("CONNECT %s: %v (reply %#x)", nsWebName, err, code)
		}
		if body, err := httpGet(c, nsWebName, "/"); err != nil || body != nsBody {
			t.Errorf("GET through SOCKS5 = %q, %v", body, err)
		}
	})
	t.Run("socks5 refused", func(t *testing.T) {
		_, code, err := socks5Dial(link.SOCKS5, "", "", nsWeb.String()+":81")
		if err == nil || code != socksConnectionRefused {
			t.Errorf("CONNECT to a closed port: reply %#x, %v; want %#x", code, err, socksConnectionRefused)
		}
	})
	t.Run("socks5 unknown name", func(t *testing.T) {
		_, code, err := socks5Dial(link.SOCKS5, "", "", "nowhere.corp.example:80")
		if err == nil || code != socksHostUnreachable {
			t.Errorf("CONNECT to an unknown name: reply %#x, %v; want %#x", code, err, socksHostUnreachable)
		}
	})
	t.Run("http proxy", func(t *testing.T) {
		pu, _ := url.Parse("http://" + link.HTTPProxy)
		tr := &http.Transport{Proxy: http.ProxyURL(pu)}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		resp, err := cl.Get("http://" + nsWebName + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != nsBody {
			t.Errorf("GET through the HTTP proxy = %s %q", resp.Status, b)
		}
	})
	t.Run("http CONNECT", func(t *testing.T) {
		c, err := net.Dial("tcp", link.HTTPProxy)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "CONNECT %s:80 HTTP/1.1\r\nHost: %s:80\r\n\r\n", nsWeb, nsWeb)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != 200 {
			c.Close()
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		c.Close()
		if string(b) != nsBody {
			t.Errorf("GET through CONNECT = %q", b)
		}
	})
	t.Run("http CONNECT refused", func(t *testing.T) {
		pu, _ := url.Parse("http://" + link.HTTPProxy)
		c, err := net.Dial("tcp", pu.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(c, "CONNECT %s:81 HTTP/1.1\r\nHost: %s:81\r\n\r\n", nsWeb, nsWeb)
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != http.StatusBadGateway {
			t.Errorf("CONNECT to a closed port: %v %v, want 502", resp, err)
		}
	})
	t.Run("forward", func(t *testing.T) {
		c, err := net.Dial("tcp", fwd)
		if err != nil {
			t.Fatal(err)
		}
		if body, err := httpGet(c, nsWebName, "/"); err != nil || body != nsBody {
			t.Errorf("GET through the forward = %q, %v", body, err)
		}
	})
	t.Run("socks5 UDP DNS", func(t *testing.T) {
		ip, err := socks5UDPQuery(link.SOCKS5, nsDNS, dnsQuery(0x1234, nsWebName))
		if err != nil {
			t.Fatal(err)
		}
		if ip != nsWeb {
			t.Errorf("DNS through UDP ASSOCIATE: %v, want %v", ip, nsWeb)
		}
	})
	t.Run("100 parallel", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, _, err := socks5Dial(link.SOCKS5, "", "", nsWeb.String()+":80")
				if err != nil {
					errs <- fmt.Errorf("fetch %d: %w", i, err)
					return
				}
				body, err := httpGet(c, nsWebName, "/big")
				if err == nil && len(body) != nsBig {
					err = fmt.Errorf("%d bytes, want %d", len(body), nsBig)
				}
				if err != nil {
					errs <- fmt.Errorf("fetch %d: %w", i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	prev := srv.Stats()
	h.stop()
	checkTeardown(t, srv, prev)
	// The front ends are gone with Run.
	if c, err := net.DialTimeout("tcp", link.SOCKS5, time.Second); err == nil {
		c.Close()
		t.Errorf("SOCKS5 still listening on %s after Run returned", link.SOCKS5)
	}
}

// TestE2ENetstackReconnect: the front ends outlive a lost connection;
// while the link is down a CONNECT gets reply 3 (network unreachable), and
// after the reconnection the same SOCKS5 address reaches the server's
// network through the new link.
func TestE2ENetstackReconnect(t *testing.T) {
	goroutineLeakCheck(t)
	h, srv, link := startNetstack(t, NetstackConfig{SOCKS5: "127.0.0.1:0"}, func(c *Config) { c.Reconnect = true })
	fetch := func() error {
		c, code, err := socks5Dial(link.SOCKS5, "", "", nsWebName+":80")
		if err != nil {
			return fmt.Errorf("reply %#x: %w", code, err)
		}
		body, err := httpGet(c, nsWebName, "/")
		if err == nil && body != nsBody {
			err = fmt.Errorf("body %q", body)
		}
		return err
	}
	if err := fetch(); err != nil {
		t.Fatalf("before the hang-up: %v", err)
	}
	srv.Hangup()
	sawDown := false
	deadline := time.Now().Add(20 * time.Second)
	for {
		h.mu.Lock()
		ups := 0
		for _, e := range h.events {
			if e.Kind == EventUp {
				ups++
			}
		}
		h.mu.Unlock()
		if ups >= 2 {
			break
		}
		if _, code, err := socks5Dial(link.SOCKS5, "", "", nsWeb.String()+":80"); err != nil && code == socksNetworkUnreachable {
			sawDown = true
		}
		if time.Now().After(deadline) {
			t.Fatal("not reconnected within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawDown {
		t.Error("no CONNECT got reply 3 (network unreachable) while the link was down")
	}
	if err := fetch(); err != nil {
		t.Errorf("after the reconnection: %v", err)
	}
	h.stop()
}

// dnsQuery is a DNS query for name's A record (RFC 1035 §4.1).
func dnsQuery(id uint16, name string) []byte {
	q := binary.BigEndian.AppendUint16(nil, id)
	q = append(q, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0) // RD; QDCOUNT 1
	for _, l := range strings.Split(name, ".") {
		q = append(append(q, byte(len(l))), l...)
	}
	return append(q, 0, 0, 1, 0, 1)
}

// socks5UDPQuery sends query to dns:53 through a SOCKS5 UDP association
// and returns the first A record of the answer.
func socks5UDPQuery(proxy string, dns netip.Addr, query []byte) (netip.Addr, error) {
	c, err := net.DialTimeout("tcp", proxy, 5*time.Second)
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	c.Write([]byte{5, 1, 0})
	var b [2]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[1] != 0 {
		return netip.Addr{}, fmt.Errorf("greeting: %x %v", b, err)
	}
	c.Write(appendSocksAddr([]byte{5, socksCmdUDPAssociate, 0}, socksAddr{IP: netip.IPv4Unspecified()}))
	var rep [3]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != 0 {
		return netip.Addr{}, fmt.Errorf("UDP ASSOCIATE: reply %x %v", rep, err)
	}
	bnd, err := readSocksAddr(c)
	if err != nil {
		return netip.Addr{}, err
	}
	u, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(bnd.IP, bnd.Port)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(10 * time.Second))
	for range 3 { // UDP: the first one may be lost
		u.Write(append(appendSocksUDP(nil, socksAddr{IP: dns, Port: 53}), query...))
		buf := make([]byte, 1500)
		u.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := u.Read(buf)
		if err != nil {
			continue
		}
		from, resp, err := parseSocksUDP(buf[:n])
		if err != nil {
			return netip.Addr{}, err
		}
		if from.IP != dns || from.Port != 53 {
			return netip.Addr{}, fmt.Errorf("answer from %v", from)
		}
		if len(resp) < 4 || resp[len(resp)-6] != 0 || binary.BigEndian.Uint16(resp[6:]) != 1 {
			return netip.Addr{}, fmt.Errorf("answer %x has no A record", resp)
		}
		return netip.AddrFrom4([4]byte(resp[len(resp)-4:])), nil
	}
	return netip.Addr{}, errors.New("no answer")
}

// TestNetstackDownloadProfile downloads 256 MiB through the SOCKS5 front
// end, for a CPU profile of netstack mode (both ends run in this process:
// look at the client's share). Opt-in:
//
//	L2TPCTL_NETSTACK_PROFILE=1 go test -run NetstackDownloadProfile -cpuprofile cpu.out ./tunnel
func TestNetstackDownloadProfile(t *testing.T) {
	if os.Getenv("L2TPCTL_NETSTACK_PROFILE") == "" {
		t.Skip("set L2TPCTL_NETSTACK_PROFILE=1")
	}
	_, _, link := startNetstack(t, NetstackConfig{SOCKS5: "127.0.0.1:0"})
	start := time.Now()
	total := 0
	for range 256 << 20 / nsBig {
		c, _, err := socks5Dial(link.SOCKS5, "", "", nsWeb.String()+":80")
		if err != nil {
			t.Fatal(err)
		}
		body, err := httpGet(c, nsWebName, "/big")
		if err != nil {
			t.Fatal(err)
		}
		total += len(body)
	}
	t.Logf("%d MiB in %v", total>>20, time.Since(start))
}
