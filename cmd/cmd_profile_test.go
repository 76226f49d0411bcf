package cmd

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// profileWorld has the user's profile office (with a secret file beside
// it), a private one with inline secrets, and a system profile lab.
func profileWorld() *fakeWorld {
	return &fakeWorld{
		env: map[string]string{envHome: home},
		files: map[string]string{
			office: "server = \"vpn.example.net\"\nuser = \"alice\"\npsk-file = \"office.psk\"\n" +
				"route = [\"10.0.0.0/8\", \"192.168.30.0/24\"]\nauth = [\"pap\"]\nsa-lifetime = \"90m\"\nverbose = true\n",
			userDir + "/office.psk":    "office-psk\n",
			userDir + "/private.toml":  "server = \"10.1.1.1\"\nuser = \"bob\"\npsk = \"PSK-inline-Zq8\"\npassword = \"PW-inline-Kk9\"\n",
			userDir + "/notes.txt":     "not a profile",
			userDir + "/.hidden.toml":  "server = \"x\"\n",
			userDir + "/old/x.toml":    "server = \"x\"\n",
			"/etc/l2tpctl/lab.toml":    "server = \"lab.example.net\"\nuser = \"lab\"\n",
			"/etc/l2tpctl/office.toml": "server = \"etc.example.net\"\n",
		},
		modes: map[string]fs.FileMode{userDir + "/private.toml": 0o600},
	}
}

