package inet

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestChecksumGolden(t *testing.T) {
	for _, c := range []struct {
		name    string
		in      string
		initial uint32
		want    uint16
	}{
		// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
		{"rfc1071 example", "0001f203f4f5f6f7", 0, ^uint16(0xddf2)},
		// A classic IPv4 header with the checksum field zeroed; checksum b861.
		{"ipv4 header", "450000730000400040110000c0a80001c0a800c7", 0, 0xb861},
		// ... and with it filled in, the checksum of the whole header is 0.
		{"ipv4 header verify", "45000073000040004011b861c0a80001c0a800c7", 0, 0},
		{"empty", "", 0, 0xffff},
		{"odd length pads with zero", "01", 0, ^uint16(0x0100)},
		{"odd length 3", "0102ff", 0, ^uint16(0x0003)},                  // 0102 + ff00 = 1_0002 → 0003
		{"carry folding", "ffffffffffffffffffff01", 0, ^uint16(0x0100)}, // 5×ffff ≡ 0
		{"initial value", "0001", 0x0002ffff, ^uint16(0x0003)},
		{"all-zero sum", "0000000000", 0, 0xffff},
	} {
		if got := Checksum(mustHex(c.in), c.initial); got != c.want {
			t.Errorf("%s: Checksum = %04x, want %04x", c.name, got, c.want)
		}
	}
}

// refChecksum is the RFC 1071 loop, 16 bits at a time.
func refChecksum(b []byte, initial uint32) uint16 {
	sum := initial
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
		sum = sum&0xffff + sum>>16
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestChecksumMatchesReference(t *testing.T) {
	b := make([]byte, 300)
	for i := range b {
		b[i] = byte(i*37 + i>>3)
	}
	for n := 0; n <= len(b); n++ {
		for _, init := range []uint32{0, 1, 0xffff, 0x2ffff} {
			if got, want := Checksum(b[:n], init), refChecksum(b[:n], init); got != want {
				t.Fatalf("n=%d init=%x: %04x, want %04x", n, init, got, want)
			}
		}
	}
}

func TestUDPHeader(t *testing.T) {
	b := bytes.Repeat([]byte{0xaa}, 20)
	PutUDPHeader(b, PortL2TP, 4321, 12)
	if want := "06a510e100140000"; hex.EncodeToString(b[:8]) != want {
		t.Fatalf("header %x, want %s", b[:8], want)
	}
	src, dst, payload, ok := ParseUDP(b)
	if !ok || src != PortL2TP || dst != 4321 || len(payload) != 12 || &payload[0] != &b[8] {
		t.Fatalf("ParseUDP = %d %d %d %v", src, dst, len(payload), ok)
	}
	if cap(payload) != 12 {
		t.Fatal("payload capacity reaches past the datagram")
	}
	for _, c := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"empty", "", false},
		{"7 bytes", "06a506a50008ff", false},
		{"header only", "06a506a500080000", true},
		{"length below header", "06a506a500070000", false},
		{"length zero", "06a506a500000000ffff", false},
		{"length beyond buffer", "06a506a5000a0000ff", false},
		{"trailing bytes ignored", "06a506a5000900000102", true},
	} {
		_, _, p, ok := ParseUDP(mustHex(c.in))
		if ok != c.ok {
			t.Errorf("%s: ok = %v", c.name, ok)
		}
		if ok && c.name == "trailing bytes ignored" && !bytes.Equal(p, []byte{1}) {
			t.Errorf("%s: payload %x", c.name, p)
		}
	}
}

func TestNATTFraming(t *testing.T) {
	if !IsKeepalive([]byte{0xff}) || IsKeepalive([]byte{0xff, 0}) || IsKeepalive(nil) || IsKeepalive([]byte{0}) {
		t.Error("IsKeepalive")
	}
	if !HasNonESPMarker([]byte{0, 0, 0, 0, 1}) || !HasNonESPMarker(make([]byte, 4)) ||
		HasNonESPMarker([]byte{0, 0, 0}) || HasNonESPMarker([]byte{0, 0, 0, 1, 0}) {
		t.Error("HasNonESPMarker")
	}
}

