package gso

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/inet"
)

var (
	src4 = netip.MustParseAddr("10.229.9.2")
	dst4 = netip.MustParseAddr("10.229.9.1")
	src6 = netip.MustParseAddr("fe80::1")
	dst6 = netip.MustParseAddr("fe80::2")
)

// tcpPacket builds an IPv4 (or, with IPv6 addresses, IPv6) TCP segment
// with valid checksums.
type tcpPacket struct {
	src, dst netip.Addr
	sport    uint16
	seq, ack uint32
	flags    uint8
	win      uint16
	id       uint16
	ttl      uint8
	opts     []byte // a multiple of 4 bytes
	payload  []byte
}

func (t tcpPacket) build() []byte {
	v6 := t.src.Is6()
	ipLen := ipv4HeaderLen
	if v6 {
		ipLen = ipv6HeaderLen
	}
	tcpLen := tcpHeaderLen + len(t.opts)
	p := make([]byte, ipLen+tcpLen+len(t.payload))
	ttl := t.ttl
	if ttl == 0 {
		ttl = 64
	}
	if v6 {
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(len(p)-ipLen))
		p[6], p[7] = protoTCP, ttl
		s, d := t.src.As16(), t.dst.As16()
		copy(p[8:], s[:])
		copy(p[24:], d[:])
	} else {
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		binary.BigEndian.PutUint16(p[4:], t.id)
		p[6] = 0x40 // DF
		p[8], p[9] = ttl, protoTCP
		s, d := t.src.As4(), t.dst.As4()
		copy(p[12:], s[:])
		copy(p[16:], d[:])
		binary.BigEndian.PutUint16(p[10:], inet.Checksum(p[:ipLen], 0))
	}
	tcp := p[ipLen:]
	sport := t.sport
	if sport == 0 {
		sport = 40000
	}
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	binary.BigEndian.PutUint32(tcp[4:], t.seq)
	binary.BigEndian.PutUint32(tcp[8:], t.ack)
	tcp[12] = byte(tcpLen/4) << 4
	tcp[13] = t.flags
	binary.BigEndian.PutUint16(tcp[14:], t.win)
	copy(tcp[tcpHeaderLen:], t.opts)
	copy(tcp[tcpLen:], t.payload)
	binary.BigEndian.PutUint16(tcp[16:], ^sum(tcp, pseudoSum(p, v6, len(tcp))))
	return p
}

// valid reports whether the IP and TCP checksums of p verify.
func valid(t *testing.T, p []byte) bool {
	t.Helper()
	info := parseSegAny(p)
	if info.ipLen == 0 {
		t.Fatalf("not a TCP packet: %x", p)
	}
	return checksumOK(p, &info)
}

// parseSegAny is parseSeg without the flag and payload conditions.
func parseSegAny(p []byte) segInfo {
	var s segInfo
	if p[0]>>4 == 6 {
		s.ipLen, s.v6 = ipv6HeaderLen, true
	} else {
		s.ipLen = int(p[0]&0xF) * 4
	}
	s.hdrLen = s.ipLen + int(p[s.ipLen+12]>>4)*4
	s.plen = len(p) - s.hdrLen
	return s
}

func payloadOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

var tsOpt = []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2} // NOP NOP timestamps

func TestHdrCodec(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden vector is little-endian (the host's order)")
	}
	h := Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, HdrLen: 52, GSOSize: 1448, CsumStart: 20, CsumOffset: 16}
	want, _ := hex.DecodeString("0101" + "3400" + "a805" + "1400" + "1000")
	got, err := h.AppendBinary(nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("AppendBinary = %x, %v; want %x", got, err, want)
	}
	var back Hdr
	if err := back.UnmarshalBinary(got); err != nil || back != h {
		t.Fatalf("UnmarshalBinary = %+v, %v; want %+v", back, err, h)
	}
	if err := back.UnmarshalBinary(got[:HdrLen-1]); !errors.Is(err, ErrShort) {
		t.Fatalf("short header: %v", err)
	}
}

