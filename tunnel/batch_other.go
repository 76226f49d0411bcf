//go:build !linux

package tunnel

// newBatchWriter: only Linux has sendmmsg(2); elsewhere each packet is
// sent on its own.
func newBatchWriter(PacketConn) (batchWriter, bool) { return nil, false }
