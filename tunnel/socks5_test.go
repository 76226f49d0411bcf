package tunnel

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// startFrontEndsOnly starts netstack mode's front ends with no link (as
// while the tunnel is down): every dial fails with errLinkDown.
func startFrontEndsOnly(t *testing.T, cfg NetstackConfig) *netstack {
	t.Helper()
	n, err := newNetstack(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.close()
		n.fe.mu.Lock()
		left := len(n.fe.closers)
		n.fe.mu.Unlock()
		if left != 0 {
			t.Errorf("%d listeners or connections left open after close", left)
		}
	})
	return n
}

// exchange sends req to addr and returns everything the server answers
// until it closes the connection (or 5 s pass: an error).
func exchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(req)
	c.(*net.TCPConn).CloseWrite() // the client has nothing more to say
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("%x: the server did not close the connection: %v (read %x)", req, err, got)
	}
	return got
}

func TestSOCKS5BadRequests(t *testing.T) {
	goroutineLeakCheck(t)
	auth := startFrontEndsOnly(t, NetstackConfig{SOCKS5: "127.0.0.1:0", SOCKS5User: "user", SOCKS5Password: []byte("secret")})
	open := startFrontEndsOnly(t, NetstackConfig{SOCKS5: "127.0.0.1:0"})
	login := []byte{5, 1, 2, 1, 4, 'u', 's', 'e', 'r', 6, 's', 'e', 'c', 'r', 'e', 't'}
	okLogin := []byte{5, 2, 1, 0}
	connect := func(atyp ...byte) []byte { return append([]byte{5, 1, 0}, atyp...) }
	unspec := []byte{1, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name string
		n    *netstack
		req  []byte
		want []byte
	}{
		{"not SOCKS: no answer", open, []byte("GET / HTTP/1.0\r\n\r\n"), nil},
		{"SOCKS4: no answer", open, []byte{4, 1, 0, 80, 10, 0, 0, 1, 0}, nil},
		{"truncated greeting", open, []byte{5, 3, 0}, nil},
		{"no acceptable method", auth, []byte{5, 1, 0}, []byte{5, 0xFF}},
		{"password not offered", open, []byte{5, 1, 2}, []byte{5, 0xFF}},
		{"wrong password", auth, []byte{5, 1, 2, 1, 4, 'u', 's', 'e', 'r', 5, 'w', 'r', 'o', 'n', 'g'}, []byte{5, 2, 1, 1}},
		{"wrong user", auth, []byte{5, 1, 2, 1, 4, 'r', 'o', 'o', 't', 6, 's', 'e', 'c', 'r', 'e', 't'}, []byte{5, 2, 1, 1}},
		{"bad subnegotiation version", auth, []byte{5, 1, 2, 5, 0, 0}, []byte{5, 2, 1, 1}},
		{"BIND", auth, append(login, 5, 2, 0, 1, 10, 0, 0, 1, 0, 80), append(okLogin, 5, socksCommandNotSupported, 0, 1, 0, 0, 0, 0, 0, 0)},
		{"unknown command", open, []byte{5, 1, 0, 5, 9, 0, 1, 10, 0, 0, 1, 0, 80}, append([]byte{5, 0}, append([]byte{5, socksCommandNotSupported, 0}, unspec...)...)},
		{"unknown address type", auth, append(login, connect(9, 1, 2, 3, 4, 0, 80)...), append(okLogin, append([]byte{5, socksAddrNotSupported, 0}, unspec...)...)},
		{"empty host name", open, []byte{5, 1, 0, 5, 1, 0, 3, 0, 0, 80}, append([]byte{5, 0}, append([]byte{5, socksAddrNotSupported, 0}, unspec...)...)},
		{"tunnel down", auth, append(login, connect(1, 10, 0, 0, 1, 0, 80)...), append(okLogin, append([]byte{5, socksNetworkUnreachable, 0}, unspec...)...)},
		{"tunnel down, name", open, []byte{5, 1, 0, 5, 1, 0, 3, 3, 'w', 'e', 'b', 0, 80}, append([]byte{5, 0}, append([]byte{5, socksNetworkUnreachable, 0}, unspec...)...)},
		{"UDP ASSOCIATE, tunnel down", open, []byte{5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0}, append([]byte{5, 0}, append([]byte{5, socksNetworkUnreachable, 0}, unspec...)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := tc.n.addrs()
			if got := exchange(t, addr, tc.req); !bytes.Equal(got, tc.want) {
				t.Errorf("answer %x, want %x", got, tc.want)
			}
		})
	}
}