// The golden packets were built by an independent throwaway python3 script
// (struct + socket.inet_aton + a 16-bit RFC 1071 loop), not committed.
const (
	goldenICMP = "450000280000400040017d81c0a81e02c0a81e01080056bc123400076c32747063746c2070696e67"
	goldenUDP  = "4500002800004000401125330ac800020ac8000106a506a5001414d9c802000c0001000000010000"
)

func TestICMPEchoGolden(t *testing.T) {
	src, dst := netip.MustParseAddr("192.168.30.2"), netip.MustParseAddr("192.168.30.1")
	pkt := BuildICMPEcho(src, dst, 0x1234, 7, []byte("l2tpctl ping"))
	if got := hex.EncodeToString(pkt); got != goldenICMP {
		t.Fatalf("got  %s\nwant %s", got, goldenICMP)
	}
	e, ok := ParseICMPEcho(pkt)
	if !ok || e.Src != src || e.Dst != dst || e.Type != ICMPEchoRequest || e.ID != 0x1234 || e.Seq != 7 || string(e.Payload) != "l2tpctl ping" {
		t.Fatalf("ParseICMPEcho = %+v, %v", e, ok)
	}
	if d, ok := IPv4Dst(pkt); !ok || d != dst {
		t.Fatalf("IPv4Dst = %v %v", d, ok)
	}
	if s, ok := IPv4Src(pkt); !ok || s != src {
		t.Fatalf("IPv4Src = %v %v", s, ok)
	}
	r, ok := ParseICMPEcho(e.Reply())
	if !ok || r.Type != ICMPEchoReply || r.Src != dst || r.Dst != src || r.ID != e.ID || r.Seq != e.Seq || !bytes.Equal(r.Payload, e.Payload) {
		t.Fatalf("Reply parses as %+v, %v", r, ok)
	}
	// IPv4-mapped addresses are unmapped; IPv6 is refused.
	if !bytes.Equal(BuildICMPEcho(netip.AddrFrom16(src.As16()), dst, 0x1234, 7, []byte("l2tpctl ping")), pkt) {
		t.Error("4-in-6 source not unmapped")
	}
	if BuildICMPEcho(netip.MustParseAddr("::1"), dst, 1, 1, nil) != nil {
		t.Error("IPv6 source accepted")
	}
	if BuildICMPEcho(src, dst, 1, 1, make([]byte, 0xFFFF)) != nil {
		t.Error("oversized packet built")
	}
	// Corruptions.
	for _, c := range []struct {
		name string
		mod  func(p []byte)
	}{
		{"ip checksum", func(p []byte) { p[10] ^= 1 }},
		{"icmp checksum", func(p []byte) { p[22] ^= 1 }},
		{"payload", func(p []byte) { p[30] ^= 1 }},
		{"code", func(p []byte) {
			p[21] = 1
			binary.BigEndian.PutUint16(p[22:], 0)
			binary.BigEndian.PutUint16(p[22:], Checksum(p[20:], 0))
		}},
		{"type 3", func(p []byte) {
			p[20] = 3
			binary.BigEndian.PutUint16(p[22:], 0)
			binary.BigEndian.PutUint16(p[22:], Checksum(p[20:], 0))
		}},
		{"version 6", func(p []byte) { p[0] = 0x65 }},
		{"fragment", func(p []byte) {
			p[6] |= 0x20
			p[10], p[11] = 0, 0
			binary.BigEndian.PutUint16(p[10:], Checksum(p[:20], 0))
		}},
	} {
		p := append([]byte(nil), pkt...)
		c.mod(p)
		if _, ok := ParseICMPEcho(p); ok {
			t.Errorf("%s: accepted", c.name)
		}
	}
	for n := range len(pkt) {
		if _, ok := ParseICMPEcho(pkt[:n]); ok {
			t.Errorf("truncated to %d: accepted", n)
		}
	}
}

