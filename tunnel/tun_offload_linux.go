//go:build linux

package tunnel

import (
	"cmp"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/l2tpctl/l2tpctl/proto/gso"
)

// The offload TUN: a device opened with IFF_VNET_HDR and TCP segmentation
// offload (TUNSETOFFLOAD with TUN_F_CSUM, TUN_F_TSO4 and TUN_F_TSO6), so
// that the kernel hands over, and takes, TCP segments of up to 64 KiB
// behind a virtio-net header instead of one MTU-sized packet per read(2)
// and write(2) (as wireguard-go's tun package does; ours is written from
// the kernel's interface). Reads are split into MTU-sized packets and
// writes of consecutive TCP segments are merged by proto/gso. water
// cannot set these flags, so this device is opened with x/sys/unix; the
// plain device (water) stays the fallback when the kernel refuses, and
// Config.NoTUNOffload (L2TPCTL_NO_TUN_OFFLOAD=1) asks for it.

const (
	// tunOffloadBatch is the most packets one Read of an offload TUN
	// returns: a 64 KiB segment at an MSS of about 1400 is 47 packets.
	tunOffloadBatch = 64
	// tunCoalesceBatch is the most packets one Write plans together.
	tunCoalesceBatch = 128
)

// openOffloadTUN creates the TUN device name with a virtio-net header on
// every packet and TCP segmentation offload, non-blocking under Go's
// poller (so that Close interrupts a Read, as with water). An error means
// the kernel refused something; the device is gone again then.
func openOffloadTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	steps := []struct {
		what string
		do   func() error
	}{
		{"TUNSETIFF", func() error { return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr) }},
		{"TUNSETVNETHDRSZ", func() error { return unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, gso.HdrLen) }},
		{"TUNSETOFFLOAD", func() error {
			return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, unix.TUN_F_CSUM|unix.TUN_F_TSO4|unix.TUN_F_TSO6)
		}},
		{"O_NONBLOCK", func() error { return unix.SetNonblock(fd, true) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: %w", s.what, err)
		}
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), nil
}

// vnetTUN is the offload half of a linuxTUN: it turns reads of the device
// into packets for the data path and the data path's writes into merged
// writes. The raw system calls are function fields so that tests run it
// without a device.
type vnetTUN struct {
	// Read's state, owned by the reader (readTUN). rbuf holds the last
	// read(2): the header and up to 64 KiB; seg is what it splits into,
	// and segments from next on have not been returned yet.
	rbuf    []byte
	seg     gso.Segments
	next    int
	bad     bool                        // the last read could not be split: one empty packet to return
	fd      int                         // the descriptor, for readFD (set per Read by the poller's callback)
	readRaw func(p []byte) (int, error) // non-blocking read(2); unix.EAGAIN when nothing is queued

	// Write's state: readUDP and readESP (plain ESP) may both write.
	wmu      sync.Mutex
	co       *gso.Coalescer
	pkts     [][]byte // the batch being planned (cap tunCoalesceBatch)
	wbuf     []byte   // one merged packet with its header
	writeRaw func(p []byte) (int, error)
	wrc      syscall.RawConn // writeFD's descriptor, and its state:
	wp       []byte          // the packet
	wn       int
	werr     error
	wfn      func(fd uintptr) bool // writeCall, bound once

	// noMerge is set when the kernel refused a merged write: from then
	// on every packet is written as it is.
	noMerge atomic.Bool

	// Counts for tests and measurements: reads that were split into more
	// than one packet, and writes that merged more than one.
	splitReads, mergedWrites atomic.Uint64
}

func newVnetTUN(f *os.File) *vnetTUN {
	v := &vnetTUN{
		rbuf: make([]byte, gso.HdrLen+maxPacket),
		co:   gso.NewCoalescer(tunCoalesceBatch),
		pkts: make([][]byte, 0, tunCoalesceBatch),
		wbuf: make([]byte, gso.HdrLen+gso.MaxCoalesced),
	}
	v.readRaw = v.readFD
	if f != nil {
		v.writeRaw = f.Write
		if rc, err := f.SyscallConn(); err == nil {
			v.wrc, v.wfn, v.writeRaw = rc, v.writeCall, v.writeFD
		}
	}
	return v
}

// writeFD writes p with one write(2) (rawWrite); v.wmu is held.
func (v *vnetTUN) writeFD(p []byte) (int, error) {
	v.wp = p
	err := v.wrc.Write(v.wfn)
	n, werr := v.wn, v.werr
	v.wp, v.wn, v.werr = nil, 0, nil
	switch {
	case err != nil:
		return 0, err // the device was closed
	case werr != nil:
		return n, &os.PathError{Op: "write", Path: "/dev/net/tun", Err: werr}
	}
	return n, nil
}

