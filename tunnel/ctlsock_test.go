package tunnel

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/internal/peertest"
)

// ctlPath returns a socket path in a fresh directory that is short enough
// for a unix socket (108 bytes).
func ctlPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "l2tp0.sock")
}

// fakeLoop answers the server's status requests with st until stop is
// closed, like the control loop's select does.
func fakeLoop(s *ctlServer, st Status, stop <-chan struct{}) {
	for {
		select {
		case reply := <-s.statusReq:
			reply <- st
		case <-stop:
			return
		}
	}
}

func TestControlSocketProtocol(t *testing.T) {
	goroutineLeakCheck(t)
	path := ctlPath(t)
	ctx := context.Background()
	if _, err := QueryStatus(ctx, path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("QueryStatus without a socket = %v, want ErrNotRunning", err)
	}
	if err := Disconnect(ctx, path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Disconnect without a socket = %v, want ErrNotRunning", err)
	}

	cancelled := make(chan struct{})
	s, err := listenControl(path, nil, func() { close(cancelled) })
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", p, got, want)
		}
	}
	stop := make(chan struct{})
	want := Status{PID: 42, State: "up", Phase: "connected", Interface: "l2tp0", Local: "192.168.30.10",
		DNS: []string{"192.168.30.1"}, SPIIn: "0x01020304", TxBytes: 7, Rekeys: 1}
	go fakeLoop(s, want, stop)

	got, err := QueryStatus(ctx, path)
	if err != nil {
		t.Fatalf("QueryStatus: %v", err)
	}
	if got.PID != want.PID || got.State != want.State || got.Local != want.Local || got.SPIIn != want.SPIIn ||
		got.TxBytes != want.TxBytes || got.Rekeys != want.Rekeys || len(got.DNS) != 1 {
		t.Errorf("QueryStatus = %+v, want %+v", got, want)
	}

	// A second server on the same path is refused while this one runs.
	if _, err := listenControl(path, nil, func() {}); !errors.Is(err, ErrRunning) {
		t.Errorf("second listenControl = %v, want ErrRunning", err)
	}

	// An unknown request gets an error line.
	if _, err := ctlCall(ctx, path, "reboot"); err == nil || !strings.Contains(err.Error(), `unknown request "reboot"`) {
		t.Errorf("unknown request: %v", err)
	}

	// Disconnect cancels the run and returns only once teardown is done.
	res := make(chan error, 1)
	go func() { res <- Disconnect(ctx, path) }()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("disconnect did not cancel the run")
	}
	select {
	case err := <-res:
		t.Fatalf("Disconnect returned %v before teardown finished", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(stop)
	s.close()
	if err := <-res; err != nil {
		t.Fatalf("Disconnect = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after close: %v", err)
	}
}

// A socket file left by a dead process (nobody accepts: connection
// refused) is replaced.
func TestControlSocketStale(t *testing.T) {
	goroutineLeakCheck(t)
	path := ctlPath(t)
	os.MkdirAll(filepath.Dir(path), 0o700)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the file stays, as after a crash
	if _, err := QueryStatus(context.Background(), path); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("QueryStatus on a stale socket = %v, want ErrNotRunning", err)
	}
	s, err := listenControl(path, nil, func() {})
	if err != nil {
		t.Fatalf("listenControl over a stale socket: %v", err)
	}
	stop := make(chan struct{})
	go fakeLoop(s, Status{State: "connecting"}, stop)
	if st, err := QueryStatus(context.Background(), path); err != nil || st.State != "connecting" {
		t.Errorf("QueryStatus = %+v, %v", st, err)
	}
	close(stop)
	s.close()
}

// TestE2EControlSocket: status and disconnect over the control socket of a
// real Run against the in-memory server.
func TestE2EControlSocket(t *testing.T) {
	goroutineLeakCheck(t)
	p := peertest.SoftEther()
	clock := newFakeClock()
	clock.attach(&p)
	n, srv := startServer(t, p)
	cfg := e2eConfig(p)
	cfg.ControlSocket = ctlPath(t)
	h := startRun(t, n, srv, cfg, clock)
	h.waitConnected()

	ctx := context.Background()
	if !h.ping(p.Local, 1, pingTimeout) {
		t.Fatal("no ping reply through the tunnel")
	}
	st, err := QueryStatus(ctx, cfg.ControlSocket)
	if err != nil {
		t.Fatalf("QueryStatus: %v", err)
	}
	if st.State != "up" || st.Phase != PhaseConnected.String() || st.Interface != cfg.Interface ||
		st.Local != h.link.Local.String() || st.PID != os.Getpid() {
		t.Errorf("status = %+v", st)
	}
	if st.IKESuite == "" || st.ESPSuite == "" || len(st.SPIIn) != 10 || len(st.SPIOut) != 10 {
		t.Errorf("status lacks suites or SPIs: %+v", st)
	}
	if st.TxPackets == 0 || st.RxPackets == 0 || st.TxBytes == 0 || st.RxBytes == 0 {
		t.Errorf("status counters after a ping: %+v", st)
	}

	if err := Disconnect(ctx, cfg.ControlSocket); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	// Disconnect returned: teardown has finished and Run returns nil.
	if err, _ := h.result(time.Second); err != nil {
		t.Fatalf("Run after disconnect = %v, want nil", err)
	}
	checkTeardown(t, srv, peertest.Stats{})
	if !h.tun.Closed() {
		t.Error("TUN not closed after disconnect")
	}
	if _, err := QueryStatus(ctx, cfg.ControlSocket); !errors.Is(err, ErrNotRunning) {
		t.Errorf("QueryStatus after disconnect = %v, want ErrNotRunning", err)
	}
}
