package tunnel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// fakeBatchWriter records what WriteBatch sent; each call sends at most
// per[call] messages (the rest: all), and fails with errs[call] if set.
// Like the kernel, it refuses a UDP_SEGMENT message with refuseGSO if
// set, and with EINVAL when its segments are larger than maxSeg (if set).
type fakeBatchWriter struct {
	per       []int
	errs      []error
	refuseGSO error
	maxSeg    int
	calls     int
	sent      [][]byte // every datagram, as the receiver sees them
	segs      [][]int  // per message, the size of each datagram
}

func (w *fakeBatchWriter) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	call := w.calls
	w.calls++
	n := len(ms)
	if call < len(w.per) {
		n = min(n, w.per[call])
	}
	var err error
	if call < len(w.errs) {
		err = w.errs[call]
	}
	for k, m := range ms[:max(n, 0)] {
		var all []byte
		for _, b := range m.Buffers {
			all = append(all, b...)
		}
		seg := len(all)
		if m.OOB != nil {
			seg = segmentCmsgSize(m.OOB)
			if seg <= 0 {
				return k, &net.OpError{Op: "write", Net: "udp", Err: syscall.EINVAL}
			}
			if w.refuseGSO != nil {
				return k, &net.OpError{Op: "write", Net: "udp", Err: w.refuseGSO}
			}
			if w.maxSeg > 0 && seg > w.maxSeg {
				return k, &net.OpError{Op: "write", Net: "udp", Err: syscall.EINVAL}
			}
		}
		var sizes []int
		for len(all) > 0 {
			l := min(seg, len(all))
			w.sent = append(w.sent, all[:l:l])
			sizes = append(sizes, l)
			all = all[l:]
		}
		w.segs = append(w.segs, sizes)
	}
	return n, err
}

// TestTxBatchFlush: a WriteBatch that sends fewer than all messages is
// called again for the rest; a failed message is counted and skipped, the
// ones after it still go out.
func TestTxBatchFlush(t *testing.T) {
	eperm := &net.OpError{Op: "write", Net: "udp", Err: syscall.EPERM}
	for _, tc := range []struct {
		name      string
		per       []int
		errs      []error
		sent      []int // indices of the packets that must have gone out
		sendErrs  uint64
		wantCalls int
	}{
		{name: "all at once", sent: []int{0, 1, 2, 3, 4}, wantCalls: 1},
		{name: "partial", per: []int{2, 1}, sent: []int{0, 1, 2, 3, 4}, wantCalls: 3},
		{name: "first fails", per: []int{0}, errs: []error{eperm}, sent: []int{1, 2, 3, 4}, sendErrs: 1, wantCalls: 2},
		{name: "middle fails", per: []int{2, 0}, errs: []error{nil, eperm}, sent: []int{0, 1, 3, 4}, sendErrs: 1, wantCalls: 3},
		{name: "all fail", per: []int{0, 0, 0, 0, 0}, errs: []error{eperm, eperm, eperm, eperm, eperm}, sendErrs: 5, wantCalls: 5},
		{name: "negative count", per: []int{-1}, errs: []error{eperm}, sent: []int{1, 2, 3, 4}, sendErrs: 1, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &dataPath{}
			b := newTxBatch(8, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4500}, false)
			var pkts [][]byte
			for i := range 5 {
				p := bytes.Repeat([]byte{byte(i)}, 10+i)
				pkts = append(pkts, p)
				b.add(p, 100+i)
			}
			w := &fakeBatchWriter{per: tc.per, errs: tc.errs}
			b.flush(d, w)
			if w.calls != tc.wantCalls {
				t.Errorf("%d WriteBatch calls, want %d", w.calls, tc.wantCalls)
			}
			if len(w.sent) != len(tc.sent) {
				t.Fatalf("sent %d packets, want %d", len(w.sent), len(tc.sent))
			}
			var bytesWant uint64
			for k, i := range tc.sent {
				if !bytes.Equal(w.sent[k], pkts[i]) {
					t.Errorf("packet %d sent is % x, want packet %d", k, w.sent[k], i)
				}
				bytesWant += uint64(100 + i)
			}
			if got := d.c.txPackets.Load(); got != uint64(len(tc.sent)) {
				t.Errorf("txPackets %d, want %d", got, len(tc.sent))
			}
			if got := d.c.txBytes.Load(); got != bytesWant {
				t.Errorf("txBytes %d, want %d", got, bytesWant)
			}
			if got := d.c.txSendErrors.Load(); got != tc.sendErrs {
				t.Errorf("txSendErrors %d, want %d", got, tc.sendErrs)
			}
			if b.n != 0 || b.bufs[0] != nil {
				t.Error("batch not emptied")
			}
		})
	}
}