func TestProfileCheck(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		files   map[string]string
		modes   map[string]fs.FileMode
		wantOut string // stdout on success
		wantErr string // substring of the error line; "" = success
	}{
		{name: "ok", args: []string{"office"}, wantOut: office + ": ok\n"},
		{name: "inline secrets", args: []string{"private"}, wantOut: userDir + "/private.toml: ok\n"},
		{name: "by path", args: []string{"/etc/l2tpctl/lab.toml"}, wantOut: "/etc/l2tpctl/lab.toml: ok\n"},
		{name: "L2TPCTL_PROFILE", env: map[string]string{envProfile: "lab"}, wantOut: "/etc/l2tpctl/lab.toml: ok\n"},
		{name: "argument over L2TPCTL_PROFILE", args: []string{"lab"}, env: map[string]string{envProfile: "office"},
			wantOut: "/etc/l2tpctl/lab.toml: ok\n"},
		{name: "no profile", wantErr: "no profile given: use l2tpctl profile check NAME or PATH, or set L2TPCTL_PROFILE"},
		{name: "two profiles", args: []string{"office", "lab"}, wantErr: `unexpected argument "lab": l2tpctl profile check takes one profile`},
		{name: "flag after the profile", args: []string{"office", "--verbose"}, wantErr: `flag --verbose after the argument "office" would be ignored`},
		{name: "unknown flag", args: []string{"--server", "x", "office"}, wantErr: "flag provided but not defined: -server (see 'l2tpctl profile check --help')"},
		{name: "not found", args: []string{"nope"},
			wantErr: "profile nope: no such profile; looked for /home/alice/.config/l2tpctl/nope.toml and /etc/l2tpctl/nope.toml"},
		{name: "unknown key", args: []string{"./p.toml"}, files: map[string]string{"./p.toml": "server = \"s\"\nusr = \"u\"\n"},
			wantErr: `./p.toml:2: unknown key "usr" (did you mean "user"?)`},
		{name: "duplicate key", args: []string{"./p.toml"}, files: map[string]string{"./p.toml": "server = \"s\"\n\nserver = \"t\"\n"},
			wantErr: "./p.toml:3: server: duplicate key (first set on line 1)"},
		{name: "wrong type", args: []string{"./p.toml"}, files: map[string]string{"./p.toml": "natt-port = \"4500\"\n"},
			wantErr: "./p.toml:1: natt-port: want an integer, not a string"},
		{name: "bad value", args: []string{"./p.toml"}, files: map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\nroute = [\"10.0.0.1/8\"]\n"},
			wantErr: `./p.toml:3: route "10.0.0.1/8": host bits set (did you mean 10.0.0.0/8?)`},
		{name: "bad duration", args: []string{"./p.toml"}, files: map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\nike-lifetime = \"1d\"\n"},
			wantErr: `./p.toml:3: ike-lifetime: bad duration "1d"`},
		{name: "incomplete", args: []string{"./p.toml"}, files: map[string]string{"./p.toml": "server = \"s.example\"\n"},
			wantErr: "no user given: use --user NAME, or set user in ./p.toml"},
		{name: "insecure inline secret", args: []string{"private"}, modes: map[string]fs.FileMode{userDir + "/private.toml": 0o664},
			wantErr: "private.toml:3: psk: the profile holds a secret, but its permissions 0664 let other users read or change it: make it private with chmod 600"},
		{name: "missing secret file", args: []string{"office"}, files: map[string]string{userDir + "/office.psk": ""},
			wantErr: office + ":3: psk-file: open /home/alice/.config/l2tpctl/office.psk: file does not exist"},
		{name: "the environment does not hide a bad secret file", args: []string{"office"},
			env: map[string]string{envPSK: "k"}, files: map[string]string{userDir + "/office.psk": ""},
			wantErr: office + ":3: psk-file: open"},
		{name: "two sources in the profile", args: []string{"./p.toml"},
			files:   map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\npassword-stdin = true\npassword-file = \"pw\"\n"},
			wantErr: "the password is given twice, by password-stdin (./p.toml:3) and by password-file (./p.toml:4): use only one"},
		{name: "missing L2TP secret file", args: []string{"./p.toml"},
			files:   map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\nl2tp-secret-file = \"nope.l2tp\"\n"},
			wantErr: "./p.toml:3: l2tp-secret-file: open"},
		{name: "L2TP secret file", args: []string{"./p.toml"},
			files:   map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\nl2tp-secret-file = \"t.l2tp\"\n", "t.l2tp": "tun\n"},
			wantOut: "./p.toml: ok\n"},
		{name: "insecure inline L2TP secret", args: []string{"./p.toml"}, modes: map[string]fs.FileMode{"./p.toml": 0o644},
			files:   map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\nl2tp-secret = \"tun\"\n"},
			wantErr: "./p.toml:3: l2tp-secret: the profile holds a secret, but its permissions 0644"},
		{name: "NAT-T keepalive too short", args: []string{"./p.toml"},
			files:   map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\nnatt-keepalive = \"500ms\"\n"},
			wantErr: "./p.toml:3: natt-keepalive 500ms: below the minimum of 1s"},
		{name: "stdin is not read", args: []string{"./p.toml"},
			files:   map[string]string{"./p.toml": "server = \"s.example\"\nuser = \"u\"\npassword-stdin = true\n"},
			wantOut: "./p.toml: ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := profileWorld()
			for k, v := range tt.env {
				w.env[k] = v
			}
			for k, v := range tt.files {
				w.files[k] = v
				if v == "" {
					delete(w.files, k)
				}
			}
			for k, v := range tt.modes {
				w.modes[k] = v
			}
			code := w.runApp(t, append([]string{"profile", "check"}, tt.args...)...)
			if tt.wantErr != "" {
				ls := lines(w.stderr.String())
				if code != exitUsage || len(ls) != 1 || !strings.Contains(ls[0], tt.wantErr) {
					t.Errorf("exit %d, stderr %q; want 2 and one line containing %q", code, w.stderr.String(), tt.wantErr)
				}
				if w.stdout.String() != "" {
					t.Errorf("stdout = %q, want nothing", w.stdout.String())
				}
				return
			}
			if code != 0 || w.stdout.String() != tt.wantOut || w.stderr.String() != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q and nothing", code, w.stdout.String(), w.stderr.String(), tt.wantOut)
			}
			if w.prompts != 0 || w.gotCfg != nil {
				t.Error("check prompted or connected")
			}
		})
	}
}

