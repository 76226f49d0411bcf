package inet

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

var (
	tcpSrc = netip.MustParseAddrPort("192.168.30.10:40000")
	tcpDst = netip.MustParseAddrPort("192.168.30.1:443")
)

// goldenSYN is a SYN from 10.0.0.1:12345 to 10.0.0.2:80 with options MSS
// 1460, NOP, NOP, SACK-permitted, computed independently (Python, RFC 1071
// sum over the pseudo-header and segment).
const goldenSYN = "4500003000004000400626c6" + "0a0000010a000002" +
	"303900500000000100000000" + "7002ffff" + "3e930000" + "020405b401010402"

func TestClampMSSGolden(t *testing.T) {
	pkt := mustHex(goldenSYN)
	want := BuildTCPv4(netip.MustParseAddrPort("10.0.0.1:12345"), netip.MustParseAddrPort("10.0.0.2:80"),
		TCPFlagSYN, mustHex("020405b401010402"), nil)
	if !bytes.Equal(pkt, want) {
		t.Fatalf("BuildTCPv4 = %x, golden %x", want, pkt)
	}
	if !ClampMSS(pkt, 1360) {
		t.Fatal("not clamped")
	}
	// 1460 → 1360: the checksum rises by 100 (Python's full sum agrees).
	if got := binary.BigEndian.Uint16(pkt[IPv4HeaderLen+16:]); got != 0x3ef7 {
		t.Errorf("checksum %#04x, want 0x3ef7", got)
	}
	if mss, csumOK, ok := TCPv4MSS(pkt); !ok || !csumOK || mss != 1360 {
		t.Errorf("TCPv4MSS = %d, %v, %v", mss, csumOK, ok)
	}
}

func TestClampMSS(t *testing.T) {
	mssOpt := func(v uint16) []byte { return []byte{2, 4, byte(v >> 8), byte(v)} }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	wscale := []byte{3, 3, 7}
	ts := []byte{8, 10, 1, 2, 3, 4, 5, 6, 7, 8}
	tests := []struct {
		name    string
		flags   uint8
		opts    []byte
		payload []byte
		clamp   uint16
		changed bool
		want    uint16 // MSS after; 0: no MSS option to read
	}{
		{"SYN lowered", TCPFlagSYN, mssOpt(1460), nil, 1360, true, 1360},
		{"SYN-ACK lowered", TCPFlagSYN | TCPFlagACK, mssOpt(1460), nil, 1360, true, 1360},
		{"SYN already small", TCPFlagSYN, mssOpt(1200), nil, 1360, false, 1200},
		{"SYN equal", TCPFlagSYN, mssOpt(1360), nil, 1360, false, 1360},
		{"ACK not touched", TCPFlagACK, mssOpt(1460), nil, 1360, false, 1460},
		{"after NOP (odd offset)", TCPFlagSYN, cat([]byte{1}, mssOpt(1460), wscale), nil, 1360, true, 1360},
		{"after timestamps", TCPFlagSYN, cat([]byte{1, 1}, ts, mssOpt(65495)), nil, 1360, true, 1360},
		{"odd offset, odd value", TCPFlagSYN, cat(wscale, mssOpt(0xfff1)), nil, 0x1234, true, 0x1234},
		{"with payload", TCPFlagSYN, mssOpt(1460), []byte("abc"), 1000, true, 1000},
		{"no MSS", TCPFlagSYN, cat(wscale, []byte{1}), nil, 1360, false, 0},
		{"MSS after End", TCPFlagSYN, cat([]byte{0, 0, 0, 0}, mssOpt(1460)), nil, 1360, false, 0},
		{"bad MSS length", TCPFlagSYN, []byte{2, 6, 5, 0xb4, 0, 0}, nil, 1360, false, 0},
		{"option overruns header", TCPFlagSYN, []byte{1, 1, 8, 10}, nil, 1360, false, 0},
		{"zero option length", TCPFlagSYN, []byte{3, 0, 2, 4, 5, 0xb4}, nil, 1360, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkt := BuildTCPv4(tcpSrc, tcpDst, tc.flags, tc.opts, tc.payload)
			if pkt == nil {
				t.Fatal("BuildTCPv4 failed")
			}
			orig := append([]byte(nil), pkt...)
			if got := ClampMSS(pkt, tc.clamp); got != tc.changed {
				t.Fatalf("ClampMSS = %v, want %v", got, tc.changed)
			}
			if !tc.changed && !bytes.Equal(pkt, orig) {
				t.Fatalf("unchanged packet modified: %x → %x", orig, pkt)
			}
			mss, csumOK, ok := TCPv4MSS(pkt)
			if tc.want == 0 {
				if ok {
					t.Errorf("found MSS %d in a packet without a valid one", mss)
				}
				return
			}
			if !ok || mss != tc.want || !csumOK {
				t.Errorf("after: MSS %d (ok %v), checksum valid %v; want MSS %d", mss, ok, csumOK, tc.want)
			}
		})
	}
}

