package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/esp"
	"github.com/l2tpctl/l2tpctl/proto/inet"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/tunnel/internal/nettest"
	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

func TestEncapDecapRoundTrip(t *testing.T) {
	for _, s := range testSuites {
		for _, size := range []int{28, 64, 511, 512, 1400, 1500} {
			t.Run(fmt.Sprintf("%s/%d", s.name, size), func(t *testing.T) {
				out := newSA(t, s.t, 7, 2)
				in := newSA(t, s.t, 7, 2)
				p := ping(size, uint16(size))
				pkt := encapIPv4(t, p, out, serverTunnel, serverSess)
				kind, payload, err := decapsulate(pkt, in, serverTunnel, serverSess, nil)
				if err != nil || kind != kindIPv4 || !bytes.Equal(payload, p) {
					t.Fatalf("decapsulate = %v, %d bytes, %v", kind, len(payload), err)
				}
			})
		}
	}
}

func TestDecapsulateControl(t *testing.T) {
	tr := testSuites[0].t
	out, in := newSA(t, tr, 9, 3), newSA(t, tr, 9, 3)

	zlb := l2tpControl(clientTunnel, 1, 2)
	kind, payload, err := decapsulate(sealL2TP(t, zlb, out), in, 0, 0, nil)
	if err != nil || kind != kindL2TP || !bytes.Equal(payload, zlb) {
		t.Errorf("L2TP control: %v % x %v", kind, payload, err)
	}
	kind, payload, err = decapsulate(sealPPP(t, lcpEchoRequest, out, clientTunnel, clientSess), in, clientTunnel, clientSess, nil)
	if err != nil || kind != kindPPP || !bytes.Equal(payload, lcpEchoRequest) {
		t.Errorf("PPP control: %v % x %v", kind, payload, err)
	}
	// ACFC-compressed frame (no FF 03): forwarded as received.
	acfc := lcpEchoRequest[2:]
	kind, payload, err = decapsulate(sealPPP(t, acfc, out, clientTunnel, clientSess), in, clientTunnel, clientSess, nil)
	if err != nil || kind != kindPPP || !bytes.Equal(payload, acfc) {
		t.Errorf("ACFC PPP control: %v % x %v", kind, payload, err)
	}
	// IPv4 from a peer we Acked ACFC and PFC for: FF 03 and the high
	// protocol byte may be left out (RFC 1661 §6.5, §6.6).
	p := ping(64, 7)
	for _, hdr := range [][]byte{{0x00, 0x21}, {0x21}, {0xff, 0x03, 0x21}} {
		kind, payload, err = decapsulate(sealPPP(t, append(slices.Clone(hdr), p...), out, clientTunnel, clientSess), in, clientTunnel, clientSess, nil)
		if err != nil || kind != kindIPv4 || !bytes.Equal(payload, p) {
			t.Errorf("IPv4 after % x: %v, %d bytes, %v", hdr, kind, len(payload), err)
		}
	}
}

