package cmd

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// TestProfileKeys checks that every flag of connect is a profile key (but
// the ones notKeys excludes), that a profile can hold its type, that a
// profile's value reaches connectFlags, and that docs/profile.md documents
// it. A new flag fails here until it is all of these.
func TestProfileKeys(t *testing.T) {
	cmd := newConnectCommand(okWorld().deps())
	keys := profileKeys(cmd.Flags)
	if len(keys) != len(cmd.Flags)-len(notKeys) {
		t.Errorf("profile keys %q: want every flag of connect but %v", keys, notKeys)
	}
	doc, err := os.ReadFile("../docs/profile.md")
	if err != nil {
		t.Fatal(err)
	}
	empty := flagsFrom(newFlagDefaults(connectFlagDefs()), &profile{Path: "p.toml", values: valueMap{}, lines: map[string]int{}})
	for _, fl := range cmd.Flags {
		name := fl.Names()[0]
		if notKeys[name] != "" {
			continue
		}
		if keyType(name, fl) == "" {
			t.Errorf("--%s: a profile cannot hold a %T: teach keyType, flagDefault and decodeValue about it", name, fl)
			continue
		}
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/profile.md does not document the key %s", name)
		}
		v := otherValue(t, fl)
		got, err := decodeValue(name, fl, v.toml)
		if err != nil {
			t.Errorf("%s: decodeValue(%#v): %v", name, v.toml, err)
			continue
		}
		if !reflect.DeepEqual(got, v.decoded) {
			t.Errorf("%s: decodeValue(%#v) = %#v, want %#v", name, v.toml, got, v.decoded)
		}
		p := &profile{Path: "p.toml", values: valueMap{name: got}, lines: map[string]int{name: 1}}
		if f := flagsFrom(newFlagDefaults(connectFlagDefs()), p); reflect.DeepEqual(f.withoutProfile(), empty.withoutProfile()) {
			t.Errorf("%s = %#v in a profile does not change the settings: does flagsFrom read it?", name, v.toml)
		}
	}
}

// withoutProfile drops the record of where settings came from.
func (f connectFlags) withoutProfile() connectFlags {
	f.ProfilePath, f.ProfileLines = "", nil
	return f
}

// otherValue returns a value for fl's key that is not its default, as go-toml
// decodes it and as decodeValue returns it.
func otherValue(t *testing.T, fl cli.Flag) struct{ toml, decoded any } {
	switch fl := fl.(type) {
	case *cli.StringFlag:
		return struct{ toml, decoded any }{fl.Value + "x", fl.Value + "x"}
	case *cli.IntFlag:
		return struct{ toml, decoded any }{int64(fl.Value + 1), fl.Value + 1}
	case *cli.BoolFlag:
		return struct{ toml, decoded any }{!fl.Value, !fl.Value}
	case *cli.DurationFlag:
		d := fl.Value + time.Minute
		return struct{ toml, decoded any }{d.String(), d}
	case *cli.StringSliceFlag:
		return struct{ toml, decoded any }{[]any{"10.9.0.0/16"}, []string{"10.9.0.0/16"}}
	}
	t.Fatalf("no test value for %T", fl)
	return struct{ toml, decoded any }{}
}

