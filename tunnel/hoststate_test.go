package tunnel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// testPaths puts the state directory and resolv.conf (holding old) in a
// temporary directory.
func testPaths(t *testing.T, old []byte) hostPaths {
	t.Helper()
	dir := t.TempDir()
	p := hostPaths{stateDir: filepath.Join(dir, "run"), resolvConf: filepath.Join(dir, "resolv.conf")}
	if err := os.WriteFile(p.resolvConf, old, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

// leaveBehind writes DNS into paths' resolv.conf as a run of iface would,
// and returns its state file as a process with pid would leave it.
func leaveBehind(t *testing.T, paths hostPaths, iface string, pid int) *stateFile {
	t.Helper()
	f, err := claimState(paths, iface, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyDNS(f, paths, TUNConfig{Name: iface, DNSMode: DNSResolvConf, DNS: testDNS}); err != nil {
		t.Fatal(err)
	}
	if err := f.update(func(s *hostState) { s.PID = pid }); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestStateFileWriteRead(t *testing.T) {
	old := []byte("nameserver 127.0.0.1\n")
	paths := testPaths(t, old)
	f := leaveBehind(t, paths, "l2tp0", os.Getpid())

	data, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatalf("state file is not JSON: %v\n%s", err, data)
	}
	for _, k := range []string{"pid", "interface", "resolv_conf"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("state file lacks %q:\n%s", k, data)
		}
	}
	got, err := readState(f.path)
	if err != nil || got == nil {
		t.Fatalf("readState: %v", err)
	}
	if got.st.PID != os.Getpid() || got.st.Interface != "l2tp0" || got.st.ResolvConf == nil ||
		!bytes.Equal(got.st.ResolvConf.Data, old) || got.st.ResolvConf.Path != paths.resolvConf {
		t.Errorf("read back %+v", got.st)
	}
	if f, err := readState(filepath.Join(paths.stateDir, "none.state")); f != nil || err != nil {
		t.Errorf("missing state file: %v, %v", f, err)
	}
	os.WriteFile(f.path, []byte("{"), 0o600)
	if _, err := readState(f.path); err == nil {
		t.Error("corrupt state file accepted")
	}
}

// TestStateInUse: a state file of a live process is left alone, and a new
// run on that interface refuses to start.
func TestStateInUse(t *testing.T) {
	paths := testPaths(t, []byte("nameserver 127.0.0.1\n"))
	f := leaveBehind(t, paths, "l2tp0", os.Getppid()) // alive: our parent
	_, err := claimState(paths, "l2tp0", nil)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getppid() || inUse.Interface != "l2tp0" {
		t.Fatalf("claim: %v, want an InUseError", err)
	}
	if _, err := cleanupIn(paths, ""); !errors.As(err, &inUse) {
		t.Errorf("cleanup: %v, want an InUseError", err)
	}
	if _, err := os.Stat(f.path); err != nil {
		t.Errorf("state file of a live process removed: %v", err)
	}
	// Another interface is free.
	if g, err := claimState(paths, "l2tp1", nil); err != nil {
		t.Errorf("claim l2tp1: %v", err)
	} else {
		g.remove()
	}
}

// TestStateRepairOnClaim: a run that finds the state file of a dead
// process restores resolv.conf and starts its own state.
func TestStateRepairOnClaim(t *testing.T) {
	old := []byte("# mine\nnameserver 127.0.0.1\n")
	paths := testPaths(t, old)
	leaveBehind(t, paths, "l2tp0", deadPID(t))
	if got, _ := os.ReadFile(paths.resolvConf); bytes.Equal(got, old) {
		t.Fatal("resolv.conf was not written")
	}
	f, err := claimState(paths, "l2tp0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(paths.resolvConf); !bytes.Equal(got, old) {
		t.Errorf("resolv.conf not restored: %q", got)
	}
	if f.st.PID != os.Getpid() || f.st.ResolvConf != nil {
		t.Errorf("new state %+v", f.st)
	}
}

// TestCleanup: Cleanup with and without an interface name repairs dead
// processes' state files and removes them.
func TestCleanup(t *testing.T) {
	old := []byte("nameserver 127.0.0.1\n")
	for _, iface := range []string{"l2tp0", ""} {
		t.Run("interface="+iface, func(t *testing.T) {
			paths := testPaths(t, old)
			f := leaveBehind(t, paths, "l2tp0", deadPID(t))
			done, err := cleanupIn(paths, iface)
			if err != nil {
				t.Fatal(err)
			}
			if len(done) != 1 || done[0] != "restored "+paths.resolvConf {
				t.Errorf("done %q", done)
			}
			if got, _ := os.ReadFile(paths.resolvConf); !bytes.Equal(got, old) {
				t.Errorf("resolv.conf not restored: %q", got)
			}
			if _, err := os.Stat(f.path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("state file left: %v", err)
			}
			if done, err := cleanupIn(paths, iface); err != nil || len(done) != 0 {
				t.Errorf("second cleanup: %q, %v", done, err)
			}
		})
	}
	if _, err := cleanupIn(testPaths(t, nil), "bad/name"); !errors.Is(err, ErrConfig) {
		t.Errorf("bad name: %v", err)
	}
}

func TestStateInterfaces(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"l2tp0.state", "vpn1.state", "l2tp0@net-123.state", "x.state.tmp", "junk"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	got, err := stateInterfaces(dir, "")
	if err != nil || len(got) != 2 || got[0] != "l2tp0" || got[1] != "vpn1" {
		t.Errorf("host namespace: %q, %v", got, err)
	}
	got, _ = stateInterfaces(dir, "net-123")
	if len(got) != 1 || got[0] != "l2tp0" {
		t.Errorf("namespace net-123: %q", got)
	}
}

func TestParseDNSMode(t *testing.T) {
	for _, m := range KnownDNSModes {
		got, err := ParseDNSMode(m.String())
		if err != nil || got != m {
			t.Errorf("%v: %v, %v", m, got, err)
		}
	}
	if _, err := ParseDNSMode("dnsmasq"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown mode: %v", err)
	}
	for d, ok := range map[string]bool{"corp.example": true, "~example.com": true, "a_b.c": true, "": false, "a..b": false, "a b": false} {
		if err := CheckDNSDomain(d); (err == nil) != ok {
			t.Errorf("CheckDNSDomain(%q) = %v", d, err)
		}
	}
}

func TestValidateHostFields(t *testing.T) {
	base := Config{Server: "10.0.0.1", PSK: []byte("k"), User: "u", Password: []byte("p")}.WithDefaults()
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		ok   bool
	}{
		{"defaults", func(c *Config) {}, true},
		{"default route", func(c *Config) { c.DefaultRoute = true }, true},
		{"no routes", func(c *Config) { c.NoRoutes = true }, true},
		{"no routes with a route", func(c *Config) { c.NoRoutes, c.Routes = true, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")} }, false},
		{"no routes with default route", func(c *Config) { c.NoRoutes, c.DefaultRoute = true, true }, false},
		{"bad DNS mode", func(c *Config) { c.DNS = 9 }, false},
		{"domains", func(c *Config) { c.DNS, c.DNSDomains = DNSResolvConf, []string{"corp.example"} }, true},
		{"bad domain", func(c *Config) { c.DNSDomains = []string{"-"} }, false},
		{"route6", func(c *Config) { c.IPv6, c.Routes6 = IPv6On, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, true},
		{"route6 IPv4", func(c *Config) { c.Routes6 = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }, false},
		{"route6 IPv4-mapped", func(c *Config) { c.Routes6 = []netip.Prefix{netip.MustParsePrefix("::ffff:10.0.0.0/104")} }, false},
		{"route6 with IPv6 off", func(c *Config) { c.IPv6, c.Routes6 = IPv6Off, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, false},
		{"no routes with route6", func(c *Config) { c.NoRoutes, c.Routes6 = true, []netip.Prefix{netip.MustParsePrefix("2001:db8::/32")} }, false},
		{"bad IPv6 mode", func(c *Config) { c.IPv6 = 7 }, false},
	} {
		c := base
		tc.mod(&c)
		if err := c.Validate(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestNoStateFile: without a state file (not root), only what dies with
// the process is done: DNS in auto mode is skipped, explicit DNS and the
// default route are refused before any change.
func TestNoStateFile(t *testing.T) {
	old := []byte("nameserver 127.0.0.1\n")
	paths := testPaths(t, old)
	f := &stateFile{path: filepath.Join(paths.stateDir, "l2tp0.state"), noState: fs.ErrPermission}
	if err := f.update(func(s *hostState) { s.Routes = nil }); err != nil {
		t.Errorf("update in memory: %v", err)
	}
	if how, err := applyDNS(f, paths, TUNConfig{Name: "l2tp0", DNSMode: DNSAuto, DNS: testDNS}); how != "" || err != nil {
		t.Errorf("auto: %q, %v", how, err)
	}
	if _, err := applyDNS(f, paths, TUNConfig{Name: "l2tp0", DNSMode: DNSResolvConf, DNS: testDNS}); !errors.Is(err, errNoStateFile) {
		t.Errorf("resolvconf: %v", err)
	}
	if got, _ := os.ReadFile(paths.resolvConf); !bytes.Equal(got, old) {
		t.Errorf("resolv.conf changed: %q", got)
	}
	if err := f.remove(); err != nil {
		t.Errorf("remove: %v", err)
	}
	if !isNoAccess(fmt.Errorf("x: %w", fs.ErrPermission)) || isNoAccess(fs.ErrNotExist) {
		t.Error("isNoAccess")
	}
}
