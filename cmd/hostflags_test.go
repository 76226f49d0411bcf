package cmd

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestConnectHostFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(c tunnel.Config) bool
		wantErr string // "" = success
	}{
		{"defaults", nil, func(c tunnel.Config) bool {
			return !c.DefaultRoute && !c.NoRoutes && c.DNS == tunnel.DNSAuto && len(c.DNSDomains) == 0
		}, ""},
		{"default route", []string{"--default-route"}, func(c tunnel.Config) bool { return c.DefaultRoute }, ""},
		{"no routes", []string{"--no-routes"}, func(c tunnel.Config) bool { return c.NoRoutes }, ""},
		{"dns modes", []string{"--dns", "ResolvConf"}, func(c tunnel.Config) bool { return c.DNS == tunnel.DNSResolvConf }, ""},
		{"dns none", []string{"--dns", "none"}, func(c tunnel.Config) bool { return c.DNS == tunnel.DNSNone }, ""},
		{"dns resolved", []string{"--dns", "resolved"}, func(c tunnel.Config) bool { return c.DNS == tunnel.DNSResolved }, ""},
		{"domains, deduplicated", []string{"--dns-domain", "corp.example", "--dns-domain", "lab.example", "--dns-domain", "corp.example"},
			func(c tunnel.Config) bool { return strings.Join(c.DNSDomains, " ") == "corp.example lab.example" }, ""},
		{"unknown dns mode", []string{"--dns", "dnsmasq"}, nil, `--dns "dnsmasq": unknown mode (known: auto|resolved|resolvconf|none)`},
		{"bad domain", []string{"--dns-domain", "a b"}, nil, `--dns-domain "a b": not a domain name`},
		{"no routes and route", []string{"--no-routes", "--route", "10.1.0.0/16"}, nil, "--no-routes and --route exclude each other"},
		{"no routes and default route", []string{"--no-routes", "--default-route"}, nil, "--no-routes and --default-route exclude each other"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := okWorld()
			code := w.runApp(t, append(append([]string(nil), okArgs...), tc.args...)...)
			if tc.wantErr != "" {
				if code != exitUsage || !strings.Contains(w.stderr.String(), tc.wantErr) {
					t.Errorf("exit %d, stderr %q; want 2 and %q", code, w.stderr.String(), tc.wantErr)
				}
				return
			}
			if code != exitOK || w.gotCfg == nil {
				t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
			}
			if err := w.gotCfg.WithDefaults().Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if !tc.check(*w.gotCfg) {
				t.Errorf("config %+v", *w.gotCfg)
			}
		})
	}
}

func TestPrintEventDNSSetup(t *testing.T) {
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Events(tunnel.Event{Kind: tunnel.EventUp, Phase: tunnel.PhaseConnected, Link: &tunnel.LinkInfo{
			Interface: "l2tp0", MTU: 1400, DNS: []netip.Addr{netip.MustParseAddr("192.168.30.1")}, DNSSetup: "/etc/resolv.conf"}})
		return nil
	}
	if code := w.runApp(t, okArgs...); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if want := "DNS 192.168.30.1 (in /etc/resolv.conf)\n"; !strings.HasSuffix(w.stderr.String(), want) {
		t.Errorf("stderr %q, want it to end in %q", w.stderr.String(), want)
	}
}

func TestCleanupCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		done     []string
		err      error
		wantIf   string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"nothing", nil, nil, nil, "", 0, "nothing to clean up\n", ""},
		{"one interface", []string{"--interface", "vpn0"}, []string{"restored /etc/resolv.conf", "restored the default route 0.0.0.0/0 via 10.0.0.1 dev eth0"}, nil,
			"vpn0", 0, "restored /etc/resolv.conf\nrestored the default route 0.0.0.0/0 via 10.0.0.1 dev eth0\n", ""},
		{"in use", nil, nil, &tunnel.InUseError{Interface: "l2tp0", PID: 4242}, "", 1, "", "l2tpctl: interface l2tp0 is in use by pid 4242\n"},
		{"bad name", []string{"--interface", "a/b"}, nil, tunnel.CheckInterfaceName("a/b"), "a/b", 2, "", "bad interface name"},
		{"failure", nil, []string{"restored /etc/resolv.conf"}, errors.New("tunnel: restoring the default route: no such device"), "", 1,
			"restored /etc/resolv.conf\n", "no such device"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &fakeWorld{}
			d := w.deps()
			var gotIf *string
			d.cleanup = func(iface string) ([]string, error) {
				gotIf = &iface
				return tc.done, tc.err
			}
			err := newApp("1.2.3", d).RunContext(context.Background(), append([]string{"l2tpctl", "cleanup"}, tc.args...))
			if err != nil {
				w.stderr.WriteString(ErrorLine(err) + "\n")
			}
			if code := ExitCode(err); code != tc.wantCode {
				t.Errorf("exit %d, want %d (%v)", code, tc.wantCode, err)
			}
			if gotIf == nil || *gotIf != tc.wantIf {
				t.Errorf("cleanup called with %v, want %q", gotIf, tc.wantIf)
			}
			if w.stdout.String() != tc.wantOut {
				t.Errorf("stdout %q, want %q", w.stdout.String(), tc.wantOut)
			}
			if !strings.Contains(w.stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q, want %q", w.stderr.String(), tc.wantErr)
			}
		})
	}
}