func TestClampMSSIgnores(t *testing.T) {
	syn := func() []byte {
		return BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 5, 0xb4}, nil)
	}
	tests := []struct {
		name string
		pkt  func() []byte
	}{
		{"UDP", func() []byte { return BuildUDPv4(tcpSrc, tcpDst, []byte{2, 4, 5, 0xb4}) }},
		{"ICMP", func() []byte { return BuildICMPEcho(tcpSrc.Addr(), tcpDst.Addr(), 1, 1, make([]byte, 40)) }},
		{"later fragment", func() []byte { p := syn(); p[7] = 1; return p }},
		{"IPv6 version", func() []byte { p := syn(); p[0] = 0x65; return p }},
		{"IHL below 5", func() []byte { p := syn(); p[0] = 0x44; return p }},
		{"total length beyond packet", func() []byte { p := syn(); p[2] = 0xff; return p }},
		{"truncated TCP", func() []byte { return syn()[:IPv4HeaderLen+10] }},
		{"data offset beyond segment", func() []byte { p := syn(); p[IPv4HeaderLen+12] = 0xf0; return p }},
		{"data offset below 5", func() []byte { p := syn(); p[IPv4HeaderLen+12] = 0x40; return p }},
		{"empty", func() []byte { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.pkt()
			orig := append([]byte(nil), p...)
			if ClampMSS(p, 536) || !bytes.Equal(p, orig) {
				t.Errorf("ClampMSS changed %x", orig)
			}
		})
	}
}

func TestUpdateChecksum(t *testing.T) {
	// Every single-word change of a buffer agrees with a full
	// recomputation, up to the two forms of one's-complement zero
	// (RFC 1624 §3).
	b := mustHex("45000030000040004006000000000000ffff0001")
	for _, v := range []uint16{0, 1, 0xfffe, 0xffff, 0x1234, 0x8000} {
		for w := 0; w < len(b); w += 2 {
			c := append([]byte(nil), b...)
			csum := Checksum(c, 0)
			old := binary.BigEndian.Uint16(c[w:])
			binary.BigEndian.PutUint16(c[w:], v)
			got, want := UpdateChecksum(csum, old, v), Checksum(c, 0)
			if got != want && !(got^want == 0xffff && (got == 0 || want == 0)) {
				t.Errorf("word %d %#04x→%#04x: incremental %#04x, full %#04x", w/2, old, v, got, want)
			}
		}
	}
}

func TestClampMSSNoAlloc(t *testing.T) {
	p := BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{2, 4, 5, 0xb4}, nil)
	if n := testing.AllocsPerRun(100, func() {
		binary.BigEndian.PutUint16(p[IPv4HeaderLen+TCPHeaderLen+2:], 1460)
		ClampMSS(p, 1360)
	}); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

// FuzzClampMSS: never panics; changes nothing but the MSS value and the
// TCP checksum; a valid checksum stays valid; the MSS never goes up.
func FuzzClampMSS(f *testing.F) {
	f.Add(mustHex(goldenSYN), uint16(1360))
	f.Add(BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN, []byte{1, 2, 4, 0xff, 0xff, 3, 3, 7}, nil), uint16(536))
	f.Add(BuildTCPv4(tcpSrc, tcpDst, TCPFlagSYN|TCPFlagACK, []byte{8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 5, 0xb4}, []byte("x")), uint16(1000))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, pkt []byte, mss uint16) {
		orig := append([]byte(nil), pkt...)
		before, csumBefore, okBefore := TCPv4MSS(orig)
		changed := ClampMSS(pkt, mss)
		if !changed {
			if !bytes.Equal(pkt, orig) {
				t.Fatalf("reported no change but changed %x → %x", orig, pkt)
			}
			return
		}
		diff := 0
		for i := range pkt {
			if pkt[i] != orig[i] {
				diff++
			}
		}
		if diff > 4 {
			t.Fatalf("%d bytes changed", diff)
		}
		after, csumAfter, okAfter := TCPv4MSS(pkt)
		if okBefore && okAfter {
			if after != mss || after >= before {
				t.Fatalf("MSS %d → %d, clamp %d", before, after, mss)
			}
			if csumBefore && !csumAfter {
				t.Fatalf("checksum broken: %x → %x", orig, pkt)
			}
		}
	})
}