// TestTxBatchNoAllocs: queuing and flushing a full batch does not
// allocate, for every batch size, with and without segmentation offload,
// with runs of one size and with sizes that end runs.
func TestTxBatchNoAllocs(t *testing.T) {
	d := &dataPath{}
	to := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4500}
	pkt := make([]byte, 1400)
	for _, gso := range []bool{false, true} {
		for _, size := range []int{1, 2, 16, 32, 128} {
			b := newTxBatch(size, to, gso)
			w := okBatchWriter{}
			if n := testing.AllocsPerRun(50, func() {
				for i := range size {
					b.add(pkt[:1400-i%3], 1400)
				}
				b.flush(d, w)
				for range size {
					b.add(pkt, len(pkt))
				}
				b.flush(d, w)
			}); n != 0 {
				t.Errorf("gso %v, batch %d: %v allocs per batch", gso, size, n)
			}
		}
	}
}

type okBatchWriter struct{}

func (okBatchWriter) WriteBatch(ms []ipv4.Message, _ int) (int, error) { return len(ms), nil }

// TestReadUDPBatch runs readUDP on a real socket (recvmmsg on Linux): a
// burst of more datagrams than one batch holds, with a keepalive and a
// datagram from a stranger among them, is read whole; closing the socket
// ends readUDP and every pooled buffer comes back; with 1 crypto worker
// and with 2 (handleBatch).
func TestReadUDPBatch(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) { testReadUDPBatch(t, workers) })
	}
}

func testReadUDPBatch(t *testing.T, workers int) {
	lo := netip.MustParseAddr("127.0.0.1")
	listen := func() *net.UDPConn { return listenLoopback(t, 1<<20) }
	client, server, stranger := listen(), listen(), listen()
	defer server.Close()
	defer stranger.Close()
	tr := testSuites[0].t
	d := newDataPath(client, netip.AddrPortFrom(lo, 1), localAddrPort(server), nil)
	d.setCryptoWorkers(workers)
	d.addInbound(newSA(t, tr, 0x300, 9))
	d.setSession(clientTunnel, clientSess, serverTunnel, serverSess)
	d.setTUN(discardTUN{})
	srv := newDataPath(server, netip.AddrPortFrom(lo, 1), localAddrPort(client), nil)
	srv.setOutbound(newSA(t, tr, 0x300, 9))
	srv.setSession(serverTunnel, serverSess, clientTunnel, clientSess)

	ctrl, stop, done := make(chan ctrlPacket, 1), make(chan struct{}), make(chan struct{})
	go func() { defer close(done); d.readUDP(ctrl, stop) }()

	const n = 3*udpBatch + 5
	buf := make([]byte, maxPacket)
	p := ping(200, 1)
	for i := range n {
		copy(buf[tunOffset:], p)
		srv.sendIP(buf, tunOffset, len(p))
		if i == udpBatch-1 {
			srv.sendKeepalive()
			stranger.WriteToUDPAddrPort([]byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7}, localAddrPort(client))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for d.stats().RxPackets < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := d.stats(); s.RxPackets != n || s.RxForeign != 1 {
		t.Errorf("%d of %d packets reached the TUN, %d foreign datagrams (want 1); stats %+v", s.RxPackets, n, s.RxForeign, s)
	}
	client.Close()
	close(stop)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("readUDP did not end when its socket was closed")
	}
	if held := d.bufsHeld.Load(); held != 0 {
		t.Errorf("%d pooled buffers not returned", held)
	}
}