func TestProfileShow(t *testing.T) {
	w := profileWorld()
	if code := w.runApp(t, "profile", "show", "office"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	want := `# /home/alice/.config/l2tpctl/office.toml
server = "vpn.example.net"
natt-port = 4500  # default
psk-file = "/home/alice/.config/l2tpctl/office.psk"
psk-stdin = false  # default
psk = (not set)
user = "alice"
password-file = (not set)
password-stdin = false  # default
password = (not set)
l2tp-secret-file = (not set)
l2tp-secret = (not set)
auth = "pap"
route = ["10.0.0.0/8", "192.168.30.0/24"]
ipv6 = "auto"  # default
route6 = []  # default
interface = "l2tp0"  # default
sa-lifetime = "1h30m"
ike-lifetime = "8h"  # default
ike = (not set)
esp = (not set)
pfs = (not set)
allow-legacy = false  # default
natt-keepalive = "20s"  # default
esp-transport = "udp"  # default
aggressive = false  # default
id = (not set)
cert = (not set)
key = (not set)
ca = (not set)
server-id = (not set)
non-interactive = false  # default
verbose = true
reconnect = false  # default
reconnect-max = "5m"  # default
script = (not set)
default-route = false  # default
no-routes = false  # default
dns = "auto"  # default
dns-domain = []  # default
netstack = false  # default
socks5 = (not set)
socks5-user = (not set)
socks5-password-file = (not set)
http-proxy = (not set)
forward = []  # default
json = false  # default
up-timeout = "0s"  # default
pcap = (not set)
`
	if got := w.stdout.String(); got != want {
		t.Errorf("profile show office =\n%s\nwant\n%s", got, want)
	}
	// Every key, once.
	for _, k := range profileKeys(connectFlagDefs()) {
		if n := strings.Count(w.stdout.String(), "\n"+k+" = "); n != 1 {
			t.Errorf("key %s shown %d times", k, n)
		}
	}

	w = profileWorld()
	w.env[envProfile] = "private"
	if code := w.runApp(t, "profile", "show"); code != 0 {
		t.Fatalf("private: exit %d, stderr %q", code, w.stderr.String())
	}
	for _, l := range []string{"psk = (set)\n", "password = (set)\n", "psk-file = (not set)\n", "route = []  # default\n", "server = \"10.1.1.1\"\n"} {
		if !strings.Contains(w.stdout.String(), l) {
			t.Errorf("private: output does not contain %q:\n%s", l, w.stdout.String())
		}
	}
	if strings.Contains(w.stdout.String(), "inline") {
		t.Errorf("private: output shows a secret:\n%s", w.stdout.String())
	}

	for _, tt := range []struct {
		args    []string
		modes   map[string]fs.FileMode
		wantErr string
	}{
		{[]string{"private"}, map[string]fs.FileMode{userDir + "/private.toml": 0o644}, "chmod 600"},
		{[]string{"nope"}, nil, "profile nope: no such profile"},
		{nil, nil, "no profile given: use l2tpctl profile show NAME or PATH"},
		{[]string{"a", "b"}, nil, `unexpected argument "b"`},
	} {
		w := profileWorld()
		for k, v := range tt.modes {
			w.modes[k] = v
		}
		code := w.runApp(t, append([]string{"profile", "show"}, tt.args...)...)
		if code != exitUsage || !strings.Contains(w.stderr.String(), tt.wantErr) || w.stdout.String() != "" {
			t.Errorf("show %q: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, w.stdout.String(), w.stderr.String(), tt.wantErr)
		}
	}
}

func TestProfileList(t *testing.T) {
	w := profileWorld()
	if code := w.runApp(t, "profile", "list"); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	want := "office   /home/alice/.config/l2tpctl/office.toml\n" +
		"private  /home/alice/.config/l2tpctl/private.toml\n" +
		"lab      /etc/l2tpctl/lab.toml\n" +
		"office   /etc/l2tpctl/office.toml  (shadowed by /home/alice/.config/l2tpctl/office.toml)\n"
	if got := w.stdout.String(); got != want {
		t.Errorf("profile list =\n%s\nwant\n%s", got, want)
	}
	if w.stderr.String() != "" {
		t.Errorf("stderr = %q", w.stderr.String())
	}

	w = profileWorld()
	w.env[envXDGConfigHome] = "/xdg"
	w.files["/xdg/l2tpctl/work.toml"] = "server = \"w\"\n"
	if code := w.runApp(t, "profile", "list"); code != 0 {
		t.Fatalf("XDG: exit %d", code)
	}
	if want := "work    /xdg/l2tpctl/work.toml\nlab     /etc/l2tpctl/lab.toml\noffice  /etc/l2tpctl/office.toml\n"; w.stdout.String() != want {
		t.Errorf("XDG: profile list =\n%s\nwant\n%s", w.stdout.String(), want)
	}

	w = &fakeWorld{env: map[string]string{envHome: home}}
	if code := w.runApp(t, "profile", "list"); code != 0 || w.stdout.String() != "" {
		t.Fatalf("none: exit %d, stdout %q", code, w.stdout.String())
	}
	if want := "l2tpctl: no profiles in /home/alice/.config/l2tpctl or /etc/l2tpctl\n"; w.stderr.String() != want {
		t.Errorf("none: stderr = %q, want %q", w.stderr.String(), want)
	}

	w = profileWorld()
	w.unread = map[string]error{"/etc/l2tpctl": fs.ErrPermission}
	if code := w.runApp(t, "profile", "list"); code != 0 {
		t.Fatalf("unreadable: exit %d", code)
	}
	if !strings.Contains(w.stdout.String(), "private") || strings.Contains(w.stdout.String(), "lab") {
		t.Errorf("unreadable: stdout = %q", w.stdout.String())
	}
	if want := "l2tpctl: warning: open /etc/l2tpctl: permission denied\n"; w.stderr.String() != want {
		t.Errorf("unreadable: stderr = %q, want %q", w.stderr.String(), want)
	}

	w = profileWorld()
	if code := w.runApp(t, "profile", "list", "office"); code != exitUsage {
		t.Errorf("list office: exit %d, want 2", code)
	}
}

func TestProfileCommandHelp(t *testing.T) {
	for _, args := range [][]string{{"profile"}, {"profile", "--help"}, {"profile", "-h"}, {"help", "profile"}} {
		w := profileWorld()
		if code := w.runApp(t, args...); code != 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, w.stderr.String())
		}
		for _, want := range []string{"l2tpctl profile list | show [NAME|PATH] | check [NAME|PATH]", "list ", "show ", "check ",
			"~/.config/l2tpctl/NAME.toml", "/etc/l2tpctl/NAME.toml", envProfile, "chmod 600", "docs/profile.md"} {
			if !strings.Contains(w.stdout.String(), want) {
				t.Errorf("%q: help does not mention %q:\n%s", args, want, w.stdout.String())
			}
		}
	}
	for _, sub := range []string{"list", "show", "check"} {
		w := profileWorld()
		if code := w.runApp(t, "profile", sub, "--help"); code != 0 || !strings.Contains(w.stdout.String(), "l2tpctl profile "+sub) {
			t.Errorf("profile %s --help: exit %d, stdout %q", sub, code, w.stdout.String())
		}
	}
	w := profileWorld()
	if code := w.runApp(t, "profile", "lsit"); code != exitUsage || !strings.Contains(w.stderr.String(), `unknown command "profile lsit"`) {
		t.Errorf("profile lsit: exit %d, stderr %q", code, w.stderr.String())
	}
	w = profileWorld()
	if code := w.runApp(t, "--help"); code != 0 || !strings.Contains(w.stdout.String(), "profile") {
		t.Errorf("--help does not list the profile command:\n%s", w.stdout.String())
	}
}

// TestProfileRealFiles runs profile check with the real file system
// functions (osDeps): the mode of a real file decides about inline secrets.
func TestProfileRealFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.toml")
	if err := os.WriteFile(path, []byte("server = \"10.1.1.1\"\nuser = \"u\"\npsk = \"k\"\npassword-file = \"pw\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() (int, string) {
		var out, errOut strings.Builder
		d := osDeps()
		d.stdout, d.stderr = &out, &errOut
		err := newApp("1.2.3", d).RunContext(context.Background(), []string{"l2tpctl", "profile", "check", path})
		if err != nil {
			return ExitCode(err), ErrorLine(err)
		}
		return 0, out.String()
	}
	if code, out := check(); code != 0 || out != path+": ok\n" {
		t.Errorf("mode 0600: exit %d, %q", code, out)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := check(); code != exitUsage || !strings.Contains(out, "chmod 600 "+shellQuote(path)) {
		t.Errorf("mode 0644: exit %d, %q", code, out)
	}
}