func TestDecapsulateDrops(t *testing.T) {
	tr := testSuites[2].t
	out, in := newSA(t, tr, 11, 4), newSA(t, tr, 11, 4)
	other := newSA(t, tr, 11, 99) // same SPI, other keys
	p := ping(64, 1)

	seal := func(payload []byte, nh byte) []byte {
		buf := make([]byte, 4096)
		copy(buf[64:], payload)
		pkt, err := out.Seal(buf, 64, len(payload), nh)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(pkt)
	}
	badICV := encapIPv4(t, p, out, clientTunnel, clientSess)
	badICV[len(badICV)-1] ^= 1
	replayed := encapIPv4(t, p, out, clientTunnel, clientSess)
	replayedCopy := slices.Clone(replayed)
	udp := make([]byte, 8)
	inet.PutUDPHeader(udp, 1701, 1701, 100) // length beyond the packet

	tests := []struct {
		name           string
		pkt            []byte
		local, session uint16
		err            error
	}{
		{"bad ICV", badICV, clientTunnel, clientSess, esp.ErrAuth},
		{"wrong keys", encapIPv4(t, p, other, clientTunnel, clientSess), clientTunnel, clientSess, esp.ErrAuth},
		{"short", []byte{0, 0, 0, 11, 0, 0, 0, 1}, clientTunnel, clientSess, esp.ErrShort},
		{"first use", replayed, clientTunnel, clientSess, nil},
		{"replay", replayedCopy, clientTunnel, clientSess, esp.ErrReplay},
		{"stale session", encapIPv4(t, p, out, clientTunnel, clientSess-1), clientTunnel, clientSess, errWrongSession},
		{"stale tunnel", encapIPv4(t, p, out, clientTunnel+1, clientSess), clientTunnel, clientSess, errWrongSession},
		{"no session yet", encapIPv4(t, p, out, 0, 0), 0, 0, errWrongSession},
		{"next header IPv4", seal(p, 4), clientTunnel, clientSess, errNextHeader},
		{"dummy", seal(nil, esp.NextHeaderDummy), clientTunnel, clientSess, errDummy},
		{"inner UDP length", seal(udp, esp.NextHeaderUDP), clientTunnel, clientSess, errInnerUDP},
		{"L2TP version", sealL2TP(t, []byte{0x00, 0x03, 0, 1, 0, 2}, out), clientTunnel, clientSess, l2tp.ErrMalformed},
		{"PPP frame", sealPPP(t, []byte{0xff, 0x03, 0x00}, out, clientTunnel, clientSess), clientTunnel, clientSess, errPPPFrame},
		{"not IPv4", sealPPP(t, append([]byte{0xff, 0x03, 0x00, 0x21}, make([]byte, 40)...), out, clientTunnel, clientSess), clientTunnel, clientSess, errNotIPv4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := decapsulate(tt.pkt, in, tt.local, tt.session, nil)
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
}

// TestDataPathLossyNetwork: duplicated and reordered ESP from the server
// reaches the TUN exactly once per packet (the replay window drops copies).
func TestDataPathLossyNetwork(t *testing.T) {
	r := newRig(t, nettest.DuplicateEvery(3), nettest.ReorderEvery(4))
	r.up()
	const n = 40
	for seq := uint16(1); seq <= n; seq++ {
		r.serverSend(r.natt, encapIPv4(t, ping(64, seq), r.srvOut, clientTunnel, clientSess))
	}
	seen := map[uint16]int{}
	for len(seen) < n-1 { // the last one may be held back for reordering
		select {
		case p := <-r.tun.Inbound:
			e, ok := tuntest.ParseICMPEcho(p)
			if !ok {
				t.Fatalf("garbage on the TUN: % x", p)
			}
			seen[e.Seq]++
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d of %d packets", len(seen), n)
		}
	}
	for seq, c := range seen {
		if c != 1 {
			t.Errorf("packet %d delivered %d times", seq, c)
		}
	}
	// 13 of 40 are duplicated, except the 3 that are also held back (12, 24, 36).
	r.waitStats("duplicates", func(s dataStats) bool { return s.RxESPReplay == 10 })
}

// TestReadUDPStops: a reader blocked handing a control message to a
// control loop that has gone returns once stop is closed, even though the
// socket is already closed (the shutdown order in Run).
func TestReadUDPStops(t *testing.T) {
	r := newRig(t)
	r.serverSend(r.ike, append(ikeHeader(fuzzCookie, ""), "nobody will receive this"...))
	for r.client.Pending() > 0 { // wait until readUDP took it; it then blocks handing it over
		time.Sleep(time.Millisecond)
	}
	r.client.Close()
	r.tun.Close()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		t.Fatal("readers ended before stop was closed (the message was dropped?)")
	case <-time.After(50 * time.Millisecond):
	}
	close(r.stop)
	r.stopClosed = true
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("readUDP did not return after stop was closed")
	}
}