// TestTxBatchGSO: with segmentation offload, runs of packets to one
// address and of one size (the last may be shorter) go as one message of
// at most 64 datagrams and 65507 bytes; every packet arrives, in order;
// a kernel that refuses offload (EIO) or a segment size (EINVAL) gets
// the same packets again without it, and none is lost.
func TestTxBatchGSO(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("UDP_SEGMENT is Linux's")
	}
	a := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4500}
	a2 := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4500} // same address, other pointer
	c := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 4500}
	econnrefused := &net.OpError{Op: "write", Net: "udp", Err: syscall.ECONNREFUSED}
	eperm := &net.OpError{Op: "write", Net: "udp", Err: syscall.EPERM}
	rep := func(size, n int) []int { return slices.Repeat([]int{size}, n) }
	for _, tc := range []struct {
		name      string
		sizes     []int
		tos       []*net.UDPAddr // nil: all to a
		w         fakeBatchWriter
		segs      [][]int // the datagrams of each message sent
		sendErrs  int
		wantCalls int
		gsoMax    int // after the flush
	}{
		{name: "one run", sizes: rep(1400, 5), segs: [][]int{rep(1400, 5)}, wantCalls: 1},
		{name: "shorter last", sizes: []int{1400, 1400, 900}, segs: [][]int{{1400, 1400, 900}}, wantCalls: 1},
		{name: "mixed sizes", sizes: []int{100, 100, 100, 60, 100, 100, 120, 120, 40},
			segs: [][]int{{100, 100, 100, 60}, {100, 100}, {120, 120, 40}}, wantCalls: 1},
		{name: "single", sizes: []int{1400}, segs: [][]int{{1400}}, wantCalls: 1},
		{name: "destinations", sizes: rep(200, 6), tos: []*net.UDPAddr{a, a2, c, c, a, a},
			segs: [][]int{{200, 200}, {200, 200}, {200, 200}}, wantCalls: 1},
		{name: "64 at most", sizes: rep(500, 70), segs: [][]int{rep(500, 64), rep(500, 6)}, wantCalls: 1},
		{name: "65507 bytes at most", sizes: rep(1400, 50), segs: [][]int{rep(1400, 46), rep(1400, 4)}, wantCalls: 1},
		{name: "partial", sizes: []int{100, 100, 200, 200, 300, 300}, w: fakeBatchWriter{per: []int{1, 1}},
			segs: [][]int{{100, 100}, {200, 200}, {300, 300}}, wantCalls: 3},
		{name: "refused", sizes: []int{100, 100, 100, 200}, w: fakeBatchWriter{refuseGSO: syscall.EIO},
			segs: [][]int{{100}, {100}, {100}, {200}}, wantCalls: 2, gsoMax: 0},
		{name: "refused after some", sizes: []int{100, 200, 200, 300, 300}, w: fakeBatchWriter{per: []int{1}, refuseGSO: syscall.EIO},
			segs: [][]int{{100}, {200}, {200}, {300}, {300}}, wantCalls: 3, gsoMax: 0},
		{name: "segment too big", sizes: []int{1400, 1400, 100, 100}, w: fakeBatchWriter{maxSeg: 1000},
			segs: [][]int{{1400}, {1400}, {100, 100}}, wantCalls: 2, gsoMax: 1399},
		{name: "pending ICMP error", sizes: rep(300, 4), w: fakeBatchWriter{per: []int{0}, errs: []error{econnrefused}},
			segs: [][]int{rep(300, 4)}, wantCalls: 2},
		{name: "message fails", sizes: []int{100, 100, 200, 200, 300}, w: fakeBatchWriter{per: []int{1, 0}, errs: []error{nil, eperm}},
			segs: [][]int{{100, 100}, {300}}, sendErrs: 2, wantCalls: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &dataPath{}
			b := newTxBatch(len(tc.sizes), a, true)
			var want [][]byte
			for i, size := range tc.sizes {
				p := make([]byte, size)
				for j := range p {
					p[j] = byte(i*7 + j)
				}
				if tc.tos != nil {
					b.addTo(p, size+1, tc.tos[i])
				} else {
					b.add(p, size+1)
				}
				want = append(want, p)
			}
			w := &tc.w
			b.flush(d, w)
			if !slices.EqualFunc(w.segs, tc.segs, slices.Equal) {
				t.Errorf("messages %v, want %v", w.segs, tc.segs)
			}
			if w.calls != tc.wantCalls {
				t.Errorf("%d WriteBatch calls, want %d", w.calls, tc.wantCalls)
			}
			var sent [][]byte // the packets that must have arrived
			var bytesWant uint64
			for i, p := range want {
				if !(tc.name == "message fails" && (i == 2 || i == 3)) {
					sent = append(sent, p)
					bytesWant += uint64(len(p) + 1)
				}
			}
			if !slices.EqualFunc(w.sent, sent, bytes.Equal) {
				t.Errorf("%d datagrams arrived, not the %d packets in order", len(w.sent), len(sent))
			}
			if got := d.c.txPackets.Load(); got != uint64(len(sent)) {
				t.Errorf("txPackets %d, want %d", got, len(sent))
			}
			if got := d.c.txBytes.Load(); got != bytesWant {
				t.Errorf("txBytes %d, want %d", got, bytesWant)
			}
			if got := d.c.txSendErrors.Load(); got != uint64(tc.sendErrs) {
				t.Errorf("txSendErrors %d, want %d", got, tc.sendErrs)
			}
			wantMax := tc.gsoMax
			if wantMax == 0 && tc.w.refuseGSO == nil {
				wantMax = gsoMaxBytes
			}
			if b.gsoMax != wantMax {
				t.Errorf("gsoMax %d after the flush, want %d", b.gsoMax, wantMax)
			}
			if b.n != 0 || b.bufs[0] != nil || b.msgs[0].Buffers != nil {
				t.Error("batch not emptied")
			}
		})
	}
}

