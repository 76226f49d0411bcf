package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

var testStatus = tunnel.Status{
	PID: 1234, State: "up", Phase: "connected", Interface: "vpn0", Server: "10.200.0.1:500",
	UpSince: time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC), UptimeSeconds: 3723.4,
	Local: "192.168.30.10", Peer: "192.168.30.1", DNS: []string{"192.168.30.1"}, MTU: 1400,
	Routes:   []string{"192.168.30.0/24"},
	IKESuite: "aes256-sha256-modp2048", ESPSuite: "aes256-sha1", SPIIn: "0x01020304", SPIOut: "0xa0b0c0d0",
	TxPackets: 3, TxBytes: 252, RxPackets: 3, RxBytes: 252, Rekeys: 2, Reauths: 1,
	RxDropped: 40005, RxDrops: map[string]uint64{"ike_not_ours": 40000, "unknown_spi": 3, "esp_replay": 1, "foreign": 1},
}

func TestStatusCommand(t *testing.T) {
	w := okWorld()
	w.env = map[string]string{envRunDir: "/tmp/rd"}
	var gotPath string
	w.queryStatus = func(ctx context.Context, path string) (tunnel.Status, error) {
		gotPath = path
		return testStatus, nil
	}
	if code := w.runApp(t, "status", "--interface", "vpn0"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if gotPath != "/tmp/rd/"+tunnel.InstanceName("vpn0")+".sock" {
		t.Errorf("socket path %q", gotPath)
	}
	want := "vpn0: up for 1h2m3s (since 2026-01-02T15:04:05Z), pid 1234, server 10.200.0.1:500\n" +
		"  addresses  local 192.168.30.10, peer 192.168.30.1, MTU 1400\n" +
		"  DNS        192.168.30.1\n" +
		"  routes     192.168.30.0/24\n" +
		"  IKE        aes256-sha256-modp2048\n" +
		"  ESP        aes256-sha1, SPI in 0x01020304 out 0xa0b0c0d0\n" +
		"  sent       3 packets, 252 bytes (0 dropped)\n" +
		"  received   3 packets, 252 bytes (40005 dropped: ike_not_ours 40000, unknown_spi 3, esp_replay 1, foreign 1)\n" +
		"  re-keys    2 IPsec, 1 IKE re-authentications\n"
	if w.stdout.String() != want {
		t.Errorf("stdout =\n%s\nwant\n%s", w.stdout.String(), want)
	}

	w.stdout.Reset()
	if code := w.runApp(t, "status", "--json", "--interface", "vpn0"); code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	if !strings.HasSuffix(w.stdout.String(), "}\n") || strings.Count(w.stdout.String(), "\n") != 1 {
		t.Errorf("--json output is not one line: %q", w.stdout.String())
	}
	var got tunnel.Status
	if err := json.Unmarshal(w.stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.SPIIn != testStatus.SPIIn || got.TxBytes != 252 || got.Rekeys != 2 || !got.UpSince.Equal(testStatus.UpSince) {
		t.Errorf("--json round trip = %+v", got)
	}
	for _, key := range []string{`"state":"up"`, `"uptime_seconds":3723.4`, `"ike_suite"`, `"spi_out":"0xa0b0c0d0"`, `"rx_packets":3`, `"rx_drops":{"esp_replay":1,"foreign":1,"ike_not_ours":40000,"unknown_spi":3}`} {
		if !strings.Contains(w.stdout.String(), key) {
			t.Errorf("--json lacks %s: %s", key, w.stdout.String())
		}
	}
}

func TestStatusDisconnectNotRunning(t *testing.T) {
	notRunning := fmt.Errorf("%w (no one serves /run/l2tpctl/l2tp0.sock)", tunnel.ErrNotRunning)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"disconnect"}} {
		w := okWorld()
		w.queryStatus = func(context.Context, string) (tunnel.Status, error) { return tunnel.Status{}, notRunning }
		w.disconnect = func(context.Context, string) error { return notRunning }
		if code := w.runApp(t, args...); code != exitNotRunning {
			t.Errorf("%q: exit %d, want %d", args, code, exitNotRunning)
		}
		if !strings.Contains(w.stderr.String(), "l2tpctl: no connection on l2tp0: no connection is running") {
			t.Errorf("%q: stderr %q", args, w.stderr.String())
		}
	}
}

func TestDisconnectCommand(t *testing.T) {
	w := okWorld()
	var gotPath string
	w.disconnect = func(ctx context.Context, path string) error { gotPath = path; return nil }
	if code := w.runApp(t, "disconnect"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if gotPath != "/run/l2tpctl/"+tunnel.InstanceName("l2tp0")+".sock" || w.stdout.String() != "l2tp0: disconnected\n" {
		t.Errorf("path %q, stdout %q", gotPath, w.stdout.String())
	}
	for _, args := range [][]string{{"disconnect", "extra"}, {"status", "--interface", "a/b"}} {
		w := okWorld()
		if code := w.runApp(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestStatusIPv6: with IPv6CP up, status has an IPv6 row and --json the
// local6, peer6 and routes6 fields.
func TestStatusIPv6(t *testing.T) {
	st := testStatus
	st.Local6, st.Peer6, st.Routes6 = "fe80::708:90a:b0c:d0e", "fe80::200:5eff:fe00:1", []string{"2001:db8::/32"}
	w := okWorld()
	w.queryStatus = func(context.Context, string) (tunnel.Status, error) { return st, nil }
	if code := w.runApp(t, "status", "--interface", "vpn0"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	if want := "  routes     192.168.30.0/24\n  IPv6       local fe80::708:90a:b0c:d0e, peer fe80::200:5eff:fe00:1, routes 2001:db8::/32\n"; !strings.Contains(w.stdout.String(), want) {
		t.Errorf("stdout =\n%s\nwant it to contain\n%s", w.stdout.String(), want)
	}
	w.stdout.Reset()
	if code := w.runApp(t, "status", "--json", "--interface", "vpn0"); code != 0 {
		t.Fatalf("--json: exit %d", code)
	}
	for _, key := range []string{`"local6":"fe80::708:90a:b0c:d0e"`, `"peer6":"fe80::200:5eff:fe00:1"`, `"routes6":["2001:db8::/32"]`} {
		if !strings.Contains(w.stdout.String(), key) {
			t.Errorf("--json lacks %s: %s", key, w.stdout.String())
		}
	}
}
