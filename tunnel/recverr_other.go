//go:build !linux

package tunnel

import "net"

// setRecvErr is Linux-only (IP_RECVERR); elsewhere ICMP errors go unseen
// and a closed port costs the wait for an answer.
func setRecvErr(*net.UDPConn) error { return nil }

func readSocketError(PacketConn) (string, bool) { return "", false }