func TestSplitTCP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		gso      uint8
		opts     []byte
		plen     int
		mss      int
		flags    uint8
		wantSegs []int // payload per segment
	}{
		{"v4 even", src4, dst4, GSOTCPv4, nil, 3000, 1000, tcpACK | tcpPSH, []int{1000, 1000, 1000}},
		{"v4 short last, options", src4, dst4, GSOTCPv4, tsOpt, 3500, 1000, tcpACK | tcpPSH | tcpFIN | tcpCWR, []int{1000, 1000, 1000, 500}},
		{"v4 one segment", src4, dst4, GSOTCPv4, nil, 500, 1448, tcpACK, []int{500}},
		{"v4 no payload", src4, dst4, GSOTCPv4, nil, 0, 1448, tcpACK, []int{0}},
		{"v4 64 KiB", src4, dst4, GSOTCPv4 | GSOECN, tsOpt, 65535 - 52, 1448, tcpACK | tcpCWR, nil},
		{"v6", src6, dst6, GSOTCPv6, tsOpt, 4000, 1428, tcpACK | tcpPSH, []int{1428, 1428, 1144}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := payloadOf(tc.plen)
			in := tcpPacket{src: tc.src, dst: tc.dst, seq: 0xFFFFF000, ack: 77, flags: tc.flags, win: 500, id: 0xFFFE, opts: tc.opts, payload: pl}.build()
			orig := bytes.Clone(in)
			ipLen := 20
			if tc.src.Is6() {
				ipLen = 40
			}
			// The kernel leaves the pseudo-header sum in the checksum field
			// and an hdr_len that may be too large: neither is used.
			h := Hdr{Flags: FlagNeedsCsum, GSOType: tc.gso, HdrLen: 999, GSOSize: uint16(tc.mss), CsumStart: uint16(ipLen), CsumOffset: 16}
			s, err := Split(h, in)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.wantSegs
			if want == nil {
				for n := tc.plen; n > 0; n -= tc.mss {
					want = append(want, min(n, tc.mss))
				}
			}
			if s.Len() != len(want) {
				t.Fatalf("Len = %d, want %d", s.Len(), len(want))
			}
			hdrLen := ipLen + 20 + len(tc.opts)
			var got []byte
			for i := range s.Len() {
				dst := make([]byte, s.Size(i))
				if n := s.Put(dst, i); n != hdrLen+want[i] || n != len(dst) {
					t.Fatalf("segment %d: %d bytes, Size %d, want %d", i, n, len(dst), hdrLen+want[i])
				}
				if !valid(t, dst) {
					t.Errorf("segment %d: bad checksum", i)
				}
				tcp := dst[ipLen:]
				if seq := binary.BigEndian.Uint32(tcp[4:]); seq != 0xFFFFF000+uint32(i*tc.mss) {
					t.Errorf("segment %d: seq %#x", i, seq)
				}
				wantFlags := tc.flags
				if i < len(want)-1 {
					wantFlags &^= tcpFIN | tcpPSH
				}
				if i > 0 {
					wantFlags &^= tcpCWR
				}
				if tcp[13] != wantFlags {
					t.Errorf("segment %d: flags %#x, want %#x", i, tcp[13], wantFlags)
				}
				if !tc.src.Is6() {
					if tl := binary.BigEndian.Uint16(dst[2:]); int(tl) != len(dst) {
						t.Errorf("segment %d: total length %d", i, tl)
					}
					if id := binary.BigEndian.Uint16(dst[4:]); id != 0xFFFE+uint16(i) {
						t.Errorf("segment %d: ID %#x", i, id)
					}
				} else if pl := binary.BigEndian.Uint16(dst[4:]); int(pl) != len(dst)-40 {
					t.Errorf("segment %d: payload length %d", i, pl)
				}
				if !bytes.Equal(dst[ipLen+20:hdrLen], tc.opts) && len(tc.opts) > 0 {
					t.Errorf("segment %d: options %x", i, dst[ipLen+20:hdrLen])
				}
				got = append(got, dst[hdrLen:]...)
			}
			if !bytes.Equal(got, pl) {
				t.Error("the segments' payloads are not the packet's")
			}
			if !bytes.Equal(in, orig) {
				t.Error("Split or Put changed the packet")
			}
		})
	}
}

