package main

import (
	"bytes"
	"crypto/rand"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// responder serves one isakmp.Responder per initiator cookie on a loopback
// UDP socket (answer=false: it reads and never answers). It returns the
// server's address; the test's cleanup stops it.
func responder(t *testing.T, answer bool, proposals []suite.IKEProposal) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rs := map[[8]byte]*isakmp.Responder{}
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			var h isakmp.Header
			if !answer || h.UnmarshalBinary(buf[:n]) != nil {
				continue
			}
			r := rs[h.ICookie]
			if r == nil {
				r = isakmp.NewResponder(isakmp.ResponderConfig{PSK: []byte("x"), Rand: rand.Reader, Local: addr, Remote: from, Proposals: proposals})
				rs[h.ICookie] = r
			}
			for _, a := range r.Handle(time.Now(), buf[:n]) {
				if s, ok := a.(isakmp.Send); ok {
					conn.WriteToUDPAddrPort(s.Data, from)
				}
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		wg.Wait()
	})
	return addr
}

// closedPort returns a loopback UDP address nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	conn.Close()
	return addr
}

func runCheck(args ...string) (status int, stdout, stderr string, took time.Duration) {
	var o, e bytes.Buffer
	start := time.Now()
	status = run(args, &o, &e)
	return status, o.String(), e.String(), time.Since(start)
}

func TestAnswered(t *testing.T) {
	srv := responder(t, true, nil)
	status, out, errOut, _ := runCheck(srv.String())
	if status != exitOK || !strings.Contains(out, "answered") || !strings.Contains(out, "Main Mode message 2") || errOut != "" {
		t.Fatalf("status %d, stdout %q, stderr %q; want 0 and an answer", status, out, errOut)
	}
	// The same with the port as a flag after the server, and quiet.
	status, out, errOut, _ = runCheck(srv.Addr().String(), "--port", strconv.Itoa(int(srv.Port())), "-q")
	if status != exitOK || out != "" || errOut != "" {
		t.Fatalf("-q: status %d, stdout %q, stderr %q; want 0 and nothing printed", status, out, errOut)
	}
}

func TestRefused(t *testing.T) {
	// A proposal l2tpctl does not offer: the server answers
	// NO-PROPOSAL-CHOSEN.
	srv := responder(t, true, []suite.IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA256, Group: suite.MODP1024}})
	status, out, errOut, took := runCheck("--timeout", "5s", srv.String())
	if status != exitFail || out != "" || !strings.Contains(errOut, "refused") || !strings.Contains(errOut, "NO-PROPOSAL-CHOSEN") {
		t.Fatalf("status %d, stdout %q, stderr %q; want 1 and NO-PROPOSAL-CHOSEN", status, out, errOut)
	}
	if took > 2*time.Second {
		t.Errorf("took %v: a refusal should end the wait at once", took)
	}
}

func TestSilent(t *testing.T) {
	srv := responder(t, false, nil)
	status, out, errOut, took := runCheck("--timeout", "0.3", "--interval", "100ms", srv.String())
	if status != exitFail || out != "" || !strings.Contains(errOut, "no Main Mode answer") || strings.Contains(errOut, "nothing listens") {
		t.Fatalf("status %d, stdout %q, stderr %q; want 1 and no answer", status, out, errOut)
	}
	// Sent at 0, 100 and 300 ms: the last one falls on the timeout.
	if !strings.Contains(errOut, "(2 sent,") {
		t.Errorf("stderr %q: want 2 sent", errOut)
	}
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("took %v, want the timeout of 300ms", took)
	}
}

func TestClosedPort(t *testing.T) {
	srv := closedPort(t)
	status, out, errOut, took := runCheck("--timeout", "300ms", srv.String())
	if status != exitFail || out != "" || !strings.Contains(errOut, "nothing listens on "+srv.String()) {
		t.Fatalf("status %d, stdout %q, stderr %q; want 1 and nothing listens", status, out, errOut)
	}
	if took > 2*time.Second {
		t.Errorf("took %v, want the timeout of 300ms", took)
	}
	if status, out, errOut, _ := runCheck("-q", "--timeout", "100ms", srv.String()); status != exitFail || out != "" || errOut != "" {
		t.Errorf("-q: status %d, stdout %q, stderr %q; want 1 and nothing printed", status, out, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"--bogus", "127.0.0.1"},
		{"--timeout", "0", "127.0.0.1"},
		{"--timeout", "soon", "127.0.0.1"},
		{"--port", "70000", "127.0.0.1"},
		{"127.0.0.1:http"},
	} {
		if status, out, _, _ := runCheck(args...); status != exitUsage || out != "" {
			t.Errorf("%q: status %d, stdout %q; want 2", args, status, out)
		}
	}
	if status, _, errOut, _ := runCheck("-h"); status != exitOK || !strings.Contains(errOut, "usage: ikecheck") {
		t.Errorf("-h: status %d, stderr %q", status, errOut)
	}
}