func TestUDPv4Golden(t *testing.T) {
	src, dst := netip.MustParseAddrPort("10.200.0.2:1701"), netip.MustParseAddrPort("10.200.0.1:1701")
	payload := mustHex("c802000c0001000000010000")
	pkt := BuildUDPv4(src, dst, payload)
	if got := hex.EncodeToString(pkt); got != goldenUDP {
		t.Fatalf("got  %s\nwant %s", got, goldenUDP)
	}
	s, d, p, ok := ParseUDPv4(pkt)
	if !ok || s != src || d != dst || !bytes.Equal(p, payload) {
		t.Fatalf("ParseUDPv4 = %v %v %x %v", s, d, p, ok)
	}
	bad := append([]byte(nil), pkt...)
	bad[len(bad)-1] ^= 1
	if _, _, _, ok := ParseUDPv4(bad); ok {
		t.Error("bad UDP checksum accepted")
	}
	binary.BigEndian.PutUint16(bad[26:], 0) // checksum 0: not verified
	if _, _, _, ok := ParseUDPv4(bad); !ok {
		t.Error("UDP checksum 0 rejected")
	}
	if _, _, _, ok := ParseUDPv4(mustHex(goldenICMP)); ok {
		t.Error("ICMP parsed as UDP")
	}
	if _, _, _, ok := ParseUDPv4(pkt[:len(pkt)-1]); ok {
		t.Error("truncated packet accepted")
	}
	if _, ok := ParseICMPEcho(BuildUDPv4(src, dst, nil)); ok {
		t.Error("UDP parsed as ICMP")
	}
}

// TestICMPEchoAppendBinary: the IPv4 identification is written and parsed
// back, and AppendBinary appends after what the buffer holds.
func TestICMPEchoAppendBinary(t *testing.T) {
	// Golden header (checksum computed independently with Python).
	const wantHdr = "450000230007400040017d77c0a81e0ac0a81e01"
	e := ICMPEcho{
		Src: netip.MustParseAddr("192.168.30.10"), Dst: netip.MustParseAddr("192.168.30.1"),
		Type: ICMPEchoRequest, ID: 0x1234, Seq: 7, IPID: 7, Payload: []byte("payload"),
	}
	b, err := e.AppendBinary([]byte{0xaa})
	if err != nil || b[0] != 0xaa {
		t.Fatalf("AppendBinary: % x, %v", b, err)
	}
	pkt := b[1:]
	if got := hex.EncodeToString(pkt[:IPv4HeaderLen]); got != wantHdr {
		t.Errorf("IPv4 header %s, want %s", got, wantHdr)
	}
	got, ok := ParseICMPEcho(pkt)
	if !ok || got.Src != e.Src || got.Dst != e.Dst || got.Type != e.Type || got.ID != e.ID || got.Seq != e.Seq ||
		got.IPID != e.IPID || !bytes.Equal(got.Payload, e.Payload) {
		t.Fatalf("ParseICMPEcho = %+v, %v", got, ok)
	}
	if r, ok := ParseICMPEcho(got.Reply()); !ok || r.IPID != 0 {
		t.Errorf("Reply: %+v, %v", r, ok)
	}
	e.Dst = netip.IPv6Loopback()
	if b, err := e.AppendBinary([]byte{1}); err == nil || !bytes.Equal(b, []byte{1}) {
		t.Errorf("IPv6 destination: % x, %v", b, err)
	}
	e.Dst, e.Payload = netip.MustParseAddr("192.168.30.1"), make([]byte, 0xFFFF)
	if b, err := e.AppendBinary(nil); err == nil || len(b) != 0 {
		t.Errorf("oversized: %d bytes, %v", len(b), err)
	}
}

