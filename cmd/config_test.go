package cmd

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestConfigFrom(t *testing.T) {
	base := func(mod func(f *connectFlags)) connectFlags {
		f := defaultConnectFlags()
		f.Server = "10.200.0.1"
		f.User = "alice"
		if mod != nil {
			mod(&f)
		}
		return f
	}
	want := func(mod func(c *tunnel.Config)) tunnel.Config {
		c := tunnel.Config{
			Server: "10.200.0.1", IKEPort: 500, NATTPort: 4500,
			PSK: []byte("k"), User: "alice", Password: []byte("p"),
			Auth: []tunnel.AuthMethod{tunnel.AuthMSCHAPv2, tunnel.AuthPAP}, Interface: "l2tp0", SALifetime: time.Hour, IKELifetime: 8 * time.Hour,
		}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	pfx := netip.MustParsePrefix

	tests := []struct {
		name    string
		flags   connectFlags
		want    tunnel.Config
		wantErr string // substring; "" = success
		usage   bool   // error is a usage error (or tunnel.ErrConfig)
	}{
		{name: "defaults", flags: base(nil), want: want(nil)},
		{name: "server with port", flags: base(func(f *connectFlags) { f.Server = "10.200.0.1:4501" }),
			want: want(func(c *tunnel.Config) { c.IKEPort = 4501 })},
		{name: "server name", flags: base(func(f *connectFlags) { f.Server = "vpn.example.org" }),
			want: want(func(c *tunnel.Config) { c.Server = "vpn.example.org" })},
		{name: "server name with port and trailing dot", flags: base(func(f *connectFlags) { f.Server = "vpn-1.example.org.:1500" }),
			want: want(func(c *tunnel.Config) { c.Server, c.IKEPort = "vpn-1.example.org.", 1500 })},
		{name: "no server", flags: base(func(f *connectFlags) { f.Server = "" }), wantErr: "no server given: use --server", usage: true},
		{name: "port 0", flags: base(func(f *connectFlags) { f.Server = "10.200.0.1:0" }), wantErr: `bad port "0"`, usage: true},
		{name: "port too big", flags: base(func(f *connectFlags) { f.Server = "10.200.0.1:65536" }), wantErr: `bad port "65536"`, usage: true},
		{name: "port not a number", flags: base(func(f *connectFlags) { f.Server = "10.200.0.1:ike" }), wantErr: `bad port "ike"`, usage: true},
		{name: "empty port", flags: base(func(f *connectFlags) { f.Server = "10.200.0.1:" }), wantErr: `bad port ""`, usage: true},
		{name: "no host", flags: base(func(f *connectFlags) { f.Server = ":500" }), wantErr: "no host", usage: true},
		{name: "IPv6 literal", flags: base(func(f *connectFlags) { f.Server = "2001:db8::1" }), wantErr: "IPv6 servers are not supported", usage: true},
		{name: "IPv6 loopback", flags: base(func(f *connectFlags) { f.Server = "::1" }), wantErr: "IPv6", usage: true},
		{name: "IPv6 bracketed with port", flags: base(func(f *connectFlags) { f.Server = "[2001:db8::1]:500" }), wantErr: "IPv6", usage: true},
		{name: "IPv4-mapped IPv6", flags: base(func(f *connectFlags) { f.Server = "::ffff:10.0.0.1" }), wantErr: "IPv6", usage: true},
		{name: "unspecified", flags: base(func(f *connectFlags) { f.Server = "0.0.0.0" }), wantErr: "not a unicast address", usage: true},
		{name: "broken IPv4", flags: base(func(f *connectFlags) { f.Server = "10.200.0.256" }), wantErr: "not a valid IPv4 address", usage: true},
		{name: "short IPv4", flags: base(func(f *connectFlags) { f.Server = "10.200.0" }), wantErr: "not a valid IPv4 address", usage: true},
		{name: "bad host char", flags: base(func(f *connectFlags) { f.Server = "vpn example" }), wantErr: "not a host name", usage: true},
		{name: "natt port", flags: base(func(f *connectFlags) { f.NATTPort = 14500 }),
			want: want(func(c *tunnel.Config) { c.NATTPort = 14500 })},
		{name: "natt port 0", flags: base(func(f *connectFlags) { f.NATTPort = 0 }), wantErr: "--natt-port 0", usage: true},
		{name: "natt port too big", flags: base(func(f *connectFlags) { f.NATTPort = 70000 }), wantErr: "--natt-port 70000", usage: true},
		{name: "no user", flags: base(func(f *connectFlags) { f.User = "" }), wantErr: "no user given: use --user", usage: true},
		{name: "routes", flags: base(func(f *connectFlags) {
			f.Routes = []string{"192.168.30.0/24", " 10.0.0.0/8", "192.168.30.0/24", "0.0.0.0/0"}
		}),
			want: want(func(c *tunnel.Config) {
				c.Routes = []netip.Prefix{pfx("192.168.30.0/24"), pfx("10.0.0.0/8"), pfx("0.0.0.0/0")}
			})},
		{name: "host route", flags: base(func(f *connectFlags) { f.Routes = []string{"192.168.30.7/32"} }),
			want: want(func(c *tunnel.Config) { c.Routes = []netip.Prefix{pfx("192.168.30.7/32")} })},
		{name: "route without length", flags: base(func(f *connectFlags) { f.Routes = []string{"192.168.30.0"} }),
			wantErr: `--route "192.168.30.0": not a CIDR prefix`, usage: true},
		{name: "route garbage", flags: base(func(f *connectFlags) { f.Routes = []string{"lan"} }), wantErr: `--route "lan"`, usage: true},
		{name: "route bad length", flags: base(func(f *connectFlags) { f.Routes = []string{"10.0.0.0/33"} }), wantErr: `--route "10.0.0.0/33"`, usage: true},
		{name: "route host bits", flags: base(func(f *connectFlags) { f.Routes = []string{"192.168.30.1/24"} }),
			wantErr: "did you mean 192.168.30.0/24", usage: true},
		{name: "route IPv6", flags: base(func(f *connectFlags) { f.Routes = []string{"2001:db8::/32"} }), wantErr: "only IPv4 routes", usage: true},
		{name: "auth pap only", flags: base(func(f *connectFlags) { f.Auth = "pap" }),
			want: want(func(c *tunnel.Config) { c.Auth = []tunnel.AuthMethod{tunnel.AuthPAP} })},
		{name: "auth order and case", flags: base(func(f *connectFlags) { f.Auth = "PAP, MSCHAPv2" }),
			want: want(func(c *tunnel.Config) { c.Auth = []tunnel.AuthMethod{tunnel.AuthPAP, tunnel.AuthMSCHAPv2} })},
		{name: "auth unknown", flags: base(func(f *connectFlags) { f.Auth = "mschapv2,chap" }),
			wantErr: `unknown method "chap" (known: mschapv2, pap)`, usage: true},
		{name: "auth twice", flags: base(func(f *connectFlags) { f.Auth = "pap,pap" }), wantErr: `method "pap" listed twice`, usage: true},
		{name: "auth empty", flags: base(func(f *connectFlags) { f.Auth = "" }), wantErr: "empty method", usage: true},
		{name: "auth empty item", flags: base(func(f *connectFlags) { f.Auth = "pap," }), wantErr: "empty method", usage: true},
		{name: "interface", flags: base(func(f *connectFlags) { f.Interface = "vpn0" }),
			want: want(func(c *tunnel.Config) { c.Interface = "vpn0" })},
		{name: "interface empty", flags: base(func(f *connectFlags) { f.Interface = "" }), wantErr: "empty interface name", usage: true},
		{name: "interface bad", flags: base(func(f *connectFlags) { f.Interface = "a/b" }), wantErr: "bad interface name", usage: true},
		{name: "interface too long", flags: base(func(f *connectFlags) { f.Interface = "a234567890123456" }), wantErr: "bad interface name", usage: true},
		{name: "sa lifetime", flags: base(func(f *connectFlags) { f.SALifetime = 20 * time.Second }),
			want: want(func(c *tunnel.Config) { c.SALifetime = 20 * time.Second })},
		{name: "sa lifetime too short", flags: base(func(f *connectFlags) { f.SALifetime = 5 * time.Second }),
			wantErr: "--sa-lifetime 5s: below the minimum of 10s", usage: true},
		{name: "sa lifetime zero", flags: base(func(f *connectFlags) { f.SALifetime = 0 }), wantErr: "--sa-lifetime 0s", usage: true},
		{name: "ike lifetime", flags: base(func(f *connectFlags) { f.IKELifetime = 2 * time.Minute }),
			want: want(func(c *tunnel.Config) { c.IKELifetime = 2 * time.Minute })},
		{name: "ike lifetime too short", flags: base(func(f *connectFlags) { f.IKELifetime = 30 * time.Second }), wantErr: "--ike-lifetime 30s", usage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{env: map[string]string{envPSK: "k", envPassword: "p"}}
			got, err := configFrom(context.Background(), tt.flags, w.secretSource())
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("configFrom = %+v, want error containing %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if c := ExitCode(err); tt.usage && c != exitUsage {
					t.Errorf("ExitCode(%v) = %d, want %d", err, c, exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatalf("configFrom: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("configFrom =\n %+v\nwant\n %+v", got, tt.want)
			}
			if err := got.WithDefaults().Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestConfigFromChecksBeforePrompting(t *testing.T) {
	w := &fakeWorld{terminal: true, typed: []string{"k", "p"}}
	f := defaultConnectFlags()
	f.Server, f.User, f.Interface = "10.200.0.1", "alice", "bad/name"
	_, err := configFrom(context.Background(), f, w.secretSource())
	if !errors.Is(err, tunnel.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
	if w.prompts != 0 {
		t.Errorf("prompted %d times before reporting a bad flag", w.prompts)
	}
}