func TestHTTPProxyBadRequests(t *testing.T) {
	goroutineLeakCheck(t)
	n := startFrontEndsOnly(t, NetstackConfig{HTTPProxy: "127.0.0.1:0"})
	_, addr := n.addrs()
	for _, tc := range []struct {
		name string
		req  string
		want int
	}{
		{"origin-form GET", "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n", http.StatusBadRequest},
		{"https absolute form", "GET https://example/ HTTP/1.1\r\nHost: example\r\n\r\n", http.StatusBadRequest},
		{"CONNECT without port", "CONNECT example HTTP/1.1\r\nHost: example\r\n\r\n", http.StatusBadRequest},
		{"CONNECT, tunnel down", "CONNECT 10.0.0.1:443 HTTP/1.1\r\nHost: 10.0.0.1:443\r\n\r\n", http.StatusServiceUnavailable},
		{"GET, tunnel down", "GET http://10.0.0.1/ HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", http.StatusServiceUnavailable},
		{"garbage", "\x16\x03\x01\x00\x05hello\r\n\r\n", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.req)
			method, _, _ := strings.Cut(tc.req, " ")
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestFrontEndPortInUse(t *testing.T) {
	goroutineLeakCheck(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = newNetstack(NetstackConfig{SOCKS5: "127.0.0.1:0", HTTPProxy: ln.Addr().String()}, nil)
	if !errors.Is(err, ErrListen) || !strings.Contains(err.Error(), "http-proxy") {
		t.Errorf("newNetstack with the HTTP proxy port in use = %v, want an http-proxy error", err)
	}
}

func TestParseForward(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Forward
		bad  bool
	}{
		{in: "8080:10.0.0.5:80", want: Forward{"tcp", "127.0.0.1:8080", "10.0.0.5:80"}},
		{in: "tcp:8080:web.corp:80", want: Forward{"tcp", "127.0.0.1:8080", "web.corp:80"}},
		{in: "udp:5353:10.0.0.1:53", want: Forward{"udp", "127.0.0.1:5353", "10.0.0.1:53"}},
		{in: "0.0.0.0:2222:10.0.0.9:22", want: Forward{"tcp", "0.0.0.0:2222", "10.0.0.9:22"}},
		{in: "[::1]:2222:[fd00::9]:22", want: Forward{"tcp", "[::1]:2222", "[fd00::9]:22"}},
		{in: "8080:10.0.0.5", bad: true},
		{in: "8080:10.0.0.5:99999", bad: true},
		{in: "x:10.0.0.5:80", bad: true},
		{in: "8080::80", bad: true},
		{in: "sctp:1:2:3:4", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseForward(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseForward(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseForward(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestSocksAddrCodec(t *testing.T) {
	for _, a := range []socksAddr{
		{IP: netip.MustParseAddr("10.1.2.3"), Port: 80},
		{IP: netip.MustParseAddr("fd00::1"), Port: 443},
		{Host: "web.corp.example", Port: 8080},
	} {
		b := appendSocksUDP(nil, a)
		got, data, err := parseSocksUDP(append(b, "data"...))
		if err != nil || got != a || string(data) != "data" {
			t.Errorf("%v: parse(append) = %v %q %v", a, got, data, err)
		}
		if got, err := readSocksAddr(bytes.NewReader(b[3:])); err != nil || got != a {
			t.Errorf("%v: readSocksAddr = %v %v", a, got, err)
		}
	}
	for _, b := range [][]byte{
		nil, {0, 0}, {0, 0, 1, 1}, {0, 0, 0, 1, 10, 0}, {0, 0, 0, 3, 0, 0, 80}, {0, 0, 0, 3, 5, 'a'}, {0, 0, 0, 7, 1, 2, 3, 4, 0, 80}, {1, 0, 0, 1, 1, 2, 3, 4, 0, 80},
	} {
		if a, _, err := parseSocksUDP(b); err == nil {
			t.Errorf("parseSocksUDP(%x) = %v, want an error", b, a)
		}
	}
}

// FuzzSocksUDP: a datagram header never panics, and one accepted parses
// back the same after encoding.
func FuzzSocksUDP(f *testing.F) {
	f.Add(appendSocksUDP(nil, socksAddr{Host: "a.b", Port: 1}))
	f.Add(appendSocksUDP(nil, socksAddr{IP: netip.MustParseAddr("1.2.3.4"), Port: 53}))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, data, err := parseSocksUDP(b)
		if err != nil {
			return
		}
		enc := append(appendSocksUDP(nil, a), data...)
		a2, data2, err := parseSocksUDP(enc)
		if err != nil || a2 != a || !bytes.Equal(data, data2) {
			t.Fatalf("%x → %v → %x → %v, %v", b, a, enc, a2, err)
		}
		if !strings.Contains(fmt.Sprint(a), ":") {
			t.Fatalf("address %v has no port", a)
		}
	})
}