func TestIPv4HeaderRoundTrip(t *testing.T) {
	h := IPv4Header{
		TOS: 0x10, TotalLen: 20, ID: 0xbeef, Flags: FlagMF, FragOff: 0x1abc, TTL: 3, Protocol: ProtoESP,
		Src: netip.MustParseAddr("1.2.3.4"), Dst: netip.MustParseAddr("5.6.7.8"),
	}
	b, err := h.AppendBinary([]byte{0xff})
	if err != nil {
		t.Fatal(err)
	}
	got, payload, ok := ParseIPv4(b[1:])
	h.Checksum, h.HeaderLen = got.Checksum, IPv4HeaderLen
	if !ok || got != h || len(payload) != 0 {
		t.Fatalf("ParseIPv4 = %+v %v, want %+v", got, ok, h)
	}
	if _, err := (&IPv4Header{Src: netip.IPv6Loopback(), Dst: h.Dst}).AppendBinary(nil); err == nil {
		t.Error("IPv6 address accepted")
	}
	// Options are skipped; total length shorter than the buffer trims it.
	opt := mustHex("4600001c000000004001000001020304050607080101010161626364ffff")
	binary.BigEndian.PutUint16(opt[10:], Checksum(opt[:24], 0))
	if h, p, ok := ParseIPv4(opt); !ok || h.HeaderLen != 24 || string(p) != "abcd" {
		t.Fatalf("with options: %+v %q %v", h, p, ok)
	}
	for _, bad := range []string{
		"4400001400000000400100000102030405060708", // IHL 4
		"4500001300000000400100000102030405060708", // total < header
		"4500001500000000400100000102030405060708", // total > buffer
	} {
		if _, _, ok := ParseIPv4(mustHex(bad)); ok {
			t.Errorf("%s accepted", bad)
		}
	}
	if _, ok := IPv4Dst(make([]byte, 19)); ok {
		t.Error("IPv4Dst: 19 bytes accepted")
	}
	if _, ok := IPv4Dst(append([]byte{0x60}, make([]byte, 39)...)); ok {
		t.Error("IPv4Dst: IPv6 accepted")
	}
}

func TestPutUDPHeaderNoAlloc(t *testing.T) {
	b := make([]byte, 64)
	if n := testing.AllocsPerRun(100, func() {
		PutUDPHeader(b, 1701, 1701, 56)
		ParseUDP(b)
		IPv4Dst(b)
		Checksum(b, 0)
	}); n != 0 {
		t.Errorf("%v allocs", n)
	}
}

// FuzzParseUDP: never panics; an accepted header re-encodes to the same
// bytes (except the checksum, which PutUDPHeader leaves 0).
func FuzzParseUDP(f *testing.F) {
	f.Add(mustHex("06a506a500140000c802000c0001000000010000"))
	f.Add(mustHex("06a506a5000900000102"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		src, dst, payload, ok := ParseUDP(b)
		if !ok {
			return
		}
		var hdr [UDPHeaderLen]byte
		PutUDPHeader(hdr[:], src, dst, len(payload))
		want := append([]byte(nil), b[:UDPHeaderLen]...)
		want[6], want[7] = 0, 0
		if !bytes.Equal(hdr[:], want) || !bytes.Equal(payload, b[UDPHeaderLen:UDPHeaderLen+len(payload)]) {
			t.Fatalf("re-encoded %x, input %x", hdr, b[:UDPHeaderLen])
		}
	})
}

// FuzzParseIPv4: never panics; an accepted option-less header re-encodes to
// the same 20 bytes (up to the checksum's two zeros), and ParseICMPEcho/ParseUDPv4 do not panic either.
func FuzzParseIPv4(f *testing.F) {
	f.Add(mustHex(goldenICMP))
	f.Add(mustHex(goldenUDP))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseICMPEcho(b)
		ParseUDPv4(b)
		h, _, ok := ParseIPv4(b)
		if !ok || h.HeaderLen != IPv4HeaderLen {
			return
		}
		out, err := h.AppendBinary(nil)
		if err != nil || Checksum(out, 0) != 0 {
			t.Fatalf("re-encoded %x: bad checksum (%v)", out, err)
		}
		// The checksum may legitimately differ: 0000 and ffff are both
		// one's-complement zero.
		in := append([]byte(nil), b[:IPv4HeaderLen]...)
		in[10], in[11], out[10], out[11] = 0, 0, 0, 0
		if !bytes.Equal(out, in) {
			t.Fatalf("re-encoded %x, input %x", out, in)
		}
	})
}

