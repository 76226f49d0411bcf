package cmd

import (
	"fmt"
	"io"
	"net"
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

// sdNotify sends state (e.g. "READY=1") to systemd's notification socket
// named by NOTIFY_SOCKET, as sd_notify(3) does: one datagram on a unix
// datagram socket; a leading '@' names an abstract socket. An empty socket
// name is not an error: l2tpctl does not run under systemd.
func sdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	name := socket
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("%s: %w", envNotifySocket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
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
