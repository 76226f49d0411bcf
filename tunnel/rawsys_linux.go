package tunnel

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The data path's system calls on its non-blocking descriptors (reads
// and recvmmsg after the poller said ready, TUN writes, which never wait)
// go through RawSyscall: they return at once, so the goroutine need not
// tell the scheduler it may block. With unix.Syscall every call hands
// its P to the scheduler's watchdog and often wakes it (runtime
// entersyscall/exitsyscall): at 35 000 packets a second that was a fifth
// of the client's CPU time in a download through SoftEther
// (docs/performance.md).

// rawRead is read(2) on a non-blocking descriptor.
func rawRead(fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// rawWrite is write(2) on a descriptor whose writes never wait (a TUN).
func rawWrite(fd uintptr, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
