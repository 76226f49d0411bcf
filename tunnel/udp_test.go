package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	ike := []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1, 2, 3, 4} // an ISAKMP header starts with the cookie
	esp := []byte{0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 0xaa, 0xbb}
	tests := []struct {
		name     string
		pkt      []byte
		fromNATT bool
		kind     packetKind
		payload  []byte
	}{
		{"natt keepalive", []byte{0xff}, true, kindKeepalive, nil},
		{"natt marker+IKE", append([]byte{0, 0, 0, 0}, ike...), true, kindIKE, ike},
		{"natt marker only", []byte{0, 0, 0, 0}, true, kindIKE, []byte{}},
		{"natt ESP", esp, true, kindESP, esp},
		{"natt ESP minimal header", esp[:8], true, kindESP, esp[:8]},
		{"natt ESP SPI with zero low bytes", []byte{0, 0, 0, 1, 0, 0, 0, 1}, true, kindESP, []byte{0, 0, 0, 1, 0, 0, 0, 1}},
		{"natt empty", nil, true, kindInvalid, nil},
		{"natt one byte not FF", []byte{0xfe}, true, kindInvalid, nil},
		{"natt two bytes FF FF", []byte{0xff, 0xff}, true, kindInvalid, nil},
		{"natt short ESP", esp[:7], true, kindInvalid, nil},
		{"natt 3 zero bytes", []byte{0, 0, 0}, true, kindInvalid, nil},
		{"ike port IKE", ike, false, kindIKE, ike},
		{"ike port keepalive byte is IKE garbage", []byte{0xff}, false, kindIKE, []byte{0xff}},
		{"ike port marker is not stripped", append([]byte{0, 0, 0, 0}, ike...), false, kindIKE, append([]byte{0, 0, 0, 0}, ike...)},
		{"ike port empty", nil, false, kindInvalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, payload := classify(tt.pkt, tt.fromNATT)
			if kind != tt.kind || !bytes.Equal(payload, tt.payload) {
				t.Errorf("classify(% x, %v) = %v, % x; want %v, % x", tt.pkt, tt.fromNATT, kind, payload, tt.kind, tt.payload)
			}
		})
	}
}

func TestIsUnreachable(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendto", errno)}
	}
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{opErr(syscall.ENETUNREACH), true},
		{opErr(syscall.EHOSTUNREACH), true},
		{opErr(syscall.ECONNREFUSED), true},
		{fmt.Errorf("tunnel: send: %w", opErr(syscall.ENETUNREACH)), true},
		{opErr(syscall.EPERM), false},
		{net.ErrClosed, false},
		{errors.New("network is unreachable"), false}, // text is never matched
		{nil, false},
	} {
		if got := isUnreachable(tt.err); got != tt.want {
			t.Errorf("isUnreachable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestDefaultListenLoopback(t *testing.T) {
	server := netip.MustParseAddrPort("127.0.0.1:4500")
	c, err := defaultListen(server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := localAddrPort(c)
	if local.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("bound to %v, want 127.0.0.1", local.Addr())
	}
	if p := local.Port(); p == 0 || p == 500 || p == 4500 {
		t.Errorf("local port %d, want a random one", p)
	}
	// Two connections get different ports.
	c2, err := defaultListen(server)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if localAddrPort(c2) == local {
		t.Errorf("two sockets share %v", local)
	}
}

func TestDefaultListenRejectsIPv6(t *testing.T) {
	if _, err := defaultListen(netip.MustParseAddrPort("[::1]:500")); err == nil {
		t.Fatal("no error for an IPv6 server")
	}
}

func TestLocalAddrPort(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		want netip.AddrPort
	}{
		{&net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}, netip.MustParseAddrPort("192.0.2.1:40000")},
		{(*net.UDPAddr)(nil), netip.AddrPort{}},
		{nil, netip.AddrPort{}},
		{fakeAddr("198.51.100.7:1234"), netip.MustParseAddrPort("198.51.100.7:1234")},
		{fakeAddr("garbage"), netip.AddrPort{}},
	} {
		if got := localAddrPort(addrOnly{tt.addr}); got != tt.want {
			t.Errorf("localAddrPort(%v) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "udp" }
func (a fakeAddr) String() string  { return string(a) }

type addrOnly struct{ a net.Addr }

func (a addrOnly) LocalAddr() net.Addr { return a.a }
