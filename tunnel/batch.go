package tunnel

import (
	"net"

	"golang.org/x/net/ipv4"
)

// batchWriter sends several datagrams with one system call (sendmmsg(2) on
// Linux). It returns how many of ms went out; fewer than len(ms), with or
// without an error, means the rest did not. *ipv4.PacketConn satisfies it.
type batchWriter interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// txBatch collects the ESP packets sealed from one TUN read and sends them
// to the server's NAT-T port with as few WriteBatch calls as it takes.
// Owned by the readTUN goroutine; everything in it is allocated once, by
// newTxBatch, so that sending does not allocate.
type txBatch struct {
	msgs  []ipv4.Message // msgs[i].Buffers has length 1; Addr is the NAT-T address
	bufs  [][]byte       // backing of the msgs' Buffers
	sizes []int          // size of each queued packet's IP packet (for txBytes)
	n     int            // packets queued
}

func newTxBatch(size int, to *net.UDPAddr) *txBatch {
	b := &txBatch{
		msgs:  make([]ipv4.Message, size),
		bufs:  make([][]byte, size),
		sizes: make([]int, size),
	}
	for i := range b.msgs {
		b.msgs[i].Buffers = b.bufs[i : i+1 : i+1]
		b.msgs[i].Addr = to
	}
	return b
}

// add queues pkt, sealed from an IP packet of n bytes; the caller flushes
// before the batch is full.
func (b *txBatch) add(pkt []byte, n int) {
	b.bufs[b.n] = pkt
	b.sizes[b.n] = n
	b.n++
}

// flush sends the queued packets through w and counts each one as sent
// or failed. A WriteBatch that sends only some of them is called again
// for the rest; a failure (the socket's error is about its first
// unsent message) costs that message, and the ones after it are tried.
func (b *txBatch) flush(d *dataPath, w batchWriter) {
	i := 0
	for i < b.n {
		sent, err := w.WriteBatch(b.msgs[i:b.n], 0)
		sent = max(sent, 0)
		for _, size := range b.sizes[i : i+sent] {
			d.c.txPackets.Add(1)
			d.c.txBytes.Add(uint64(size))
		}
		i += sent
		if err != nil || sent == 0 {
			d.c.txSendErrors.Add(1)
			if d.txLog.allow() {
				d.log.debugf("udp: send: %v", err)
			}
			i++
		}
	}
	for j := range b.n {
		b.bufs[j] = nil // the buffers go back to readTUN's reuse
	}
	b.n = 0
}