// TestHandleSegs: a coalesced read (UDP_GRO) is split into its datagrams,
// each handled as if read alone: ESP packets, an IKE message forwarded as
// a copy that later reads do not change, a keepalive last; a read that
// fills the buffer is dropped as truncated.
func TestHandleSegs(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	natt := netip.AddrPortFrom(lo, 4500)
	tr := testSuites[0].t
	d := newDataPath(nil, netip.AddrPortFrom(lo, 500), natt, nil)
	d.addInbound(newSA(t, tr, 0x300, 9))
	d.setSession(clientTunnel, clientSess, serverTunnel, serverSess)
	d.setTUN(discardTUN{})
	srv := newDataPath(nil, netip.AddrPortFrom(lo, 500), netip.AddrPortFrom(lo, 1), nil)
	srv.setOutbound(newSA(t, tr, 0x300, 9))
	srv.setSession(serverTunnel, serverSess, clientTunnel, clientSess)

	p := ping(300, 1)
	seal := func() []byte {
		buf := make([]byte, maxPacket)
		copy(buf[tunOffset:], p)
		return bytes.Clone(srv.sealIP(buf, tunOffset, len(p)))
	}
	esp1, esp2 := seal(), seal()
	seg := len(esp1)
	// An IKE message of the same size, behind the non-ESP marker: a
	// header with zero cookies passes isakmp.WellFormed only if the
	// length matches, so build one from the ISAKMP header fields.
	ike := make([]byte, seg)
	ike[4+16] = 1                                              // next payload: SA
	ike[4+17] = 0x10                                           // version 1.0
	ike[4+18] = 2                                              // exchange: Identity Protection
	binary.BigEndian.PutUint32(ike[4+24:], uint32(seg-4))      // length
	copy(ike[4:], []byte{1, 2, 3, 4, 5, 6, 7, 8})              // initiator cookie
	binary.BigEndian.PutUint16(ike[4+28+2:], uint16(seg-4-28)) // SA payload length
	read := slices.Concat(esp1, ike, esp2, []byte{0xff})
	buf := make([]byte, maxPacket)
	n := copy(buf, read)

	ctrl := make(chan ctrlPacket, 4)
	r := newUDPReader(d, buf, ctrl, nil)
	if !r.handleSegs(buf[:n], natt, seg) {
		t.Fatal("handleSegs stopped")
	}
	r.flushTUN()
	s := d.stats()
	if s.RxPackets != 2 || s.RxKeepalives != 1 {
		t.Errorf("stats %+v, want 2 packets and a keepalive", s)
	}
	select {
	case c := <-ctrl:
		clear(buf) // the next read
		if c.kind != kindIKE || !bytes.Equal(c.data, ike[4:]) {
			t.Errorf("forwarded %v % x, want the IKE message", c.kind, c.data)
		}
	default:
		t.Errorf("the IKE message was not forwarded (stats %+v)", s)
	}

	if !r.handleSegs(buf, natt, seg) || d.stats().RxTruncated != 1 {
		t.Errorf("a full buffer was not dropped as truncated: %+v", d.stats())
	}
}

