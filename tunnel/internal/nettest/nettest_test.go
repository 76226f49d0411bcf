package nettest

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	addrA = netip.MustParseAddrPort("192.0.2.1:40000")
	addrB = netip.MustParseAddrPort("192.0.2.2:4500")
)

func send(t *testing.T, c *Conn, to netip.AddrPort, seqs ...byte) {
	t.Helper()
	for _, s := range seqs {
		if _, err := c.WriteToUDPAddrPort([]byte{s}, to); err != nil {
			t.Fatal(err)
		}
	}
}

// drain reads what is queued at c without blocking for long.
func drain(t *testing.T, c *Conn) []byte {
	t.Helper()
	var got []byte
	for len(c.in) > 0 {
		b := make([]byte, 10)
		n, _, err := c.ReadFromUDPAddrPort(b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b[:n]...)
	}
	return got
}

func TestPipe(t *testing.T) {
	a, b := NewPipe(addrA, addrB)
	defer a.Close()
	defer b.Close()
	msg := []byte("hello")
	if _, err := a.WriteToUDPAddrPort(msg, addrB); err != nil {
		t.Fatal(err)
	}
	msg[0] = 'X' // the network keeps its own copy
	buf := make([]byte, 3)
	n, from, err := b.ReadFromUDPAddrPort(buf)
	if err != nil || from != addrA || string(buf[:n]) != "hel" {
		t.Fatalf("got %q from %v, %v; want truncated \"hel\" from %v", buf[:n], from, err, addrA)
	}
	// Nobody listens on another port: lost without an error, like UDP.
	if _, err := a.WriteToUDPAddrPort(msg, netip.AddrPortFrom(addrB.Addr(), 500)); err != nil {
		t.Fatal(err)
	}
	if s := a.Stats(); s.Lost != 1 || s.Written != 2 {
		t.Errorf("stats %+v", s)
	}
	if got := localAddr(a); got != addrA {
		t.Errorf("LocalAddr %v", got)
	}
}

func localAddr(c *Conn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func TestFaults(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		want []byte
	}{
		{"none", nil, []byte{1, 2, 3, 4, 5, 6}},
		{"drop every 2", DropEvery(2), []byte{1, 3, 5}},
		{"duplicate every 3", DuplicateEvery(3), []byte{1, 2, 3, 3, 4, 5, 6, 6}},
		{"reorder every 2", ReorderEvery(2), []byte{1, 3, 2, 5, 4}}, // 6 held, nothing follows
		{"drop if even", DropIf(func(b []byte) bool { return b[0]%2 == 0 }), []byte{1, 3, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := NewPipe(addrA, addrB)
			defer a.Close()
			defer b.Close()
			if tt.opt != nil {
				a.SetFaults(tt.opt)
			}
			send(t, a, addrB, 1, 2, 3, 4, 5, 6)
			if got := drain(t, b); string(got) != string(tt.want) {
				t.Errorf("received %v, want %v", got, tt.want)
			}
			// The other direction is unaffected.
			send(t, b, addrA, 1, 2, 3, 4, 5, 6)
			if got := drain(t, a); string(got) != string([]byte{1, 2, 3, 4, 5, 6}) {
				t.Errorf("reverse direction received %v", got)
			}
		})
	}
}

func TestFailAfter(t *testing.T) {
	a, b := NewPipe(addrA, addrB)
	defer a.Close()
	defer b.Close()
	a.SetFaults(FailAfter(2, syscall.ENETUNREACH))
	send(t, a, addrB, 1, 2)
	_, err := a.WriteToUDPAddrPort([]byte{3}, addrB)
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("third write: %v, want ENETUNREACH", err)
	}
	if got := drain(t, b); string(got) != string([]byte{1, 2}) {
		t.Errorf("received %v", got)
	}
	a.SetFaults(FailAfter(0, nil))
	if _, err := a.WriteToUDPAddrPort([]byte{1}, addrB); !errors.Is(err, ErrFault) {
		t.Errorf("got %v, want ErrFault", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	a, b := NewPipe(addrA, addrB)
	defer b.Close()
	errc := make(chan error)
	go func() {
		_, _, err := a.ReadFromUDPAddrPort(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond) // let the reader block (not needed for correctness)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the reader")
	}
	if _, err := a.WriteToUDPAddrPort([]byte{1}, addrB); !errors.Is(err, net.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The address is free again, and datagrams to the closed socket are lost.
	send(t, b, addrA, 1)
	if s := b.Stats(); s.Lost != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestNetworkRoutesByPort(t *testing.T) {
	n := NewNetwork()
	client, _ := n.Listen(addrA)
	ike, _ := n.Listen(netip.AddrPortFrom(addrB.Addr(), 500))
	natt, _ := n.Listen(addrB)
	if _, err := n.Listen(addrB); err == nil {
		t.Error("second Listen on the same address succeeded")
	}
	send(t, client, ike.AddrPort(), 5)
	send(t, client, natt.AddrPort(), 45)
	if got := drain(t, ike); string(got) != "\x05" {
		t.Errorf("port 500 got %v", got)
	}
	if got := drain(t, natt); string(got) != "\x2d" {
		t.Errorf("port 4500 got %v", got)
	}
	send(t, natt, addrA, 7)
	buf := make([]byte, 4)
	_, from, _ := client.ReadFromUDPAddrPort(buf)
	if from != addrB {
		t.Errorf("from %v, want %v", from, addrB)
	}
	client.Record()
	send(t, client, ike.AddrPort(), 9)
	if w := client.Written(); len(w) != 1 || w[0][0] != 9 {
		t.Errorf("recorded %v", w)
	}
}

// busyCounter is a SetBusy hook that counts the datagrams not yet done
// with.
type busyCounter struct {
	mu    sync.Mutex
	held  int
	total int
}

func (b *busyCounter) hold(string) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held++
	b.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.held--
		})
	}
}

func (b *busyCounter) get() (held, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held, b.total
}

// TestSetBusy: a datagram is busy from its delivery until its reader comes
// back for the next one (it has handed this one on by then) or its socket
// closes; a lost or dropped one is never busy.
func TestSetBusy(t *testing.T) {
	var b busyCounter
	n := NewNetwork()
	n.SetBusy(b.hold)
	a, err := n.Listen(addrA, DropEvery(3))
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.Listen(addrB)
	if err != nil {
		t.Fatal(err)
	}
	send(t, a, addrB, 1, 2, 3) // the third is dropped
	send(t, a, netip.MustParseAddrPort("192.0.2.9:1"), 4)
	if held, total := b.get(); held != 2 || total != 2 {
		t.Fatalf("after two queued: held %d of %d, want 2 of 2", held, total)
	}
	buf := make([]byte, 10)
	if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
		t.Fatal(err)
	}
	if held, _ := b.get(); held != 2 {
		t.Fatalf("after the first read: held %d, want 2 (the reader has the first)", held)
	}
	if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
		t.Fatal(err)
	}
	if held, _ := b.get(); held != 1 {
		t.Fatalf("after the second read: held %d, want 1 (the reader has the second)", held)
	}
	send(t, a, addrB, 5, 6) // 6 is the sixth written: dropped
	if held, _ := b.get(); held != 2 {
		t.Fatalf("with one more queued: held %d, want 2", held)
	}
	c.Close()
	if held, total := b.get(); held != 0 || total != 3 {
		t.Fatalf("after Close: held %d of %d, want 0 of 3", held, total)
	}
	send(t, a, addrB, 7)
	if _, total := b.get(); total != 3 {
		t.Fatalf("a datagram to a closed socket was held")
	}
}