func TestParseProfile(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    valueMap
		wantErr string // substring; "" = success
	}{
		{name: "empty", data: "", want: valueMap{}},
		{name: "comments only", data: "# nothing\n\n   # here\n", want: valueMap{}},
		{name: "every kind", data: `# office
server = "vpn.example.net:500"
natt-port = 4501
user = 'alice'
psk-file = "office.psk"
auth = "pap"
route = [
  "10.0.0.0/8",   # the LAN
  "192.168.30.0/24",
]
interface = "vpn0"
sa-lifetime = "90m"
ike-lifetime = " 2h "
verbose = true
non-interactive = false
password-stdin = true
`, want: valueMap{
			flgServer: "vpn.example.net:500", flgNATTPort: 4501, flgUser: "alice", flgPSKFile: "office.psk",
			flgAuth: "pap", flgRoute: []string{"10.0.0.0/8", "192.168.30.0/24"}, flgInterface: "vpn0",
			flgSALifetime: 90 * time.Minute, flgIKELifetime: 2 * time.Hour, flgVerbose: true,
			flgNonInteractive: false, flgPasswordStdin: true,
		}},
		{name: "auth as an array", data: `auth = ["mschapv2", "pap"]`, want: valueMap{flgAuth: "mschapv2,pap"}},
		{name: "empty route list", data: `route = []`, want: valueMap{flgRoute: []string{}}},
		{name: "quoted keys", data: `"server" = "s"` + "\n'user' = \"u\"", want: valueMap{flgServer: "s", flgUser: "u"}},
		{name: "inline secrets", data: "psk = \"k\"\npassword = \"\"\n", want: valueMap{flgPSK: "k", flgPassword: ""}},
		{name: "hex integer", data: "natt-port = 0x1194", want: valueMap{flgNATTPort: 4500}},

		{name: "unknown key", data: "server = \"s\"\n\nsever = \"t\"\n",
			wantErr: `office.toml:3: unknown key "sever" (did you mean "server"?)`},
		{name: "unknown key far from any", data: "\ncolour = \"blue\"\n",
			wantErr: `office.toml:2: unknown key "colour"; the keys are the long names of the flags of 'l2tpctl connect'`},
		{name: "short flag name", data: "v = true", wantErr: `office.toml:1: unknown key "v" (use the long name "verbose")`},
		{name: "profile key", data: "profile = \"other\"", wantErr: "office.toml:1: profile: not allowed in a profile: a profile cannot name another profile"},
		{name: "first error by line", data: "user = 1\nsever = \"s\"\n", wantErr: "office.toml:1: user: want a string, not an integer"},
		{name: "first error by line, unknown first", data: "xyz = 1\nuser = 1\n", wantErr: `office.toml:1: unknown key "xyz"`},

		{name: "int as string", data: "natt-port = \"4500\"", wantErr: "office.toml:1: natt-port: want an integer, not a string"},
		{name: "int as float", data: "natt-port = 4500.0", wantErr: "natt-port: want an integer, not a float"},
		{name: "string as int", data: "server = 10", wantErr: "office.toml:1: server: want a string, not an integer"},
		{name: "bool as string", data: "verbose = \"yes\"", wantErr: "verbose: want a boolean (true or false), not a string"},
		{name: "list as string", data: "route = \"10.0.0.0/8\"", wantErr: "office.toml:1: route: want an array of strings, not a string"},
		{name: "list of ints", data: "route = [\"10.0.0.0/8\", 7]", wantErr: "route: want an array of strings, but element 2 is an integer"},
		{name: "auth list of ints", data: "auth = [1]", wantErr: "auth: want an array of strings, but element 1 is an integer"},
		{name: "string array for a plain string", data: "user = [\"a\"]", wantErr: "user: want a string, not an array"},
		{name: "duration as int", data: "sa-lifetime = 3600", wantErr: `sa-lifetime: want a duration string such as "1h" or "30m", not an integer`},
		{name: "bad duration", data: "\nsa-lifetime = \"1 hour\"", wantErr: `office.toml:2: sa-lifetime: bad duration "1 hour"`},
		{name: "duration without unit", data: "ike-lifetime = \"8\"", wantErr: `ike-lifetime: bad duration "8"`},
		{name: "date", data: "server = 2025-01-01", wantErr: "server: want a string, not a date or time"},
		{name: "table", data: "user = \"u\"\n[server]\nhost = \"h\"\n", wantErr: "office.toml:2: server: want a string, not a table"},
		{name: "unknown table", data: "user = \"u\"\n\n[vpn]\nserver = \"h\"\n", wantErr: `office.toml:3: unknown key "vpn"`},
		{name: "tables after a table", data: "[a]\nx = 1\n[server]\n", wantErr: `office.toml:1: unknown key "a"`},
		{name: "dotted key", data: "server.host = \"h\"", wantErr: "office.toml:1: server: want a string, not a table"},
		{name: "dotted keys twice", data: "a.b = 1\na.c = 2\n", wantErr: `office.toml:1: unknown key "a"`},

		{name: "duplicate key", data: "server = \"a\"\nuser = \"u\"\nserver = \"b\"\n",
			wantErr: "office.toml:3: server: duplicate key (first set on line 1)"},
		{name: "duplicate quoted key", data: "server = \"a\"\n\"server\" = \"b\"\n",
			wantErr: "office.toml:2: server: duplicate key (first set on line 1)"},
		{name: "key then table", data: "server = \"a\"\n[server]\n", wantErr: "office.toml:2:"},

		{name: "no value", data: "server = \"a\"\nuser =\n", wantErr: "office.toml:2: "},
		{name: "junk after value", data: "server = \"a\" b\n", wantErr: "office.toml:1: expected newline but got another character"},
		{name: "unterminated string", data: "\n\nserver = \"a\n", wantErr: "office.toml:3: "},
		{name: "no equals", data: "server\n", wantErr: "office.toml:1: "},
		{name: "bad escape", data: `user = "a\qb"`, wantErr: "office.toml:1: invalid escape character"},
		{name: "integer too large", data: "natt-port = 99999999999999999999", wantErr: "office.toml:1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseProfile("office.toml", []byte(tt.data), connectFlagDefs())
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("parseProfile = %#v, want error containing %q", p.values, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				if ExitCode(err) != exitUsage {
					t.Errorf("ExitCode(%v) = %d, want %d", err, ExitCode(err), exitUsage)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is more than one line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseProfile: %v", err)
			}
			if !reflect.DeepEqual(p.values, tt.want) {
				t.Errorf("values =\n %#v\nwant\n %#v", p.values, tt.want)
			}
		})
	}
}

