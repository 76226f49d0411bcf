//go:build !linux

package tunnel

import "net"

// Segmentation and receive offload (offload_linux.go) are Linux's; elsewhere
// every datagram is a message of its own.

const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65535 - 20 - 8
	gsoCmsgSpace   = 24
)

func canGSO(*net.UDPConn) bool                 { return false }
func setGRO(*net.UDPConn) bool                 { return false }
func putSegmentCmsg(b []byte, size int) []byte { return nil }
func groSize([]byte) int                       { return 0 }
func gsoRefusal(error) gsoVerdict              { return gsoFine }
