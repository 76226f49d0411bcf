package tunnel

// TUN is the small interface the data path needs from the kernel interface.
// One goroutine reads; writes may come from another. Close unblocks a Read
// in progress and removes the interface with its addresses and routes.
// Each Read returns exactly one IPv4 packet (written at p[0:n]).
type TUN interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	Name() string
	MTU() int
	Close() error
}
