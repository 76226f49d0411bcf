package inet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
)

var ll1, ll2 = netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::2")

// An ICMPv6 Echo Request fe80::1 → fe80::2, id 0x1234, seq 1, data "hi";
// the checksum computed independently (RFC 4443 §2.3, RFC 8200 §8.1).
const goldenEcho6 = "60000000000a3a40 fe800000000000000000000000000001 fe800000000000000000000000000002 80000818 12340001 6869"

func TestICMPv6EchoGolden(t *testing.T) {
	pkt := BuildICMPv6Echo(ICMPv6EchoRequest, ll1, ll2, 0x1234, 1, []byte("hi"))
	want := mustHex(strings.ReplaceAll(goldenEcho6, " ", ""))
	if !bytes.Equal(pkt, want) {
		t.Fatalf("built\n%x\nwant\n%x", pkt, want)
	}
	e, ok := ParseICMPv6Echo(want)
	if !ok || e.Src != ll1 || e.Dst != ll2 || e.Type != ICMPv6EchoRequest || e.ID != 0x1234 || e.Seq != 1 || string(e.Payload) != "hi" {
		t.Fatalf("parsed %+v %v", e, ok)
	}
	bad := append([]byte(nil), want...)
	bad[len(bad)-1] ^= 1
	if _, ok := ParseICMPv6Echo(bad); ok {
		t.Error("a corrupted echo parsed")
	}
	if _, ok := ParseICMPv6Echo(want[:IPv6HeaderLen+4]); ok {
		t.Error("a truncated echo parsed")
	}
	if BuildICMPv6Echo(ICMPv6EchoRequest, netip.MustParseAddr("10.0.0.1"), ll2, 1, 1, nil) != nil {
		t.Error("built an ICMPv6 echo from an IPv4 address")
	}
}

// syn6 moves the TCP segment of an IPv4 packet built by BuildTCPv4 into an
// IPv6 packet ll1 → ll2, with its checksum recomputed.
func syn6(t testing.TB, v4 []byte) []byte {
	tcp := append([]byte(nil), v4[IPv4HeaderLen:]...)
	binary.BigEndian.PutUint16(tcp[tcpOffCsum:], 0)
	binary.BigEndian.PutUint16(tcp[tcpOffCsum:], Checksum(tcp, pseudoHeaderSum6(ll1.As16(), ll2.As16(), ProtoTCP, len(tcp))))
	pkt := make([]byte, IPv6HeaderLen, IPv6HeaderLen+len(tcp))
	pkt[0] = 0x60
	binary.BigEndian.PutUint16(pkt[4:], uint16(len(tcp)))
	pkt[6], pkt[7] = ProtoTCP, 64
	s, d := ll1.As16(), ll2.As16()
	copy(pkt[8:], s[:])
	copy(pkt[24:], d[:])
	return append(pkt, tcp...)
}

func tcp6CsumOK(pkt []byte) bool {
	_, tcp, _ := ipv6Payload(pkt)
	return Checksum(tcp, pseudoHeaderSum6([16]byte(pkt[8:24]), [16]byte(pkt[24:40]), ProtoTCP, len(tcp))) == 0
}

func TestClampMSS6(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pkt     []byte
		clamp   uint16
		changed bool
		mss     uint16
	}{
		{"SYN 1460 → 1340", syn6(t, BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil)), 1340, true, 1340},
		{"odd offset after a NOP", syn6(t, BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{1, 2, 4, 0xff, 0xff}, nil)), 1220, true, 1220},
		{"already smaller", syn6(t, BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 0x02, 0x18}, nil)), 1340, false, 536},
		{"not a SYN", syn6(t, BuildTCPv4(tcpSrc, tcpDst, TCPFlagACK, []byte{2, 4, 0x05, 0xb4}, nil)), 1340, false, 1460},
		{"IPv4 packet", BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil), 1340, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := append([]byte(nil), tc.pkt...)
			if got := ClampMSS6(pkt, tc.clamp); got != tc.changed {
				t.Fatalf("ClampMSS6 = %v, want %v", got, tc.changed)
			}
			if tc.mss == 0 {
				return
			}
			_, tcp, _ := ipv6Payload(pkt)
			at := findMSSOption(tcp[TCPHeaderLen : int(tcp[12]>>4)*4])
			if got := binary.BigEndian.Uint16(tcp[TCPHeaderLen+at+2:]); got != tc.mss {
				t.Errorf("MSS %d, want %d", got, tc.mss)
			}
			if !tcp6CsumOK(pkt) {
				t.Errorf("TCP checksum broken")
			}
		})
	}
	pkt := syn6(t, BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil))
	if n := testing.AllocsPerRun(100, func() { ClampMSS6(pkt, 1000) }); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

// FuzzClampMSS6: never panics; a valid checksum stays valid.
func FuzzClampMSS6(f *testing.F) {
	f.Add(syn6(f, BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil)), uint16(1340))
	f.Add(mustHex(strings.ReplaceAll(goldenEcho6, " ", "")), uint16(1))
	f.Fuzz(func(t *testing.T, pkt []byte, mss uint16) {
		orig := append([]byte(nil), pkt...)
		okBefore := len(pkt) >= IPv6HeaderLen && tcp6CsumOK(pkt)
		if !ClampMSS6(pkt, mss) {
			if !bytes.Equal(pkt, orig) {
				t.Fatalf("reported no change but changed %x → %x", orig, pkt)
			}
			return
		}
		if okBefore && !tcp6CsumOK(pkt) {
			t.Fatalf("checksum broken: %x → %x", orig, pkt)
		}
	})
}

// TestBuildTCPv6 checks the builder against syn6 (the IPv4 segment moved
// into IPv6 by hand) and TCPv6MSS on both.
func TestBuildTCPv6(t *testing.T) {
	src, dst := netip.AddrPortFrom(ll1, tcpSrc.Port()), netip.AddrPortFrom(ll2, tcpDst.Port())
	got := BuildTCPv6(src, dst, TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil)
	want := syn6(t, BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 0x05, 0xb4}, nil))
	if !bytes.Equal(got, want) {
		t.Fatalf("BuildTCPv6\n%x\nwant\n%x", got, want)
	}
	if mss, csumOK, ok := TCPv6MSS(got); !ok || !csumOK || mss != 1460 {
		t.Errorf("TCPv6MSS = %d, %v, %v", mss, csumOK, ok)
	}
	if BuildTCPv6(tcpSrc, tcpDst, TCPFlagSYN, nil, nil) != nil {
		t.Error("built an IPv6 segment from IPv4 addresses")
	}
}
