package cmd

import (
	"fmt"
	"io"
	"os"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// Readiness: --ready-fd N, systemd's NOTIFY_SOCKET, and the pipe of
// --background all learn that the link is up.

// readyLine is the one line written to --ready-fd (and to the pipe of
// --background) once the link is up: "up INTERFACE LOCAL-ADDRESS\n", e.g.
// "up l2tp0 192.168.30.10\n".
func readyLine(l *tunnel.LinkInfo) string {
	return fmt.Sprintf("up %s %v\n", l.Interface, l.Local)
}

// writeReady writes the ready line to the file descriptor fd and closes it,
// so that a reader sees the line and then EOF.
func writeReady(fd int, l *tunnel.LinkInfo) error {
	f := os.NewFile(uintptr(fd), "ready-fd")
	if f == nil {
		return fmt.Errorf("--%s %d: not a file descriptor", flgReadyFD, fd)
	}
	defer f.Close()
	return writeReadyTo(f, l)
}

func writeReadyTo(w io.Writer, l *tunnel.LinkInfo) error {
	if _, err := io.WriteString(w, readyLine(l)); err != nil {
		return fmt.Errorf("writing the ready line: %w", err)
	}
	return nil
}

// sdNotify sends state to systemd when NOTIFY_SOCKET named a socket
// (tunnel.SdNotify; sd_notify(3)).
func sdNotify(socket, state string) error {
	if err := tunnel.SdNotify(socket, state); err != nil {
		return fmt.Errorf("%s: %w", envNotifySocket, err)
	}
	return nil
}

// sdReady is the notification sent when the link is up.
func sdReady(l *tunnel.LinkInfo) string {
	return fmt.Sprintf("READY=1\nSTATUS=up on %s, local %v\nMAINPID=%d", l.Interface, l.Local, os.Getpid())
}

// sdStopping is the notification sent when teardown begins.
const sdStopping = "STOPPING=1"
