//go:build unix

package tunnel

import (
	"errors"
	"syscall"
)

// pidAlive reports whether a process with this pid exists (signal 0 checks
// without sending; EPERM means it exists but is someone else's).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
