package tunnel

import (
	"bytes"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// fakeBatchWriter records what WriteBatch sent; each call sends at most
// per[call] messages (the rest: all), and fails with errs[call] if set.
type fakeBatchWriter struct {
	per   []int
	errs  []error
	calls int
	sent  [][]byte
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
	for _, m := range ms[:max(n, 0)] {
		w.sent = append(w.sent, bytes.Clone(m.Buffers[0]))
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
			b := newTxBatch(8, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4500})
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

// TestTxBatchNoAllocs: queuing and flushing a full batch does not allocate.
func TestTxBatchNoAllocs(t *testing.T) {
	d := &dataPath{}
	b := newTxBatch(32, &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4500})
	w := okBatchWriter{}
	pkt := make([]byte, 1400)
	if n := testing.AllocsPerRun(100, func() {
		for range 32 {
			b.add(pkt, len(pkt))
		}
		b.flush(d, w)
	}); n != 0 {
		t.Errorf("%v allocs per batch", n)
	}
}

type okBatchWriter struct{}

func (okBatchWriter) WriteBatch(ms []ipv4.Message, _ int) (int, error) { return len(ms), nil }

// TestReadUDPBatch runs readUDP on a real socket (recvmmsg on Linux): a
// burst of more datagrams than one batch holds, with a keepalive and a
// datagram from a stranger among them, is read whole; closing the socket
// ends readUDP and every pooled buffer comes back.
func TestReadUDPBatch(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadBuffer(1 << 20); err != nil {
			t.Fatal(err)
		}
		return c
	}
	client, server, stranger := listen(), listen(), listen()
	defer server.Close()
	defer stranger.Close()
	tr := testSuites[0].t
	d := newDataPath(client, netip.AddrPortFrom(lo, 1), localAddrPort(server), nil)
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
