package cmd

import (
	"strings"
	"testing"
)

// FuzzParseProfile: parseProfile never panics on any file; an error is one
// line, a usage error, and starts with the file's name; what it accepts
// are keys of connect's flags, each with the line it is set on.
func FuzzParseProfile(f *testing.F) {
	for _, s := range []string{
		"server = \"vpn.example.net\"\nuser = \"alice\"\npsk-file = \"/etc/l2tpctl/psk\"\n",
		"route = [\"10.0.0.0/8\", \"192.168.0.0/16\"]\nauth = [\"mschapv2\", \"pap\"]\n",
		"natt-port = 4500\nverbose = true\nsa-lifetime = \"1h\"\nike-lifetime = \"8h\"\n",
		"natt-keepalive = \"20s\"\n# comment\n\n  user = \"u\" # x\n",
		"server = \"a\"\n[server]\n",
		"a.b = 1\n[t]\nx = 2\n[[arr]]\n",
		"user = \"a\\qb\"",
		"natt-port = 99999999999999999999",
		"server = 'lit'\nuser = \"\"\"multi\nline\"\"\"\n",
		"s = 1979-05-27T07:32:00Z\n",
		"server = \"a\"\nserver = \"b\"\n",
	} {
		f.Add([]byte(s))
	}
	flags := connectFlagDefs()
	keys := map[string]bool{}
	for _, k := range profileKeys(flags) {
		keys[k] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseProfile("f.toml", data, flags)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "f.toml:") || strings.Contains(msg, "\n") || ExitCode(err) != exitUsage {
				t.Fatalf("error %q (exit %d)", msg, ExitCode(err))
			}
			return
		}
		for k := range p.values {
			if !keys[k] {
				t.Fatalf("accepted key %q, not a profile key", k)
			}
			if p.lines[k] < 1 {
				t.Fatalf("key %q without a line", k)
			}
		}
	})
}
