package tunnel

import "sync"

// bufPool holds the fixed-size packet buffers. Get/Put of a pointer type
// does not allocate.
var bufPool = sync.Pool{New: func() any { return new([maxPacket]byte) }}

// getBuf takes a buffer from the pool; every path must give it back with
// putBuf exactly once. The buffer's contents are whatever its last user
// left (nothing secret: ESP keys never touch packet buffers).
func (d *dataPath) getBuf() *[maxPacket]byte {
	d.bufsHeld.Add(1)
	return bufPool.Get().(*[maxPacket]byte)
}

func (d *dataPath) putBuf(b *[maxPacket]byte) {
	d.bufsHeld.Add(-1)
	bufPool.Put(b)
}