func TestSplitNeedsCsum(t *testing.T) {
	// A UDP datagram as the kernel hands it with checksum offload: the
	// pseudo-header sum (folded, not complemented) in the checksum field.
	pkt := inet.BuildUDPv4(netip.AddrPortFrom(src4, 1000), netip.AddrPortFrom(dst4, 2000), payloadOf(333))
	good := bytes.Clone(pkt)
	udp := pkt[20:]
	binary.BigEndian.PutUint16(udp[6:], ^inet.Checksum(nil, inet.PseudoHeaderSum(src4, dst4, 17, len(udp))))
	s, err := Split(Hdr{Flags: FlagNeedsCsum, CsumStart: 20, CsumOffset: 6}, pkt)
	if err != nil || s.Len() != 1 || s.Size(0) != len(pkt) {
		t.Fatalf("Split: %v, %d segments", err, s.Len())
	}
	out := make([]byte, s.Size(0))
	s.Put(out, 0)
	if !bytes.Equal(out, good) {
		t.Fatalf("checksum %x, want %x", out[26:28], good[26:28])
	}
	// Without the flag the packet is taken as it is.
	s, err = Split(Hdr{}, good[:21])
	if err != nil || s.Len() != 1 || s.Size(0) != 21 {
		t.Fatalf("plain packet: %v, %d", err, s.Len())
	}
}

