package tunnel

import "github.com/l2tpctl/l2tpctl/proto/gso"

// tunWriteOffset is where readUDP leaves each packet it writes to the TUN,
// in its buffer: room in front for the virtio-net header of the Linux
// offload device (tun_offload_linux.go).
const tunWriteOffset = gso.HdrLen

// TUN is the small interface the data path needs from the kernel interface,
// shaped around batches of packets (as wireguard-go's tun.Device is) so that
// batched I/O can be dropped in later without a redesign. Implementations
// that move one packet per system call return batches of one.
//
// One goroutine reads; writes may come from another. Close unblocks a Read
// in progress and removes the interface with its addresses and routes.
// Directions are named from the network's side: inbound = from ESP to TUN.
type TUN interface {
	// Read reads up to len(bufs) IPv4 packets, packet i at bufs[i][offset:],
	// its length in sizes[i], and returns how many it read. The offset
	// leaves headroom for the PPP, L2TP, UDP and ESP headers.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes the packets bufs[i][offset:] and returns how many it
	// wrote. It tries every packet; err is the first failure. It may
	// change the bytes of bufs[i] in front of offset and the packets'
	// checksum fields. The offload device merges consecutive TCP segments
	// of a batch into one write.
	Write(bufs [][]byte, offset int) (n int, err error)
	// BatchSize is the most packets one Read or Write handles.
	BatchSize() int
	Name() string
	MTU() int
	Close() error
}