// BenchmarkTxBatchLoopback sends batches of 16 ESP-sized datagrams to a
// loopback socket: one message per datagram (sendmmsg), one UDP_SEGMENT
// message gathering the packets where they lie (what txBatch does), and
// one UDP_SEGMENT message of the packets first copied into one buffer
// (the alternative: sealing into, or copying to, one arena per run).
func BenchmarkTxBatchLoopback(b *testing.B) {
	lo := netip.MustParseAddr("127.0.0.1")
	rx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer rx.Close() // never read: the kernel drops what overflows, after the send
	tx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	w, gso := newBatchWriter(tx)
	if w == nil || !gso {
		b.Skip("no sendmmsg or no UDP_SEGMENT")
	}
	to := rx.LocalAddr().(*net.UDPAddr)
	const n, size = 16, 1452
	pkts := make([][]byte, n)
	for i := range pkts {
		pkts[i] = make([]byte, maxPacket)[tunOffset : tunOffset+size]
	}
	arena := make([]byte, n*size)
	arenaBufs := [][]byte{arena}
	oob := putSegmentCmsg(make([]byte, gsoCmsgSpace), size)
	for _, mode := range []string{"single", "gso-gather", "gso-copy"} {
		b.Run(mode, func(b *testing.B) {
			ms := make([]ipv4.Message, n)
			b.SetBytes(n * size)
			b.ReportAllocs()
			for b.Loop() {
				m := ms[:1]
				switch mode {
				case "single":
					m = ms
					for i := range ms {
						ms[i] = ipv4.Message{Buffers: pkts[i : i+1], Addr: to}
					}
				case "gso-gather":
					ms[0] = ipv4.Message{Buffers: pkts, Addr: to, OOB: oob}
				case "gso-copy":
					for i, p := range pkts {
						copy(arena[i*size:], p)
					}
					ms[0] = ipv4.Message{Buffers: arenaBufs, Addr: to, OOB: oob}
				}
				if sent, err := w.WriteBatch(m, 0); err != nil || sent != len(m) {
					b.Fatal(sent, err)
				}
			}
		})
	}
}