// writeCall is writeFD's call on the descriptor; false (EAGAIN, which a
// TUN does not return) would wait until it is writable.
func (v *vnetTUN) writeCall(fd uintptr) bool {
	for {
		n, err := rawWrite(fd, v.wp)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		v.wn, v.werr = n, err
		return true
	}
}

func (v *vnetTUN) readFD(p []byte) (int, error) { return rawRead(v.fd, p) }

// fill puts packets into bufs at off, their lengths in sizes: what is
// left of the last read first, then what further reads return, until bufs
// is full or a read fails (unix.EAGAIN: nothing is queued). A packet too
// long for its buffer, or a read that cannot be split, comes back as a
// packet of length 0, which the data path drops and counts (not_ip).
func (v *vnetTUN) fill(bufs [][]byte, sizes []int, off int) (n int, err error) {
	for n < len(bufs) {
		switch {
		case v.bad:
			v.bad = false
			sizes[n] = 0
			n++
		case v.next < v.seg.Len():
			i := v.next
			v.next++
			if v.seg.Size(i) > len(bufs[n])-off {
				sizes[n] = 0
			} else {
				sizes[n] = v.seg.Put(bufs[n][off:], i)
			}
			n++
		default:
			m, err := v.readRaw(v.rbuf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return n, err
			}
			v.load(v.rbuf[:m])
		}
	}
	return n, nil
}

// load parses one read: the header and the packet behind it.
func (v *vnetTUN) load(b []byte) {
	v.seg, v.next = gso.Segments{}, 0
	var h gso.Hdr
	if err := h.UnmarshalBinary(b); err != nil {
		v.bad = true
		return
	}
	s, err := gso.Split(h, b[gso.HdrLen:])
	if err != nil {
		v.bad = true
		return
	}
	v.seg = s
	if s.Len() > 1 {
		v.splitReads.Add(1)
	}
}

// writeOne writes the packet b[off:] as it is, behind an empty header:
// in front of it when off leaves room, else copied to wbuf.
func (v *vnetTUN) writeOne(b []byte, off int) error {
	var out []byte
	if off >= gso.HdrLen {
		out = b[off-gso.HdrLen:]
		gso.PutNone(out)
	} else {
		gso.PutNone(v.wbuf)
		out = v.wbuf[:gso.HdrLen+copy(v.wbuf[gso.HdrLen:], b[off:])]
	}
	_, err := v.writeRaw(out)
	return err
}

// write writes the packets bufs[i][off:], merging consecutive TCP
// segments of a flow (gso.Coalescer); a packet that merges with nothing
// goes as it is, behind an empty header written in front of it (off
// should leave room for one, as tunWriteOffset does; else it is copied).
// When the kernel refuses a merged write, its packets go one by one, and
// so does everything after. It tries every packet and returns how many
// were written and the first error.
func (v *vnetTUN) write(bufs [][]byte, off int) (int, error) {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	written := 0
	var first error
	for start := 0; start < len(bufs); start += tunCoalesceBatch {
		batch := bufs[start:min(len(bufs), start+tunCoalesceBatch)]
		v.pkts = v.pkts[:0]
		for _, b := range batch {
			v.pkts = append(v.pkts, b[off:])
		}
		for k := range v.co.Plan(v.pkts) {
			if v.co.Count(k) == 1 || v.noMerge.Load() {
				n, err := v.writeEach(batch, off, k)
				written, first = written+n, cmp.Or(first, err)
				continue
			}
			if _, err := v.writeRaw(v.wbuf[:v.co.Build(v.wbuf, k)]); err != nil {
				// A kernel that takes no merged writes after all: the
				// packets go one by one, now and from now on.
				v.noMerge.Store(true)
				n, err := v.writeEach(batch, off, k)
				written, first = written+n, cmp.Or(first, err)
				continue
			}
			written += v.co.Count(k)
			v.mergedWrites.Add(1)
		}
		clear(v.pkts) // do not keep the caller's buffers reachable
	}
	return written, first
}

// writeEach writes the packets of the coalescer's run k one by one; it
// returns how many were written and the first error.
func (v *vnetTUN) writeEach(batch [][]byte, off, k int) (written int, first error) {
	for i := v.co.First(k); i >= 0; i = v.co.Next(i) {
		if err := v.writeOne(batch[i], off); err != nil {
			first = cmp.Or(first, err)
			continue
		}
		written++
	}
	return written, first
}
