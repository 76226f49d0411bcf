package tuntest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"
)

var (
	local = netip.MustParseAddr("192.168.30.10")
	peer  = netip.MustParseAddr("192.168.30.1")
)

func TestChannelTUNReadWrite(t *testing.T) {
	tun := NewChannelTUN("l2tp0", 1400)
	defer tun.Close()
	if tun.Name() != "l2tp0" || tun.MTU() != 1400 || tun.BatchSize() != 1 {
		t.Fatalf("name %q mtu %d batch %d", tun.Name(), tun.MTU(), tun.BatchSize())
	}
	ping := Ping(local, peer, 1, 2, []byte("abc"))
	tun.Outbound <- ping
	const off = 42
	bufs := [][]byte{make([]byte, 2048)}
	sizes := make([]int, 1)
	n, err := tun.Read(bufs, sizes, off)
	if err != nil || n != 1 || !bytes.Equal(bufs[0][off:off+sizes[0]], ping) {
		t.Fatalf("Read = %d, %v, % x", n, err, bufs[0][off:off+sizes[0]])
	}
	wbuf := append(make([]byte, off), ping...)
	if n, err := tun.Write([][]byte{wbuf}, off); n != 1 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	wbuf[off] = 0 // Write copied
	if got := <-tun.Inbound; !bytes.Equal(got, ping) {
		t.Errorf("Inbound got % x", got)
	}
}

func TestChannelTUNBatch(t *testing.T) {
	tun := NewChannelTUN("t", 1500)
	tun.SetBatchSize(4)
	for i := range 3 {
		tun.Outbound <- []byte{byte(i)}
	}
	bufs := [][]byte{make([]byte, 8), make([]byte, 8), make([]byte, 8), make([]byte, 8)}
	sizes := make([]int, 4)
	n, err := tun.Read(bufs, sizes, 2)
	if err != nil || n != 3 || sizes[2] != 1 || bufs[2][2] != 2 {
		t.Fatalf("Read = %d, %v, sizes %v", n, err, sizes)
	}
}

func TestChannelTUNCloseUnblocks(t *testing.T) {
	tun := NewChannelTUN("t", 1500)
	errc := make(chan error, 2)
	go func() {
		_, err := tun.Read([][]byte{make([]byte, 100)}, []int{0}, 0)
		errc <- err
	}()
	go func() {
		// Fill Inbound, then block on the next write.
		for {
			if _, err := tun.Write([][]byte{{1}}, 0); err != nil {
				errc <- err
				return
			}
		}
	}()
	time.Sleep(10 * time.Millisecond)
	tun.Close()
	tun.Close()
	for range 2 {
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrClosed) {
				t.Errorf("got %v, want os.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock")
		}
	}
	if !tun.Closed() {
		t.Error("Closed() false after Close")
	}
}

func TestPingPong(t *testing.T) {
	ping := Ping(local, peer, 0x1234, 7, []byte("payload"))
	// Golden header (checksum computed independently with Python).
	wantHdr := "450000230007400040017d77c0a81e0ac0a81e01"
	if got := hex.EncodeToString(ping[:20]); got != wantHdr {
		t.Errorf("IPv4 header %s, want %s", got, wantHdr)
	}
	e, ok := ParseICMPEcho(ping)
	if !ok || e.Type != ICMPEchoRequest || e.Src != local || e.Dst != peer || e.ID != 0x1234 || e.Seq != 7 || string(e.Payload) != "payload" {
		t.Fatalf("ParseICMPEcho = %+v, %v", e, ok)
	}
	pong, ok := Pong(ping)
	if !ok {
		t.Fatal("no pong")
	}
	r, ok := ParseICMPEcho(pong)
	if !ok || r.Type != ICMPEchoReply || r.Src != peer || r.Dst != local || r.Seq != 7 {
		t.Fatalf("pong = %+v, %v", r, ok)
	}
	if _, ok := Pong(pong); ok {
		t.Error("a reply was answered")
	}
	ping[25] ^= 1 // corrupt ICMP
	if _, ok := ParseICMPEcho(ping); ok {
		t.Error("bad ICMP checksum accepted")
	}
}
