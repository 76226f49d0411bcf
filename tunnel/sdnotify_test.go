package tunnel

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "ntf")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	abstract := fmt.Sprintf("@l2tpctl-test-%d", os.Getpid())
	for _, name := range []string{filepath.Join(dir, "notify"), abstract} {
		listen := name
		if name[0] == '@' {
			listen = "\x00" + name[1:]
		}
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: listen, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		if err := SdNotify(name, "READY=1\nSTATUS=up"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		buf := make([]byte, 256)
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != "READY=1\nSTATUS=up" {
			t.Errorf("%s: got %q, %v", name, buf[:n], err)
		}
		conn.Close()
	}
	if err := SdNotify("", "READY=1"); err != nil {
		t.Errorf("no socket: %v", err)
	}
	if err := SdNotify(filepath.Join(dir, "none"), "READY=1"); err == nil {
		t.Error("missing socket: no error")
	}
}
