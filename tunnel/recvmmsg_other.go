//go:build !linux

package tunnel

import "net/netip"

// mmsgReader: only Linux has recvmmsg(2); elsewhere readUDP reads one
// datagram at a time.
type mmsgReader struct{}

func newMmsgReader(PacketConn, [][]byte, bool) *mmsgReader { return nil }
func (*mmsgReader) read() (int, error)                     { return 0, nil }
func (*mmsgReader) size(int) int                           { return 0 }
func (*mmsgReader) segSize(int) int                        { return 0 }
func (*mmsgReader) coalesces() bool                        { return false }
func (*mmsgReader) from(int) netip.AddrPort                { return netip.AddrPort{} }