func TestTunnelIPv4(t *testing.T) {
	src, dst := netip.MustParseAddr("10.224.0.2"), netip.MustParseAddr("10.224.0.1")
	// Golden: 20-byte header for a 12-byte UDP datagram (hand-checked:
	// 4500 0020 0000 4000 4011 cksum 0ae00002 0ae00001).
	b := make([]byte, IPv4HeaderLen+12)
	PutTunnelIPv4(b, src, dst, 12)
	PutUDPHeader(b[IPv4HeaderLen:], PortL2TP, PortL2TP, 4)
	if got, want := hex.EncodeToString(b[:IPv4HeaderLen]), "45000020000040004011"+hex.EncodeToString(b[10:12])+"0ae000020ae00001"; got != want {
		t.Fatalf("header %s, want %s", got, want)
	}
	if Checksum(b[:IPv4HeaderLen], 0) != 0 {
		t.Fatalf("bad checksum in %x", b)
	}
	s, d, udp, ok := ParseTunnelIPv4(b)
	if !ok || s != src || d != dst || len(udp) != 12 {
		t.Fatalf("parse: %v %v %v %x", ok, s, d, udp)
	}
	if n := testing.AllocsPerRun(100, func() {
		PutTunnelIPv4(b, src, dst, 12)
		ParseTunnelIPv4(b)
	}); n != 0 {
		t.Fatalf("%v allocations", n)
	}
	bad := func(name string, mod func(p []byte)) {
		p := append([]byte(nil), b...)
		mod(p)
		if _, _, _, ok := ParseTunnelIPv4(p); ok {
			t.Errorf("%s: accepted %x", name, p)
		}
	}
	refresh := func(p []byte) {
		p[10], p[11] = 0, 0
		binary.BigEndian.PutUint16(p[10:], Checksum(p[:IPv4HeaderLen], 0))
	}
	bad("TCP", func(p []byte) { p[9] = 6; refresh(p) })
	bad("more fragments", func(p []byte) { p[6] = 0x20; refresh(p) })
	bad("fragment offset", func(p []byte) { p[7] = 1; refresh(p) })
	bad("checksum", func(p []byte) { p[10] ^= 1 })
	bad("version 6", func(p []byte) { p[0] = 0x65; refresh(p) })
	bad("too long", func(p []byte) { p[3] = 0x40; refresh(p) })
	if _, _, _, ok := ParseTunnelIPv4(b[:19]); ok {
		t.Error("accepted 19 bytes")
	}
}

// FuzzParseTunnelIPv4: never panics; what it accepts rebuilds to the same
// header when it had no options, DF and TTL 64.
func FuzzParseTunnelIPv4(f *testing.F) {
	b := make([]byte, IPv4HeaderLen+UDPHeaderLen)
	PutTunnelIPv4(b, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"), UDPHeaderLen)
	f.Add(b)
	f.Add(mustHex(goldenUDP))
	f.Fuzz(func(t *testing.T, p []byte) {
		src, dst, udp, ok := ParseTunnelIPv4(p)
		if !ok {
			return
		}
		if len(udp) > len(p) {
			t.Fatalf("payload %d bytes of %d", len(udp), len(p))
		}
		if p[0] != 0x45 || p[1] != 0 || p[4]|p[5] != 0 || p[6] != 0x40 || p[7] != 0 || p[8] != TunnelTTL {
			return
		}
		out := make([]byte, IPv4HeaderLen)
		PutTunnelIPv4(out, src, dst, len(udp))
		in := append([]byte(nil), p[:IPv4HeaderLen]...)
		in[10], in[11], out[10], out[11] = 0, 0, 0, 0
		if !bytes.Equal(in, out) {
			t.Fatalf("rebuilt %x, input %x", out, in)
		}
	})
}
