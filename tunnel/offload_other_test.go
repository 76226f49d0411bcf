//go:build !linux

package tunnel

func segmentCmsgSize([]byte) int { return -1 }