func TestParseProfileLines(t *testing.T) {
	data := "# c\nserver = \"s\"\n\nroute = [\n \"10.0.0.0/8\",\n]\n  user = \"u\" # x\n"
	p, err := parseProfile("p.toml", []byte(data), connectFlagDefs())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{flgServer: 2, flgRoute: 4, flgUser: 7}
	if !reflect.DeepEqual(p.lines, want) {
		t.Errorf("lines = %v, want %v", p.lines, want)
	}
}

// TestParseProfileHidesValues checks that syntax errors do not quote the
// file's characters, which could be a secret's.
func TestParseProfileHidesValues(t *testing.T) {
	for _, data := range []string{
		"psk = Zq8\n",
		"psk = \"Zq8\" Zq8\n",
		"password = 'Zq8\n",
		"password = \"\"\"Zq8",
		"psk = \"Z\\q8\"\n",
		"Zq8\n",
		"psk = [\"Zq8\" Zq8]\n",
		"psk = {Zq8}\n",
		"psk = 1Zq8\n",
		"psk = tZq8\n",
	} {
		_, err := parseProfile("p.toml", []byte(data), connectFlagDefs())
		if err == nil {
			t.Errorf("%q: no error", data)
			continue
		}
		if strings.Contains(err.Error(), "Zq8") || strings.Contains(err.Error(), "'Z'") || strings.Contains(err.Error(), "U+005A") {
			t.Errorf("%q: error %q shows the value", data, err)
		}
		if !strings.HasPrefix(err.Error(), "p.toml:1: ") {
			t.Errorf("%q: error %q does not start with the file and line", data, err)
		}
	}
}

func TestWithoutCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"expected newline but got U+0062 'b'":               "expected newline but got another character",
		"invalid character at start of key: U+0027 '\\''":   "invalid character at start of key",
		"unexpected character U+0073 's' at start of value": "unexpected character at start of value",
		"unexpected character U+000A at start of value":     "unexpected character at start of value",
		"invalid escape character U+0071 'q'":               "invalid escape character",
		"key a is already defined":                          "key a is already defined",
	} {
		if got := withoutCharacters(in); got != want {
			t.Errorf("withoutCharacters(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClosestKey(t *testing.T) {
	keys := profileKeys(connectFlagDefs())
	for k, want := range map[string]string{
		"sever": "server", "servers": "server", "nat-t-port": "natt-port", "nattport": "natt-port",
		"routes": "route", "pskfile": "psk-file", "psk_file": "psk-file", "interfce": "interface",
		"colour": "", "x": "", "lifetime": "",
	} {
		if got := closestKey(k, keys); got != want {
			t.Errorf("closestKey(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestProfileDirs(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{envXDGConfigHome: "/x", envHome: "/home/a"}, []string{"/x/l2tpctl", "/etc/l2tpctl"}},
		{map[string]string{envHome: "/home/a"}, []string{"/home/a/.config/l2tpctl", "/etc/l2tpctl"}},
		{map[string]string{envXDGConfigHome: "", envHome: "/home/a"}, []string{"/home/a/.config/l2tpctl", "/etc/l2tpctl"}},
		{map[string]string{envXDGConfigHome: "rel/dir", envHome: "/home/a"}, []string{"/home/a/.config/l2tpctl", "/etc/l2tpctl"}},
		{map[string]string{envXDGConfigHome: "/x/"}, []string{"/x/l2tpctl", "/etc/l2tpctl"}},
		{map[string]string{}, []string{"/etc/l2tpctl"}},
	}
	for _, tt := range tests {
		w := &fakeWorld{env: tt.env}
		if got := profileDirs(w.deps().lookupEnv); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("env %v: profileDirs = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 8 * time.Hour: "8h", 90 * time.Minute: "1h30m", 20 * time.Second: "20s",
		time.Minute: "1m", time.Hour + time.Second: "1h0m1s", 1500 * time.Millisecond: "1.5s", 0: "0s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
		if back, err := time.ParseDuration(shortDuration(d)); err != nil || back != d {
			t.Errorf("shortDuration(%v) = %q does not parse back: %v, %v", d, shortDuration(d), back, err)
		}
	}
}

func TestTOMLString(t *testing.T) {
	for in, want := range map[string]string{
		"vpn0": `"vpn0"`, `a"b\c`: `"a\"b\\c"`, "t\tn\n": `"t\tn\n"`, "\x00\x7f": `"\u0000\u007F"`, "é": `"é"`,
	} {
		if got := tomlString(in); got != want {
			t.Errorf("tomlString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/home/a/.config/l2tpctl/office.toml": "/home/a/.config/l2tpctl/office.toml",
		"./my vpn.toml":                       "'./my vpn.toml'",
		"it's.toml":                           `'it'\''s.toml'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