// TestReadUDPCoalesced runs readUDP on a real socket with UDP_GRO, fed by
// a sender that uses UDP_SEGMENT (readTUN's txBatch): runs of packets
// arrive as coalesced reads, are split, and every packet reaches the TUN;
// a keepalive between the runs is still one. Without offload
// (Config.NoUDPOffload) the same arrives one datagram per read.
func TestReadUDPCoalesced(t *testing.T) {
	for _, offload := range []bool{true, false} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) {
			lo := netip.MustParseAddr("127.0.0.1")
			listen := func() *net.UDPConn { return listenLoopback(t, 4<<20) }
			client, server := listen(), listen()
			defer server.Close()
			tr := testSuites[4].t // aes128gcm16
			d := newDataPath(client, netip.AddrPortFrom(lo, 1), localAddrPort(server), nil)
			if !offload {
				d.noUDPOffload()
			}
			d.addInbound(newSA(t, tr, 0x300, 9))
			d.setSession(clientTunnel, clientSess, serverTunnel, serverSess)
			d.setTUN(discardTUN{})
			srv := newDataPath(server, netip.AddrPortFrom(lo, 1), localAddrPort(client), nil)
			if srv.batch == nil || !srv.gso {
				t.Skip("no UDP_SEGMENT here")
			}
			srv.setOutbound(newSA(t, tr, 0x300, 9))
			srv.setSession(serverTunnel, serverSess, clientTunnel, clientSess)

			ctrl, stop, done := make(chan ctrlPacket, 1), make(chan struct{}), make(chan struct{})
			go func() { defer close(done); d.readUDP(ctrl, stop) }()
			// readUDP sets UDP_GRO as it starts: datagrams queued before
			// that are not coalesced. A first packet that arrives shows it
			// has started.
			waitRx := func(n uint64) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for d.stats().RxPackets < n && time.Now().Before(deadline) {
					time.Sleep(2 * time.Millisecond)
				}
			}
			first := make([]byte, maxPacket)
			p0 := ping(100, 0)
			copy(first[tunOffset:], p0)
			srv.sendIP(first, tunOffset, len(p0))
			waitRx(1)

			const runs, per = 4, 32
			tx := newTxBatch(per, net.UDPAddrFromAddrPort(srv.nattAddr), true)
			bufs := make([][]byte, per)
			for i := range bufs {
				bufs[i] = make([]byte, maxPacket)
			}
			for r := range runs {
				p := ping(1000+r*100, uint16(r)) // one size per run
				for _, buf := range bufs {
					copy(buf[tunOffset:], p)
					tx.add(srv.sealIP(buf, tunOffset, len(p)), len(p))
				}
				tx.flush(srv, srv.batch)
				srv.sendKeepalive()
			}
			waitRx(1 + runs*per)
			if s := d.stats(); s.RxPackets != 1+runs*per || s.RxKeepalives != runs || s.TxPackets != 0 {
				t.Errorf("%d of %d packets reached the TUN, %d keepalives of %d; stats %+v", s.RxPackets, 1+runs*per, s.RxKeepalives, runs, s)
			}
			if s := srv.stats(); s.TxPackets != 1+runs*per || s.TxSendErrors != 0 {
				t.Errorf("sender stats %+v", s)
			}
			client.Close()
			close(stop)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("readUDP did not end when its socket was closed")
			}
			if held := d.bufsHeld.Load(); held != 0 {
				t.Errorf("%d pooled buffers not returned", held)
			}
		})
	}
}

// TestOffloadOnlyOnTheRealSocket: a socket wrapped for --pcap (which
// records datagrams one by one) gets neither sendmmsg nor recvmmsg, so
// neither segmentation nor coalescing.
func TestOffloadOnlyOnTheRealSocket(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wrapped := capConn{PacketConn: c}
	if w, gso := newBatchWriter(wrapped); w != nil || gso {
		t.Errorf("newBatchWriter on the pcap wrapper: %v, gso %v", w, gso)
	}
	bufs := [][]byte{make([]byte, maxPacket), make([]byte, maxPacket)}
	if mr := newMmsgReader(wrapped, bufs, true); mr != nil {
		t.Error("newMmsgReader on the pcap wrapper")
	}
	d := newDataPath(c, netip.AddrPort{}, netip.AddrPort{}, nil)
	if d.gso != (runtime.GOOS == "linux") {
		t.Errorf("real socket: gso %v on %s", d.gso, runtime.GOOS)
	}
	d.noUDPOffload()
	if d.gso || !d.noGRO {
		t.Error("noUDPOffload left offload on")
	}
}
