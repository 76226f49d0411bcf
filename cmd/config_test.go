package cmd

import (
	"context"
	"errors"
	"io/fs"
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
			Auth: []tunnel.AuthMethod{tunnel.AuthMSCHAPv2, tunnel.AuthEAP, tunnel.AuthCHAP, tunnel.AuthPAP}, Interface: "l2tp0", SALifetime: time.Hour, IKELifetime: 8 * time.Hour, NATTKeepalive: 20 * time.Second,
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
		{name: "ipv6 on, route6", flags: base(func(f *connectFlags) {
			f.IPv6, f.Routes6 = "ON", []string{" 2001:db8::/32", "::/0", "2001:db8::/32"}
		}), want: want(func(c *tunnel.Config) {
			c.IPv6, c.Routes6 = tunnel.IPv6On, []netip.Prefix{pfx("2001:db8::/32"), pfx("::/0")}
		})},
		{name: "ipv6 off", flags: base(func(f *connectFlags) { f.IPv6 = "off" }), want: want(func(c *tunnel.Config) { c.IPv6 = tunnel.IPv6Off })},
		{name: "ipv6 unknown", flags: base(func(f *connectFlags) { f.IPv6 = "yes" }), wantErr: `--ipv6 "yes": unknown mode (known: auto, on, off)`, usage: true},
		{name: "route6 IPv4", flags: base(func(f *connectFlags) { f.Routes6 = []string{"10.0.0.0/8"} }), wantErr: `--route6 "10.0.0.0/8": not an IPv6 prefix`, usage: true},
		{name: "route6 host bits", flags: base(func(f *connectFlags) { f.Routes6 = []string{"2001:db8::1/32"} }), wantErr: "host bits set (did you mean 2001:db8::/32?)", usage: true},
		{name: "route6 not a prefix", flags: base(func(f *connectFlags) { f.Routes6 = []string{"2001:db8::"} }), wantErr: "not a CIDR prefix", usage: true},
		{name: "route6 with ipv6 off", flags: base(func(f *connectFlags) { f.IPv6, f.Routes6 = "off", []string{"2001:db8::/32"} }), wantErr: "--route6 needs IPv6: not with --ipv6 off", usage: true},
		{name: "route6 with no-routes", flags: base(func(f *connectFlags) { f.NoRoutes, f.Routes6 = true, []string{"2001:db8::/32"} }), wantErr: "--no-routes and --route6 exclude each other", usage: true},
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
		{name: "auth unknown", flags: base(func(f *connectFlags) { f.Auth = "mschapv2,mschap" }),
			wantErr: `unknown method "mschap" (known: mschapv2, eap, chap, pap)`, usage: true},
		{name: "auth every method", flags: base(func(f *connectFlags) { f.Auth = "pap,chap,mschapv2,eap" }),
			want: want(func(c *tunnel.Config) {
				c.Auth = []tunnel.AuthMethod{tunnel.AuthPAP, tunnel.AuthCHAP, tunnel.AuthMSCHAPv2, tunnel.AuthEAP}
			})},
		{name: "auth chap-md5 is chap", flags: base(func(f *connectFlags) { f.Auth = "CHAP-MD5,eap" }),
			want: want(func(c *tunnel.Config) { c.Auth = []tunnel.AuthMethod{tunnel.AuthCHAP, tunnel.AuthEAP} })},
		{name: "auth chap twice", flags: base(func(f *connectFlags) { f.Auth = "chap,chap-md5" }), wantErr: `method "chap" listed twice`, usage: true},
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
		{name: "natt keepalive", flags: base(func(f *connectFlags) { f.NATTKeepalive = 5 * time.Second }),
			want: want(func(c *tunnel.Config) { c.NATTKeepalive = 5 * time.Second })},
		{name: "esp transport raw", flags: base(func(f *connectFlags) { f.ESPTransport = "Raw" }),
			want: want(func(c *tunnel.Config) { c.ESPTransport = tunnel.ESPTransportRaw })},
		{name: "esp transport auto", flags: base(func(f *connectFlags) { f.ESPTransport = "auto" }),
			want: want(func(c *tunnel.Config) { c.ESPTransport = tunnel.ESPTransportAuto })},
		{name: "esp transport unknown", flags: base(func(f *connectFlags) { f.ESPTransport = "tcp" }),
			wantErr: `--esp-transport "tcp": unknown transport (known: udp, raw, auto)`, usage: true},
		{name: "natt keepalive off", flags: base(func(f *connectFlags) { f.NATTKeepalive = 0 }),
			want: want(func(c *tunnel.Config) { c.NATTKeepalive = tunnel.NATTKeepaliveOff })},
		{name: "natt keepalive too short", flags: base(func(f *connectFlags) { f.NATTKeepalive = 500 * time.Millisecond }),
			wantErr: "--natt-keepalive 500ms: below the minimum of 1s (0 turns keepalives off)", usage: true},
		{name: "natt keepalive negative", flags: base(func(f *connectFlags) { f.NATTKeepalive = -time.Second }),
			wantErr: "--natt-keepalive -1s", usage: true},
		{name: "lcp echo and dpd", flags: base(func(f *connectFlags) {
			f.LCPEchoInterval, f.LCPEchoFailures, f.DPDInterval = 3*time.Second, 4, 7*time.Second
		}),
			want: want(func(c *tunnel.Config) {
				c.LCPEchoInterval, c.LCPEchoFailures, c.DPDInterval = 3*time.Second, 4, 7*time.Second
			})},
		{name: "lcp echo and dpd off", flags: base(func(f *connectFlags) { f.LCPEchoInterval, f.DPDInterval = 0, 0 }),
			want: want(func(c *tunnel.Config) { c.LCPEchoInterval, c.DPDInterval = tunnel.LCPEchoOff, tunnel.DPDOff })},
		{name: "lcp echo too short", flags: base(func(f *connectFlags) { f.LCPEchoInterval = 500 * time.Millisecond }),
			wantErr: "--lcp-echo-interval 500ms: below the minimum of 1s (0 turns it off)", usage: true},
		{name: "dpd negative", flags: base(func(f *connectFlags) { f.DPDInterval = -time.Second }),
			wantErr: "--dpd-interval -1s", usage: true},
		{name: "lcp echo failures zero", flags: base(func(f *connectFlags) { f.LCPEchoFailures = 0 }),
			wantErr: "--lcp-echo-failures 0: at least 1", usage: true},
		{name: "l2tp secret from a file", flags: base(func(f *connectFlags) { f.L2TPSecret.File = strp("l2tp") }),
			want: want(func(c *tunnel.Config) { c.L2TPSecret = []byte("tun") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{env: map[string]string{envPSK: "k", envPassword: "p"}, files: map[string]string{"l2tp": "tun\n"}}
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

// The user's profile directory in TestConnectWithProfile's world.
const (
	home    = "/home/alice"
	userDir = home + "/.config/l2tpctl"
	office  = userDir + "/office.toml"
)

// TestConnectWithProfile runs connect with profiles: where they are found,
// how flags override them, and every error, each naming the profile's
// file, line and key.
func TestConnectWithProfile(t *testing.T) {
	const profileText = "server = \"vpn.example.net\"\n" + // line 1
		"user = \"alice\"\n" + // 2
		"psk-file = \"office.psk\"\n" + // 3
		"password-file = \"/home/alice/pw\"\n" + // 4
		"route = [\"10.0.0.0/8\"]\n" + // 5
		"sa-lifetime = \"2h\"\n" // 6
	baseFiles := map[string]string{
		office:                  profileText,
		userDir + "/office.psk": "office-psk\n",
		home + "/pw":            "office-pw\n",
	}
	want := func(mod func(c *tunnel.Config)) *tunnel.Config {
		c := tunnel.Config{
			Server: "vpn.example.net", IKEPort: 500, NATTPort: 4500,
			PSK: []byte("office-psk"), User: "alice", Password: []byte("office-pw"),
			Auth: []tunnel.AuthMethod{tunnel.AuthMSCHAPv2, tunnel.AuthEAP, tunnel.AuthCHAP, tunnel.AuthPAP}, Routes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			Interface: "l2tp0", SALifetime: 2 * time.Hour, IKELifetime: 8 * time.Hour, NATTKeepalive: 20 * time.Second,
		}
		if mod != nil {
			mod(&c)
		}
		c.ControlSocket = defaultRunDir + "/" + tunnel.InstanceName(c.Interface) + ".sock"
		return &c
	}
	with := func(extra string) string { return profileText + extra } // lines 7…

	tests := []struct {
		name     string
		args     []string          // after "connect"
		env      map[string]string // over HOME=/home/alice
		files    map[string]string // over baseFiles; "" deletes
		modes    map[string]fs.FileMode
		unread   map[string]error
		stdin    string
		terminal bool
		typed    []string

		want       *tunnel.Config
		wantErr    string // substring of the error line; "" = success
		wantStderr string // substring of stderr on success
	}{
		// Where the profile is.
		{name: "name in ~/.config/l2tpctl", args: []string{"--profile", "office"}, want: want(nil)},
		{name: "XDG_CONFIG_HOME before HOME", args: []string{"--profile", "office"},
			env:   map[string]string{envXDGConfigHome: "/xdg"},
			files: map[string]string{"/xdg/l2tpctl/office.toml": "server = \"xdg.example.net\"\nuser = \"bob\"\npsk-file = \"../../home/alice/.config/l2tpctl/office.psk\"\npassword-file = \"/home/alice/pw\"\n"},
			want: want(func(c *tunnel.Config) {
				c.Server, c.User, c.Routes, c.SALifetime = "xdg.example.net", "bob", nil, time.Hour
			})},
		{name: "XDG_CONFIG_HOME without the profile: not in HOME's", args: []string{"--profile", "office"},
			env:     map[string]string{envXDGConfigHome: "/xdg"},
			wantErr: "--profile office: no such profile; looked for /xdg/l2tpctl/office.toml and /etc/l2tpctl/office.toml"},
		{name: "relative XDG_CONFIG_HOME ignored", args: []string{"--profile", "office"},
			env: map[string]string{envXDGConfigHome: "xdg"}, want: want(nil)},
		{name: "system profile", args: []string{"--profile", "lab"},
			files: map[string]string{"/etc/l2tpctl/lab.toml": "server = \"lab.example.net\"\nuser = \"alice\"\n"},
			env:   map[string]string{envPSK: "k", envPassword: "p"},
			want: want(func(c *tunnel.Config) {
				c.Server, c.PSK, c.Password, c.Routes, c.SALifetime = "lab.example.net", []byte("k"), []byte("p"), nil, time.Hour
			})},
		{name: "user profile before the system's", args: []string{"--profile", "office"},
			files: map[string]string{"/etc/l2tpctl/office.toml": "server = \"etc.example.net\"\n"},
			want:  want(nil)},
		{name: "no HOME: only the system's", args: []string{"--profile", "office"}, env: map[string]string{envHome: ""},
			wantErr: "--profile office: no such profile; looked for /etc/l2tpctl/office.toml"},
		{name: "not found names the places searched", args: []string{"--profile", "home"},
			wantErr: "--profile home: no such profile; looked for /home/alice/.config/l2tpctl/home.toml and /etc/l2tpctl/home.toml"},
		{name: "relative path", args: []string{"--profile", "./vpn.toml"},
			files: map[string]string{"./vpn.toml": "server = \"10.1.1.1\"\nuser = \"u\"\npsk-file = \"psk\"\npassword-file = \"pw\"\n", "psk": "k", "pw": "p"},
			want: want(func(c *tunnel.Config) {
				c.Server, c.User, c.PSK, c.Password, c.Routes, c.SALifetime = "10.1.1.1", "u", []byte("k"), []byte("p"), nil, time.Hour
			})},
		{name: "absolute path", args: []string{"--profile", office}, want: want(nil)},
		{name: "a name is not a path", args: []string{"--profile", "vpn.toml"}, files: map[string]string{"vpn.toml": profileText},
			wantErr: "--profile vpn.toml: give the profile's name without .toml (vpn), or a path such as ./vpn.toml"},
		{name: "~/ is HOME", args: []string{"--profile", "~/.config/l2tpctl/office.toml"}, want: want(nil)},
		{name: "~/ without HOME", args: []string{"--profile", "~/office.toml"}, env: map[string]string{envHome: ""},
			wantErr: "--profile ~/office.toml: $HOME is not set"},
		{name: "missing path", args: []string{"--profile", "./nope.toml"},
			wantErr: "--profile ./nope.toml: stat ./nope.toml: file does not exist"},
		{name: "directory", args: []string{"--profile", "/home/alice/.config"}, wantErr: "--profile /home/alice/.config: is a directory"},
		{name: "directory by name", args: []string{"--profile", "sub"}, files: map[string]string{userDir + "/sub.toml/x": "x"},
			wantErr: "--profile sub: /home/alice/.config/l2tpctl/sub.toml is a directory"},
		{name: "unreadable", args: []string{"--profile", "office"}, unread: map[string]error{office: fs.ErrPermission},
			wantErr: "reading the profile: open /home/alice/.config/l2tpctl/office.toml: permission denied"},
		{name: "empty --profile", args: []string{"--profile", ""}, wantErr: "--profile: empty profile name"},

		// L2TPCTL_PROFILE.
		{name: "L2TPCTL_PROFILE", env: map[string]string{envProfile: "office"}, want: want(nil)},
		{name: "L2TPCTL_PROFILE path", env: map[string]string{envProfile: office}, want: want(nil)},
		{name: "--profile over L2TPCTL_PROFILE", args: []string{"--profile", "office"}, env: map[string]string{envProfile: "nope"},
			want: want(nil)},
		{name: "L2TPCTL_PROFILE not found", env: map[string]string{envProfile: "nope"},
			wantErr: "L2TPCTL_PROFILE=nope: no such profile; looked for /home/alice/.config/l2tpctl/nope.toml and /etc/l2tpctl/nope.toml"},
		{name: "empty L2TPCTL_PROFILE: no profile", env: map[string]string{envProfile: ""},
			wantErr: "no server given: use --server HOST[:PORT]"},

		// Flags override the profile.
		{name: "flags override", args: []string{"--profile", "office", "--server", "10.9.9.9:4501", "--user", "bob",
			"--natt-port", "14500", "--auth", "pap", "--interface", "vpn0", "--sa-lifetime", "30m", "--ike-lifetime", "1h"},
			want: want(func(c *tunnel.Config) {
				c.Server, c.IKEPort, c.User, c.NATTPort, c.Auth = "10.9.9.9", 4501, "bob", 14500, []tunnel.AuthMethod{tunnel.AuthPAP}
				c.Interface, c.SALifetime, c.IKELifetime = "vpn0", 30*time.Minute, time.Hour
			})},
		{name: "--route replaces the profile's list", args: []string{"--profile", "office", "--route", "192.168.0.0/16", "--route", "172.16.0.0/12"},
			want: want(func(c *tunnel.Config) {
				c.Routes = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("172.16.0.0/12")}
			})},
		{name: "flag given with the default value still overrides", args: []string{"--profile", "office", "--sa-lifetime", "1h"},
			want: want(func(c *tunnel.Config) { c.SALifetime = time.Hour })},
		{name: "profile values over defaults", args: []string{"--profile", "office"},
			files: map[string]string{office: with("natt-port = 4501\nauth = [\"pap\", \"mschapv2\"]\ninterface = \"office0\"\nike-lifetime = \"2h\"\n")},
			want: want(func(c *tunnel.Config) {
				c.NATTPort, c.Auth = 4501, []tunnel.AuthMethod{tunnel.AuthPAP, tunnel.AuthMSCHAPv2}
				c.Interface, c.IKELifetime = "office0", 2*time.Hour
			})},

		// Bad values in the profile name its file, line and key.
		{name: "duplicate key", args: []string{"--profile", "office"}, files: map[string]string{office: with("route = [\"10.0.0.1/8\"]\n")},
			wantErr: office + ":7: route: duplicate key (first set on line 5)"},
		{name: "route with host bits", args: []string{"--profile", "office"},
			files:   map[string]string{office: strings.Replace(profileText, "10.0.0.0/8", "10.0.0.1/8", 1)},
			wantErr: office + `:5: route "10.0.0.1/8": host bits set (did you mean 10.0.0.0/8?)`},
		{name: "bad duration", args: []string{"--profile", "office"}, files: map[string]string{office: strings.Replace(profileText, `"2h"`, `"2 hours"`, 1)},
			wantErr: office + `:6: sa-lifetime: bad duration "2 hours"`},
		{name: "duration below the minimum", args: []string{"--profile", "office"}, files: map[string]string{office: strings.Replace(profileText, `"2h"`, `"5s"`, 1)},
			wantErr: office + ":6: sa-lifetime 5s: below the minimum of 10s"},
		{name: "ike lifetime below the minimum", args: []string{"--profile", "office"}, files: map[string]string{office: with("ike-lifetime = \"30s\"\n")},
			wantErr: office + ":7: ike-lifetime 30s: below the minimum of 1m0s"},
		{name: "bad port", args: []string{"--profile", "office"}, files: map[string]string{office: with("natt-port = 0\n")},
			wantErr: office + ":7: natt-port 0: not a UDP port"},
		{name: "bad server", args: []string{"--profile", "office"}, files: map[string]string{office: strings.Replace(profileText, "vpn.example.net", "::1", 1)},
			wantErr: office + `:1: server "::1": IPv6 servers are not supported`},
		{name: "bad auth", args: []string{"--profile", "office"}, files: map[string]string{office: with("auth = \"pap,mschap\"\n")},
			wantErr: office + `:7: auth: unknown method "mschap"`},
		{name: "bad interface", args: []string{"--profile", "office"}, files: map[string]string{office: with("interface = \"a b\"\n")},
			wantErr: office + `:7: interface: invalid configuration: bad interface name "a b"`},
		{name: "unknown key", args: []string{"--profile", "office"}, files: map[string]string{office: with("\nroutes = []\n")},
			wantErr: office + `:8: unknown key "routes" (did you mean "route"?)`},
		{name: "wrong type", args: []string{"--profile", "office"}, files: map[string]string{office: with("verbose = 1\n")},
			wantErr: office + ":7: verbose: want a boolean (true or false), not an integer"},
		{name: "a flag's bad value names the flag", args: []string{"--profile", "office", "--route", "10.0.0.1/8"},
			wantErr: `--route "10.0.0.1/8": host bits set`},
		{name: "a flag's bad value named even over a good profile value", args: []string{"--profile", "office", "--sa-lifetime", "1s"},
			wantErr: "--sa-lifetime 1s: below the minimum"},
		{name: "a flag fixes the profile's bad value", args: []string{"--profile", "office", "--route", "10.0.0.0/8"},
			files: map[string]string{office: strings.Replace(profileText, "10.0.0.0/8", "10.0.0.1/8", 1)}, want: want(nil)},
		{name: "missing server", args: []string{"--profile", "office"}, files: map[string]string{office: strings.Replace(profileText, "server = \"vpn.example.net\"\n", "", 1)},
			wantErr: "no server given: use --server HOST[:PORT], or set server in " + office},
		{name: "missing user", args: []string{"--profile", "office"}, files: map[string]string{office: strings.Replace(profileText, "user = \"alice\"\n", "", 1)},
			wantErr: "no user given: use --user NAME, or set user in " + office},

		// Secrets from the profile.
		{name: "inline secrets, mode 0600", args: []string{"--profile", "p"},
			files: map[string]string{userDir + "/p.toml": "server = \"vpn.example.net\"\nuser = \"alice\"\npsk = \"in-psk\"\npassword = \"in-pw\"\n"},
			modes: map[string]fs.FileMode{userDir + "/p.toml": 0o600},
			want: want(func(c *tunnel.Config) {
				c.PSK, c.Password, c.Routes, c.SALifetime = []byte("in-psk"), []byte("in-pw"), nil, time.Hour
			})},
		{name: "inline secret, mode 0400", args: []string{"--profile", "office"}, files: map[string]string{office: with("password = \"in-pw\"\n")},
			modes: map[string]fs.FileMode{office: 0o400}, wantErr: "the password is given twice, by password-file (" + office + ":4) and by password (" + office + ":7): use only one"},
		{name: "inline secret, mode 0400", args: []string{"--profile", "office"},
			files: map[string]string{office: strings.Replace(profileText, "password-file = \"/home/alice/pw\"", "password = \"in-pw\"", 1)},
			modes: map[string]fs.FileMode{office: 0o400}, want: want(func(c *tunnel.Config) { c.Password = []byte("in-pw") })},
		{name: "inline secret, mode 0644 refused", args: []string{"--profile", "office"}, files: map[string]string{office: with("\npsk = \"in-psk\"\n")},
			modes:   map[string]fs.FileMode{office: 0o644},
			wantErr: office + ":8: psk: the profile holds a secret, but its permissions 0644 let other users read or change it: make it private with chmod 600 " + office},
		{name: "inline secret, mode 0640 refused", args: []string{"--profile", "office"}, files: map[string]string{office: with("password = \"x\"\n")},
			modes: map[string]fs.FileMode{office: 0o640}, wantErr: "permissions 0640 let other users read or change it: make it private with chmod 600"},
		{name: "inline secret, mode 0620 refused", args: []string{"--profile", "office"}, files: map[string]string{office: with("password = \"x\"\n")},
			modes: map[string]fs.FileMode{office: 0o620}, wantErr: "chmod 600"},
		{name: "inline secret, mode 0604 refused", args: []string{"--profile", "office"}, files: map[string]string{office: with("psk = \"x\"\n")},
			modes: map[string]fs.FileMode{office: 0o604}, wantErr: "chmod 600"},
		{name: "insecure path quoted", args: []string{"--profile", "./my vpn.toml"}, files: map[string]string{"./my vpn.toml": "psk = \"x\"\n"},
			wantErr: "chmod 600 './my vpn.toml'"},
		{name: "mode 0644 fine without inline secrets", args: []string{"--profile", "office"}, modes: map[string]fs.FileMode{office: 0o644},
			want: want(nil)},
		{name: "inline secret refused even when a flag overrides it", args: []string{"--profile", "office", "--psk-file", home + "/pw"},
			files: map[string]string{office: with("psk = \"x\"\n")}, wantErr: "chmod 600"},
		{name: "env overrides the profile's secret", args: []string{"--profile", "office"}, env: map[string]string{envPSK: "env-psk"},
			want: want(func(c *tunnel.Config) { c.PSK = []byte("env-psk") })},
		{name: "a flag overrides the profile's secret of another kind", args: []string{"--profile", "p", "--password-file", home + "/pw"},
			files: map[string]string{userDir + "/p.toml": "server = \"vpn.example.net\"\nuser = \"alice\"\npsk = \"in-psk\"\npassword = \"in-pw\"\n"},
			modes: map[string]fs.FileMode{userDir + "/p.toml": 0o600},
			want: want(func(c *tunnel.Config) {
				c.PSK, c.Password, c.Routes, c.SALifetime = []byte("in-psk"), []byte("office-pw"), nil, time.Hour
			})},
		{name: "stdin overrides the profile's secret", args: []string{"--profile", "office", "--psk-stdin"}, stdin: "stdin-psk\n",
			want: want(func(c *tunnel.Config) { c.PSK = []byte("stdin-psk") })},
		{name: "profile says stdin", args: []string{"--profile", "office"}, stdin: "stdin-pw\n",
			files: map[string]string{office: strings.Replace(profileText, "password-file = \"/home/alice/pw\"", "password-stdin = true", 1)},
			want:  want(func(c *tunnel.Config) { c.Password = []byte("stdin-pw") })},
		{name: "profile's stdin source named in errors", args: []string{"--profile", "office"},
			files:   map[string]string{office: strings.Replace(profileText, "password-file = \"/home/alice/pw\"", "password-stdin = true", 1)},
			wantErr: office + ":4: password-stdin: stdin ended before the password"},
		{name: "--password-stdin=false overrides the profile's password-stdin", args: []string{"--profile", "office", "--password-stdin=false"},
			files:   map[string]string{office: strings.Replace(profileText, "password-file = \"/home/alice/pw\"", "password-stdin = true", 1)},
			wantErr: "no password given and stdin is not a terminal"},
		{name: "two sources in the profile", args: []string{"--profile", "office"}, files: map[string]string{office: with("psk-stdin = true\n")},
			wantErr: "the pre-shared key is given twice, by psk-file (" + office + ":3) and by psk-stdin (" + office + ":7): use only one"},
		{name: "missing secret file", args: []string{"--profile", "office"}, files: map[string]string{userDir + "/office.psk": ""},
			wantErr: office + ":3: psk-file: open /home/alice/.config/l2tpctl/office.psk: file does not exist"},
		{name: "empty secret file", args: []string{"--profile", "office"}, files: map[string]string{home + "/pw": "\n"},
			wantErr: office + ":4: password-file /home/alice/pw: the file is empty"},
		{name: "empty inline secret", args: []string{"--profile", "p"},
			files: map[string]string{userDir + "/p.toml": "server = \"s.example\"\nuser = \"alice\"\npsk = \"\"\n"},
			modes: map[string]fs.FileMode{userDir + "/p.toml": 0o600}, wantErr: userDir + "/p.toml:3: psk: empty pre-shared key"},
		{name: "secret file under ~/", args: []string{"--profile", "office"},
			files: map[string]string{office: strings.Replace(profileText, `"office.psk"`, `"~/k"`, 1), home + "/k": "home-psk"},
			want:  want(func(c *tunnel.Config) { c.PSK = []byte("home-psk") })},
		{name: "secret file under ~/ without HOME", args: []string{"--profile", office}, env: map[string]string{envHome: ""},
			files:   map[string]string{office: strings.Replace(profileText, `"office.psk"`, `"~/k"`, 1)},
			wantErr: office + `:3: psk-file "~/k": $HOME is not set`},
		{name: "secret file relative to a relative profile", args: []string{"--profile", "vpn/p.toml"},
			files: map[string]string{"vpn/p.toml": "server = \"s.example\"\nuser = \"alice\"\npsk-file = \"k\"\npassword-file = \"../w\"\n",
				"vpn/k": "k", "w": "p"},
			want: want(func(c *tunnel.Config) {
				c.Server, c.PSK, c.Password, c.Routes, c.SALifetime = "s.example", []byte("k"), []byte("p"), nil, time.Hour
			})},
		{name: "a --psk-file flag is not relative to the profile", args: []string{"--profile", "office", "--psk-file", "office.psk"},
			wantErr: "--psk-file: open office.psk: file does not exist"},
		{name: "profile's non-interactive", args: []string{"--profile", "office"}, terminal: true, typed: []string{"typed"},
			files:   map[string]string{office: strings.Replace(profileText, "password-file = \"/home/alice/pw\"", "non-interactive = true", 1)},
			wantErr: "no password given and --non-interactive forbids prompting"},
		{name: "--non-interactive=false overrides the profile's", args: []string{"--profile", "office", "--non-interactive=false"},
			terminal: true, typed: []string{"typed"},
			files: map[string]string{office: strings.Replace(profileText, "password-file = \"/home/alice/pw\"", "non-interactive = true", 1)},
			want:  want(func(c *tunnel.Config) { c.Password = []byte("typed") }), wantStderr: "Password for alice: "},
		{name: "profile's verbose", args: []string{"--profile", "office"}, files: map[string]string{office: with("verbose = true\n")},
			want: want(nil), wantStderr: "debug: isakmp: hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorld{
				env: map[string]string{envHome: home}, files: map[string]string{}, modes: tt.modes, unread: tt.unread,
				stdin: tt.stdin, terminal: tt.terminal, typed: tt.typed,
			}
			for k, v := range tt.env {
				w.env[k] = v
			}
			for k, v := range baseFiles {
				w.files[k] = v
			}
			for k, v := range tt.files {
				w.files[k] = v
				if v == "" {
					delete(w.files, k)
				}
			}
			w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
				deps.Log.Debugf("isakmp: hello")
				return nil
			}
			code := w.runApp(t, append([]string{"connect"}, tt.args...)...)
			stderr := w.stderr.String()
			if tt.wantErr != "" {
				if code != exitUsage {
					t.Errorf("exit %d, want 2", code)
				}
				if w.gotCfg != nil {
					t.Error("the tunnel ran")
				}
				ls := lines(stderr)
				if len(ls) != 1 || !strings.Contains(ls[0], tt.wantErr) {
					t.Errorf("stderr = %q, want one line containing %q", stderr, tt.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if !reflect.DeepEqual(w.gotCfg, tt.want) {
				t.Errorf("run got config\n %+v\nwant\n %+v", w.gotCfg, tt.want)
			}
			if !strings.Contains(stderr, tt.wantStderr) || (tt.wantStderr == "" && stderr != "") {
				t.Errorf("stderr = %q, want %q", stderr, tt.wantStderr)
			}
		})
	}
}

// TestConfigFromNoTUNOffload: L2TPCTL_NO_TUN_OFFLOAD set to anything but
// "" or "0" asks for a plain TUN device.
func TestConfigFromNoTUNOffload(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "yes": true} {
		w := &fakeWorld{env: map[string]string{envPSK: "k", envPassword: "p"}}
		if v != "" {
			w.env[envNoTUNOffload] = v
		}
		f := defaultConnectFlags()
		f.Server, f.User = "10.200.0.1", "alice"
		cfg, err := configFrom(context.Background(), f, w.secretSource())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NoTUNOffload != want {
			t.Errorf("%s=%q: NoTUNOffload %v, want %v", envNoTUNOffload, v, cfg.NoTUNOffload, want)
		}
	}
}

// TestConfigFromNoUDPOffload: L2TPCTL_NO_UDP_OFFLOAD set to anything but
// "" or "0" turns UDP segmentation and receive offload off.
func TestConfigFromNoUDPOffload(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "1": true, "yes": true} {
		w := &fakeWorld{env: map[string]string{envPSK: "k", envPassword: "p"}}
		if v != "" {
			w.env[envNoUDPOffload] = v
		}
		f := defaultConnectFlags()
		f.Server, f.User = "10.200.0.1", "alice"
		cfg, err := configFrom(context.Background(), f, w.secretSource())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.NoUDPOffload != want {
			t.Errorf("%s=%q: NoUDPOffload %v, want %v", envNoUDPOffload, v, cfg.NoUDPOffload, want)
		}
	}
}