// TestWithHeadroom: a packet inside a buffer, however sliced, comes back
// with the bytes in front of it; anything else is refused.
func TestWithHeadroom(t *testing.T) {
	buf := make([]byte, 100)
	for i := range buf {
		buf[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		p    []byte
		ok   bool
	}{
		{"sliced", buf[40:60], true},
		{"capacity limited", buf[40:60:60], true},
		{"at the headroom's edge", buf[10:20], true},
		{"too little room", buf[9:20], false},
		{"another buffer", make([]byte, 20), false},
		{"empty", buf[40:40], false},
	} {
		got, ok := withHeadroom(buf, tc.p, 10)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if ok && (len(got) != len(tc.p)+10 || &got[10] != &tc.p[0]) {
			t.Errorf("%s: %d bytes, not p behind 10", tc.name, len(got))
		}
	}
}

// recordTUN records what is written to it.
type recordTUN struct {
	discardTUN
	got [][]byte
}

func (r *recordTUN) Write(bufs [][]byte, off int) (int, error) {
	for _, b := range bufs {
		r.got = append(r.got, bytes.Clone(b[off:]))
	}
	return len(bufs), nil
}

// TestQueueTUNCopies: a packet that does not lie in the reader's buffer
// is copied to a pooled buffer with room in front, written with the
// others, and the buffer goes back to the pool after the flush.
func TestQueueTUNCopies(t *testing.T) {
	d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
	tun := &recordTUN{}
	d.setTUN(tun)
	buf := make([]byte, 200)
	r := newUDPReader(d, buf, nil, nil)
	a, b := ping(100, 1), ping(120, 2)
	copy(buf[50:], a)
	r.queueTUN(buf[50 : 50+len(a)])
	r.queueTUN(b)
	if d.bufsHeld.Load() != 1 {
		t.Errorf("%d buffers held, want 1 (the copy's)", d.bufsHeld.Load())
	}
	r.flushTUN()
	if len(tun.got) != 2 || !bytes.Equal(tun.got[0], a) || !bytes.Equal(tun.got[1], b) {
		t.Fatalf("written %d packets", len(tun.got))
	}
	if d.bufsHeld.Load() != 0 {
		t.Errorf("%d buffers held after the flush", d.bufsHeld.Load())
	}
	if s := d.stats(); s.RxPackets != 2 || s.RxBytes != uint64(len(a)+len(b)) {
		t.Errorf("stats %+v", s)
	}
}

// failTUN writes the first packet of each Write and fails the rest.
type failTUN struct{ discardTUN }

func (failTUN) Write(bufs [][]byte, _ int) (int, error) {
	if len(bufs) <= 1 {
		return len(bufs), nil
	}
	return 1, errors.New("tun: no buffer space")
}

// TestFlushTUNErrors: packets a TUN Write could not write are counted as
// TUN errors, the rest as received; the queue is empty afterwards.
func TestFlushTUNErrors(t *testing.T) {
	d := newDataPath(discardConn{}, serverIKE, serverNATT, nil)
	d.setTUN(failTUN{})
	buf := make([]byte, 1000)
	r := newUDPReader(d, buf, nil, nil)
	for i := range 3 {
		p := ping(100, uint16(i))
		copy(buf[100+i*200:], p)
		r.queueTUN(buf[100+i*200 : 100+i*200+len(p)])
	}
	r.flushTUN()
	if s := d.stats(); s.RxPackets != 1 || s.RxTUNErrors != 2 {
		t.Errorf("received %d, TUN errors %d; want 1, 2", s.RxPackets, s.RxTUNErrors)
	}
	if len(r.tunBufs) != 0 || r.tunBytes != 0 {
		t.Errorf("queue not empty: %d packets, %d bytes", len(r.tunBufs), r.tunBytes)
	}
	// Without a TUN, the queue is dropped and counted.
	d.setTUN(nil)
	r.queueTUN(buf[100:200])
	r.flushTUN()
	if s := d.stats(); s.RxNoTUN != 1 {
		t.Errorf("no TUN: %d counted, want 1", s.RxNoTUN)
	}
}
