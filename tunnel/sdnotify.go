package tunnel

import (
	"fmt"
	"net"
)

// SdNotify sends state (e.g. "READY=1") to the service manager's
// notification socket, as sd_notify(3) describes it: one datagram on the
// unix datagram socket named by socket (the value of $NOTIFY_SOCKET); a
// leading '@' names an abstract socket. An empty socket is not an error:
// nothing supervises the process.
func SdNotify(socket, state string) error {
	if socket == "" {
		return nil
	}
	name := socket
	if name[0] == '@' {
		name = "\x00" + name[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify socket: %w", err)
	}
	return nil
}