func TestSplitErrors(t *testing.T) {
	tcp4 := tcpPacket{src: src4, dst: dst4, flags: tcpACK, payload: payloadOf(100)}.build()
	frag := bytes.Clone(tcp4)
	frag[6] |= 0x20 // MF
	udp := inet.BuildUDPv4(netip.AddrPortFrom(src4, 1), netip.AddrPortFrom(dst4, 2), []byte("x"))
	badDoff := bytes.Clone(tcp4)
	badDoff[32] = 0x40 // 16 bytes
	longDoff := bytes.Clone(tcp4)[:60]
	longDoff[32] = 0xF0
	tcp6 := tcpPacket{src: src6, dst: dst6, flags: tcpACK, payload: payloadOf(10)}.build()
	for _, tc := range []struct {
		name string
		h    Hdr
		pkt  []byte
		want error
	}{
		{"empty", Hdr{}, nil, ErrShort},
		{"UDP GSO", Hdr{GSOType: GSOUDP, GSOSize: 100}, udp, ErrGSOType},
		{"unknown type", Hdr{GSOType: 9, GSOSize: 100}, tcp4, ErrGSOType},
		{"csum past the end", Hdr{Flags: FlagNeedsCsum, CsumStart: 20, CsumOffset: 1000}, tcp4, ErrChecksum},
		{"csum start past the end", Hdr{Flags: FlagNeedsCsum, CsumStart: 1000}, tcp4, ErrChecksum},
		{"GSO size 0", Hdr{GSOType: GSOTCPv4}, tcp4, ErrHeader},
		{"v4 type, v6 packet", Hdr{GSOType: GSOTCPv4, GSOSize: 10}, tcp6, ErrHeader},
		{"v6 type, v4 packet", Hdr{GSOType: GSOTCPv6, GSOSize: 10}, tcp4, ErrHeader},
		{"not TCP", Hdr{GSOType: GSOTCPv4, GSOSize: 10}, udp, ErrHeader},
		{"fragment", Hdr{GSOType: GSOTCPv4, GSOSize: 10}, frag, ErrHeader},
		{"TCP header short", Hdr{GSOType: GSOTCPv4, GSOSize: 10}, badDoff, ErrHeader},
		{"TCP header past the end", Hdr{GSOType: GSOTCPv4, GSOSize: 10}, longDoff, ErrHeader},
		{"truncated IP", Hdr{GSOType: GSOTCPv4, GSOSize: 10}, tcp4[:30], ErrHeader},
		{"segment too long", Hdr{GSOType: GSOTCPv4, GSOSize: 65500}, tcp4, ErrHeader},
	} {
		if _, err := Split(tc.h, tc.pkt); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// segments splits a payload of n bytes into packets of mss, as a sender
// would send them (PSH on the last).
func segments(base tcpPacket, n, mss int) [][]byte {
	var out [][]byte
	pl := payloadOf(n)
	for off := 0; off < n; off += mss {
		p := base
		p.seq = base.seq + uint32(off)
		p.id = base.id + uint16(len(out))
		p.payload = pl[off:min(off+mss, n)]
		if off+mss < n {
			p.flags &^= tcpPSH
		}
		out = append(out, p.build())
	}
	return out
}

func TestCoalesce(t *testing.T) {
	a := tcpPacket{src: src4, dst: dst4, seq: 1000, ack: 5, flags: tcpACK | tcpPSH, win: 300, opts: tsOpt}
	b := a
	b.sport = 40001
	six := tcpPacket{src: src6, dst: dst6, seq: 1, ack: 5, flags: tcpACK, win: 300}
	seg := func(p tcpPacket, seq uint32, n int) []byte {
		p.seq, p.payload = seq, payloadOf(n)
		return p.build()
	}
	pure := a
	pure.flags = tcpACK
	withFlags := func(p tcpPacket, f uint8) tcpPacket { p.flags = f; return p }
	mod := func(pkt []byte, f func([]byte)) []byte { f(pkt); return pkt }
	for _, tc := range []struct {
		name string
		pkts [][]byte
		want [][]int // packet indexes per group
	}{
		{"one flow", segments(a, 4000, 1000), [][]int{{0, 1, 2, 3}}},
		{"short last", segments(a, 3500, 1000), [][]int{{0, 1, 2, 3}}},
		{"two flows interleaved", [][]byte{seg(pure, 1000, 100), seg(withFlags(b, tcpACK), 1000, 100), seg(pure, 1100, 100), seg(withFlags(b, tcpACK), 1100, 100)}, [][]int{{0, 2}, {1, 3}}},
		{"PSH ends a merge", [][]byte{seg(a, 1000, 100), seg(pure, 1100, 100)}, [][]int{{0}, {1}}},
		{"shorter ends a merge", [][]byte{seg(pure, 1000, 100), seg(pure, 1100, 50), seg(pure, 1150, 50)}, [][]int{{0, 1}, {2}}},
		{"longer never follows", [][]byte{seg(pure, 1000, 100), seg(pure, 1100, 200)}, [][]int{{0}, {1}}},
		{"gap", [][]byte{seg(pure, 1000, 100), seg(pure, 1200, 100)}, [][]int{{0}, {1}}},
		{"retransmission", [][]byte{seg(pure, 1000, 100), seg(pure, 1000, 100)}, [][]int{{0}, {1}}},
		{"other ACK number", [][]byte{seg(pure, 1000, 100), mod(seg(pure, 1100, 100), func(p []byte) { p[31]++ })}, [][]int{{0}, {1}}},
		{"pure ACK not merged", [][]byte{seg(pure, 1000, 0), seg(pure, 1000, 0)}, [][]int{{0}, {1}}},
		{"FIN not merged", [][]byte{seg(pure, 1000, 100), seg(withFlags(a, tcpACK|tcpFIN), 1100, 100)}, [][]int{{0}, {1}}},
		{"CWR not merged", [][]byte{seg(withFlags(a, tcpACK|tcpCWR), 1000, 100), seg(pure, 1100, 100)}, [][]int{{0}, {1}}},
		{"other TTL", [][]byte{seg(pure, 1000, 100), seg(tcpPacket{src: src4, dst: dst4, ack: 5, flags: tcpACK, win: 300, opts: tsOpt, ttl: 3}, 1100, 100)}, [][]int{{0}, {1}}},
		{"other options", [][]byte{seg(pure, 1000, 100), seg(tcpPacket{src: src4, dst: dst4, ack: 5, flags: tcpACK, win: 300, opts: []byte{1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2}}, 1100, 100)}, [][]int{{0}, {1}}},
		{"bad checksum of the second", [][]byte{seg(pure, 1000, 100), mod(seg(pure, 1100, 100), func(p []byte) { p[len(p)-1]++ }), seg(pure, 1200, 100)}, [][]int{{0}, {1}, {2}}},
		{"bad checksum of the first", [][]byte{mod(seg(pure, 1000, 100), func(p []byte) { p[len(p)-1]++ }), seg(pure, 1100, 100)}, [][]int{{0}, {1}}},
		{"not TCP between", [][]byte{seg(pure, 1000, 100), inet.BuildUDPv4(netip.AddrPortFrom(src4, 1), netip.AddrPortFrom(dst4, 2), []byte("x")), seg(pure, 1100, 100)}, [][]int{{0, 2}, {1}}},
		{"IPv6", segments(six, 3000, 1000), [][]int{{0, 1, 2}}},
		{"garbage", [][]byte{{0x45}, {}, {0x60, 1, 2}}, [][]int{{0}, {1}, {2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := make([][]byte, len(tc.pkts))
			for i, p := range tc.pkts {
				orig[i] = bytes.Clone(p)
			}
			c := NewCoalescer(len(tc.pkts))
			n := c.Plan(tc.pkts)
			if n != len(tc.want) {
				t.Fatalf("%d groups, want %d", n, len(tc.want))
			}
			for k, members := range tc.want {
				if c.First(k) != members[0] || c.Count(k) != len(members) {
					t.Fatalf("group %d: first %d count %d, want %v", k, c.First(k), c.Count(k), members)
				}
				dst := make([]byte, c.Size(k))
				if got := c.Build(dst, k); got != len(dst) {
					t.Fatalf("group %d: Build %d bytes, Size %d", k, got, len(dst))
				}
				var h Hdr
				h.UnmarshalBinary(dst)
				pkt := dst[HdrLen:]
				if len(members) == 1 {
					if h != (Hdr{}) || !bytes.Equal(pkt, orig[members[0]]) {
						t.Errorf("group %d: %+v %x, want the packet as it was", k, h, pkt)
					}
					continue
				}
				// The merge must split back into the very packets it
				// was made of (the kernel's segmentation, modelled by
				// Split), after the checksum is completed.
				s, err := Split(h, bytes.Clone(pkt))
				if err != nil || s.Len() != len(members) {
					t.Fatalf("group %d: Split: %v, %d segments, want %d", k, err, s.Len(), len(members))
				}
				if h.Flags != FlagNeedsCsum || int(h.CsumStart)+int(h.CsumOffset) != parseSegAny(pkt).ipLen+16 {
					t.Errorf("group %d: header %+v", k, h)
				}
				for i, m := range members {
					seg := make([]byte, s.Size(i))
					s.Put(seg, i)
					want := orig[m]
					if !bytes.Equal(seg[parseSegAny(seg).ipLen:], want[parseSegAny(want).ipLen:]) {
						t.Errorf("group %d, segment %d: TCP differs:\n got %x\nwant %x", k, i, seg, want)
					}
				}
			}
		})
	}
}

func TestSplitCoalesceRoundTrip(t *testing.T) {
	for _, mss := range []int{1, 536, 1360, 1448, 9000} {
		in := tcpPacket{src: src4, dst: dst4, seq: 7, ack: 9, flags: tcpACK | tcpPSH, win: 100, opts: tsOpt, payload: payloadOf(60000)}.build()
		s, err := Split(Hdr{GSOType: GSOTCPv4, GSOSize: uint16(mss)}, in)
		if err != nil {
			t.Fatal(err)
		}
		segs := make([][]byte, s.Len())
		for i := range segs {
			segs[i] = make([]byte, s.Size(i))
			s.Put(segs[i], i)
		}
		c := NewCoalescer(len(segs))
		if n := c.Plan(segs); n != 1 {
			t.Fatalf("mss %d: %d groups, want 1", mss, n)
		}
		out := make([]byte, c.Size(0))
		c.Build(out, 0)
		// The merge equals the original but for the checksum field, which
		// holds the pseudo-header sum.
		got := out[HdrLen:]
		csum := func(p []byte) []byte { return p[36:38] }
		if !bytes.Equal(got[:36], in[:36]) || !bytes.Equal(got[38:], in[38:]) {
			t.Fatalf("mss %d: merge differs from the original", mss)
		}
		want := ^inet.Checksum(nil, inet.PseudoHeaderSum(src4, dst4, protoTCP, len(in)-20))
		if binary.BigEndian.Uint16(csum(got)) != want {
			t.Errorf("mss %d: checksum field %x, want the pseudo-header sum %04x", mss, csum(got), want)
		}
	}
}

func TestSum(t *testing.T) {
	b := payloadOf(1501)
	for n := range len(b) {
		for _, init := range []uint32{0, 0xFFFF, 0x1FFFE, 0xFFFFFFF} {
			if got, want := ^sum(b[:n], uint64(init)), inet.Checksum(b[:n], init); got != want {
				t.Fatalf("len %d init %#x: %04x, want %04x", n, init, got, want)
			}
		}
	}
	ones := bytes.Repeat([]byte{0xFF}, 4096)
	if got := sum(ones, 0xFFFFFFFF); got != 0xFFFF {
		t.Fatalf("all ones: %04x", got)
	}
}

func TestZeroAllocs(t *testing.T) {
	in := tcpPacket{src: src4, dst: dst4, seq: 7, ack: 9, flags: tcpACK, win: 100, opts: tsOpt, payload: payloadOf(64000)}.build()
	seg := make([]byte, 1500)
	segs := make([][]byte, 8)
	for i := range segs {
		segs[i] = make([]byte, 1500)
	}
	c := NewCoalescer(len(segs))
	out := make([]byte, HdrLen+MaxCoalesced)
	n := testing.AllocsPerRun(100, func() {
		s, _ := Split(Hdr{GSOType: GSOTCPv4, GSOSize: 1448}, in)
		for i := range s.Len() {
			s.Put(seg, i)
		}
		for i := range segs {
			segs[i] = segs[i][:s.Put(segs[i][:cap(segs[i])], i)]
		}
		for k := range c.Plan(segs) {
			c.Build(out, k)
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per split and coalesce, want 0", n)
	}
}

// FuzzSplitCoalesce: Split never panics on any header and packet; what
// it accepts splits into packets with valid checksums, and those
// coalesce back into merges that split into the same packets. Plan and
// Build never panic on any batch either (the packet cut into pieces).
func FuzzSplitCoalesce(f *testing.F) {
	for _, mss := range []uint16{100, 1448} {
		for _, p := range []tcpPacket{
			{src: src4, dst: dst4, seq: 1, flags: tcpACK | tcpPSH, opts: tsOpt, payload: payloadOf(3000)},
			{src: src6, dst: dst6, seq: 1, flags: tcpACK, payload: payloadOf(1000)},
		} {
			h := Hdr{Flags: FlagNeedsCsum, GSOType: GSOTCPv4, GSOSize: mss, CsumStart: 20, CsumOffset: 16}
			if p.src.Is6() {
				h.GSOType, h.CsumStart = GSOTCPv6, 40
			}
			b, _ := h.AppendBinary(nil)
			f.Add(append(b, p.build()...))
		}
	}
	f.Add(append(make([]byte, HdrLen), inet.BuildUDPv4(netip.AddrPortFrom(src4, 1), netip.AddrPortFrom(dst4, 2), []byte("x"))...))
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, data []byte) {
	{
		var h Hdr
		if h.UnmarshalBinary(data) != nil {
			return
		}
		pkt := bytes.Clone(data[HdrLen:])
		// Any batch: the packet in pieces.
		var pieces [][]byte
		for rest := pkt; len(rest) > 0; {
			n := min(len(rest), 1+int(rest[0])%80)
			pieces = append(pieces, bytes.Clone(rest[:n]))
			rest = rest[n:]
		}
		pieces = append(pieces, bytes.Clone(pkt))
		c := NewCoalescer(len(pieces))
		buf := make([]byte, HdrLen+MaxCoalesced)
		for k := range c.Plan(pieces) {
			c.Build(buf, k)
		}

		s, err := Split(h, pkt)
		if err != nil || h.GSOType == GSONone || s.Len() > 4096 {
			return
		}
		segs := make([][]byte, s.Len())
		for i := range segs {
			segs[i] = make([]byte, s.Size(i))
			if n := s.Put(segs[i], i); n != len(segs[i]) {
				t.Fatalf("segment %d: Put %d, Size %d", i, n, len(segs[i]))
			}
			if !checksumOK(segs[i], new(parseSegAny(segs[i]))) {
				t.Fatalf("segment %d: bad checksum", i)
			}
		}
		c = NewCoalescer(len(segs))
		for k := range c.Plan(segs) {
			n := c.Build(buf, k)
			if c.Count(k) == 1 {
				if !bytes.Equal(buf[HdrLen:n], segs[c.First(k)]) {
					t.Fatalf("group %d: a single packet changed", k)
				}
				continue
			}
			var mh Hdr
			mh.UnmarshalBinary(buf)
			again, err := Split(mh, bytes.Clone(buf[HdrLen:n]))
			if err != nil || again.Len() != c.Count(k) {
				t.Fatalf("group %d: merge splits into %d (%v), want %d", k, again.Len(), err, c.Count(k))
			}
			for i := range again.Len() {
				seg := make([]byte, again.Size(i))
				again.Put(seg, i)
				if want := segs[c.First(k)+i]; !bytes.Equal(seg, want) {
					t.Fatalf("group %d segment %d:\n got %x\nwant %x", k, i, seg, want)
				}
			}
		}
	}
}
