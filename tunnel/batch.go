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
// with as few WriteBatch calls as it takes. With UDP segmentation offload
// (gsoMax > 0, Linux: offload_linux.go) a run of packets to the same
// address, of the same size but for the last, which may be shorter, goes
// as one message: its Buffers are the packets where they were sealed
// (the kernel gathers them, no copy) and a UDP_SEGMENT control message
// gives their size. Owned by the readTUN goroutine; everything in it is
// allocated once, by newTxBatch, so that sending does not allocate.
type txBatch struct {
	to    *net.UDPAddr   // where add's packets go
	bufs  [][]byte       // the queued packets
	tos   []*net.UDPAddr // their destinations
	sizes []int          // the size of the IP packet each was sealed from (for txBytes)
	n     int            // packets queued

	msgs  []ipv4.Message // built by pack; msgs[k].Buffers is a slice of bufs
	first []int          // index in bufs of msgs[k]'s first packet
	oobs  [][]byte       // msgs[k]'s UDP_SEGMENT control message, gsoCmsgSpace bytes

	// gsoMax is the largest segment size the kernel takes in a
	// UDP_SEGMENT message: 0 sends every packet on its own (no offload,
	// or the kernel refused it); lowered when the kernel refuses a size
	// (the route's MTU).
	gsoMax int
}

// gsoVerdict is what a failed send says about segmentation offload
// (gsoRefusal).
type gsoVerdict uint8

const (
	gsoFine   gsoVerdict = iota // the error is not about offload
	gsoOff                      // the kernel or device cannot do it: stop using it
	gsoTooBig                   // not for segments this size: use it for smaller ones only
)

// newTxBatch returns a batch of up to size packets, to to unless addTo
// says otherwise; gso says the socket takes UDP_SEGMENT (canGSO).
func newTxBatch(size int, to *net.UDPAddr, gso bool) *txBatch {
	b := &txBatch{
		to:    to,
		bufs:  make([][]byte, size),
		tos:   make([]*net.UDPAddr, size),
		sizes: make([]int, size),
		msgs:  make([]ipv4.Message, size),
		first: make([]int, size+1),
		oobs:  make([][]byte, size),
	}
	if gso {
		b.gsoMax = gsoMaxBytes
		oob := make([]byte, size*gsoCmsgSpace)
		for k := range b.oobs {
			b.oobs[k] = oob[k*gsoCmsgSpace : (k+1)*gsoCmsgSpace : (k+1)*gsoCmsgSpace]
		}
	}
	return b
}

// add queues pkt, sealed from an IP packet of n bytes, for the batch's
// address; the caller flushes before the batch is full.
func (b *txBatch) add(pkt []byte, n int) { b.addTo(pkt, n, b.to) }

// addTo is add for a packet to another address.
func (b *txBatch) addTo(pkt []byte, n int, to *net.UDPAddr) {
	b.bufs[b.n] = pkt
	b.tos[b.n] = to
	b.sizes[b.n] = n
	b.n++
}

// pack builds the messages for the packets from i on and returns how many
// there are.
func (b *txBatch) pack(i int) int {
	k := 0
	for i < b.n {
		j := i + 1
		if seg := len(b.bufs[i]); seg <= b.gsoMax {
			total := seg
			for j < b.n && j-i < gsoMaxSegments && sameUDPAddr(b.tos[j], b.tos[i]) {
				l := len(b.bufs[j])
				if l > seg || l == 0 || total+l > gsoMaxBytes {
					break
				}
				total += l
				j++
				if l < seg {
					break // a shorter one ends the run
				}
			}
		}
		m := &b.msgs[k]
		m.Buffers = b.bufs[i:j:j]
		m.Addr = b.tos[i]
		m.OOB = nil
		if j-i > 1 {
			m.OOB = putSegmentCmsg(b.oobs[k], len(b.bufs[i]))
		}
		b.first[k] = i
		k++
		i = j
	}
	b.first[k] = b.n
	return k
}

// sameUDPAddr reports whether a and b are the same address (usually the
// same pointer).
func sameUDPAddr(a, b *net.UDPAddr) bool {
	return a == b || a != nil && b != nil && a.Port == b.Port && a.IP.Equal(b.IP) && a.Zone == b.Zone
}

// flush sends the queued packets through w and counts each one as sent
// or failed. A WriteBatch that sends only some of the messages is called
// again for the rest. A failure (the socket's error is about its first
// unsent message) costs that message's packets, and the ones after it are
// tried; but when it is the kernel refusing segmentation offload, the
// message's packets are sent again without it (or in shorter runs), and
// none is lost. An ICMP error that an earlier datagram drew (IP_RECVERR:
// writeTo) fails a send without sending it: that message is tried once
// more.
func (b *txBatch) flush(d *dataPath, w batchWriter) {
	i, retried := 0, -1
	for i < b.n {
		m := b.pack(i)
		sent, err := w.WriteBatch(b.msgs[:m], 0)
		sent = min(max(sent, 0), m)
		next := b.first[sent]
		for p := i; p < next; p++ {
			d.c.txPackets.Add(1)
			d.c.txBytes.Add(uint64(b.sizes[p]))
		}
		i = next
		if err == nil && sent > 0 {
			continue
		}
		if sent == m { // all sent, an error anyway: nothing to retry
			break
		}
		failed := b.msgs[sent]
		if len(failed.Buffers) > 1 {
			switch gsoRefusal(err) {
			case gsoOff:
				b.gsoMax = 0
				d.log.debugf("udp: segmentation offload refused (%v): sending one datagram per message", err)
				continue
			case gsoTooBig:
				b.gsoMax = len(failed.Buffers[0]) - 1
				d.log.debugf("udp: segmentation offload refused for %d-byte datagrams (%v)", len(failed.Buffers[0]), err)
				continue
			}
		}
		if err != nil && isUnreachable(err) && retried != i {
			retried = i
			continue
		}
		end := b.first[sent+1]
		for ; i < end; i++ {
			d.c.txSendErrors.Add(1)
		}
		if d.txLog.allow() {
			d.log.debugf("udp: send: %v", err)
		}
	}
	for j := range b.n {
		b.bufs[j], b.tos[j] = nil, nil // the buffers go back to readTUN's reuse
	}
	for k := range b.msgs {
		b.msgs[k].Buffers, b.msgs[k].Addr, b.msgs[k].OOB = nil, nil, nil
	}
	b.n = 0
}
