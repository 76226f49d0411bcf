package tunnel

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel/tuntest"
)

// TestClosedPortLoopback runs Run with the real socket (defaultListen,
// IP_RECVERR) against a loopback port where nothing listens: the kernel's
// ICMP port unreachable must end IKE phase 1 at once, with its own error
// (ErrUnreachable, class FailNoAnswer), not after the 15 s of
// retransmissions. No root needed: loopback only, no TUN.
func TestClosedPortLoopback(t *testing.T) {
	goroutineLeakCheck(t)
	// A port that was free a moment ago.
	l, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skipf("no loopback UDP: %v", err)
	}
	port := uint16(l.LocalAddr().(*net.UDPAddr).Port)
	l.Close()

	cfg := Config{
		Server: "127.0.0.1", IKEPort: port, NATTPort: port,
		PSK: []byte("k"), User: "u", Password: []byte("p"), Interface: "l2tp-closed",
	}
	deps := Deps{
		Log: &Logger{Debugf: t.Logf, Infof: t.Logf, Errorf: t.Logf},
		OpenTUN: func(TUNConfig) (TUN, error) {
			return tuntest.NewChannelTUN("l2tp-closed", 1400), errors.New("no TUN in this test")
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = Run(ctx, cfg, deps)
	took := time.Since(start)
	t.Logf("Run = %v after %v", err, took)
	if FailureOf(err) != FailNoAnswer || !errors.Is(err, ErrUnreachable) || PhaseOf(err) != PhaseIKE {
		t.Fatalf("Run = %v (class %v), want IKE phase 1 failing with ErrUnreachable", err, FailureOf(err))
	}
	if !strings.Contains(err.Error(), "port unreachable") || !strings.Contains(err.Error(), "nothing listens") {
		t.Errorf("error %q does not say the port is closed", err)
	}
	if took > 3*time.Second {
		t.Errorf("took %v, want well under 3 s (no retransmission wait)", took)
	}
}

// TestDescribeExtendedErr checks the decoding of struct
// sock_extended_err for an ICMP port unreachable.
func TestDescribeExtendedErr(t *testing.T) {
	d := make([]byte, 32)
	// ee_errno ECONNREFUSED (111), origin ICMP (2), type 3, code 3.
	binary.NativeEndian.PutUint32(d[0:4], 111)
	d[4], d[5], d[6] = 2, 3, 3
	// Offender: AF_INET (2, host byte order), port 0, 10.225.0.1.
	binary.NativeEndian.PutUint16(d[16:18], 2)
	copy(d[20:24], netip.MustParseAddr("10.225.0.1").AsSlice())
	got := describeExtendedErr(d, nil)
	if want := "ICMP port unreachable from 10.225.0.1"; got != want {
		t.Errorf("describeExtendedErr = %q, want %q", got, want)
	}
}

// TestCheckClash: an interface name that exists (lo always does) is a
// clash, found without root; a free name is not.
func TestCheckClash(t *testing.T) {
	err := checkClash(Config{Interface: "lo"})
	if !errors.Is(err, ErrLocalClash) || !strings.Contains(err.Error(), "interface lo already exists") {
		t.Errorf("checkClash(lo) = %v, want ErrLocalClash naming lo", err)
	}
	if FailureOf(&PhaseError{PhaseSetup, err}) != FailLocal {
		t.Errorf("class %v, want local", FailureOf(&PhaseError{PhaseSetup, err}))
	}
	if err := checkClash(Config{Interface: "l2tpctl-free9"}); err != nil {
		t.Errorf("checkClash(a free name) = %v", err)
	}
}
