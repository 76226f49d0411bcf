// Package tuntest is the in-memory TUN device for tests of package tunnel
// (after wireguard-go's tun/tuntest), and Ping/Pong helpers for the ICMP
// echo packets tests send through it (built with proto/inet).
//
// *ChannelTUN satisfies tunnel.TUN structurally. This package does not
// import tunnel, so that tunnel's internal tests can import it without an
// import cycle; they assert the interface themselves.
package tuntest

import (
	"os"
	"sync"
)

// ChannelTUN is a TUN device made of two channels. Directions are named
// from the network's side, as in package tunnel:
//
//   - Inbound receives every packet the data path writes to the device
//     (decapsulated from ESP, on its way to the host). Tests read it.
//   - Outbound is where tests put packets the host "sends"; the data path
//     reads them from the device and encapsulates them towards the server.
//
// Neither channel is ever closed. Close unblocks a pending Read or Write,
// which then return an error wrapping os.ErrClosed, as do all later calls.
type ChannelTUN struct {
	Inbound  chan []byte
	Outbound chan []byte

	name  string
	mtu   int
	batch int

	done      chan struct{}
	closeOnce sync.Once
}

// NewChannelTUN returns a device with the given name and MTU, batch size 1
// and channels buffered for 64 packets.
func NewChannelTUN(name string, mtu int) *ChannelTUN {
	return &ChannelTUN{
		Inbound:  make(chan []byte, 64),
		Outbound: make(chan []byte, 64),
		name:     name,
		mtu:      mtu,
		batch:    1,
		done:     make(chan struct{}),
	}
}

// SetBatchSize sets how many packets one Read may return (default 1). Call
// it before the device is used.
func (t *ChannelTUN) SetBatchSize(n int) {
	if n < 1 {
		n = 1
	}
	t.batch = n
}

// Read blocks for one packet from Outbound, then takes whatever more is
// already queued, up to len(bufs) and BatchSize. Packet i is copied to
// bufs[i][offset:] (truncated if it does not fit) and its length stored in
// sizes[i].
func (t *ChannelTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	if t.closed() {
		return 0, errClosed("read")
	}
	max := min(len(bufs), len(sizes), t.batch)
	if max == 0 {
		return 0, nil
	}
	select {
	case p := <-t.Outbound:
		sizes[0] = copy(bufs[0][offset:], p)
	case <-t.done:
		return 0, errClosed("read")
	}
	n := 1
	for n < max {
		select {
		case p := <-t.Outbound:
			sizes[n] = copy(bufs[n][offset:], p)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write sends a copy of each bufs[i][offset:] to Inbound, blocking while
// Inbound is full (until Close).
func (t *ChannelTUN) Write(bufs [][]byte, offset int) (int, error) {
	for i, b := range bufs {
		p := append([]byte(nil), b[offset:]...)
		select {
		case <-t.done:
			return i, errClosed("write")
		default:
		}
		select {
		case t.Inbound <- p:
		case <-t.done:
			return i, errClosed("write")
		}
	}
	return len(bufs), nil
}

// BatchSize is the most packets one Read returns.
func (t *ChannelTUN) BatchSize() int { return t.batch }

// Name returns the device name given to NewChannelTUN.
func (t *ChannelTUN) Name() string { return t.name }

// MTU returns the MTU given to NewChannelTUN.
func (t *ChannelTUN) MTU() int { return t.mtu }

// Close unblocks Read and Write. It is idempotent.
func (t *ChannelTUN) Close() error {
	t.closeOnce.Do(func() { close(t.done) })
	return nil
}

// Closed reports whether Close has been called.
func (t *ChannelTUN) Closed() bool { return t.closed() }

// Done is closed by Close.
func (t *ChannelTUN) Done() <-chan struct{} { return t.done }

func (t *ChannelTUN) closed() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

func errClosed(op string) error {
	return &os.PathError{Op: op, Path: "tuntest", Err: os.ErrClosed}
}
