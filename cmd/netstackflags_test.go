package cmd

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestConnectNetstackFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    *tunnel.NetstackConfig
		wantErr string // "" = success
	}{
		{"off", nil, nil, nil, ""},
		{"default SOCKS5", []string{"--netstack"}, nil, &tunnel.NetstackConfig{SOCKS5: "127.0.0.1:1080"}, ""},
		{"HTTP proxy only", []string{"--netstack", "--http-proxy", "127.0.0.1:3128"}, nil, &tunnel.NetstackConfig{HTTPProxy: "127.0.0.1:3128"}, ""},
		{"all", []string{"--netstack", "--socks5", "127.0.0.1:1081", "--socks5-user", "bob", "--socks5-password-file", "sp",
			"--http-proxy", "127.0.0.1:3128", "--forward", "8080:web.corp:80", "--forward", "udp:5353:10.0.0.1:53"}, nil,
			&tunnel.NetstackConfig{SOCKS5: "127.0.0.1:1081", SOCKS5User: "bob", SOCKS5Password: []byte("sock-pw"), HTTPProxy: "127.0.0.1:3128",
				Forwards: []tunnel.Forward{{Network: "tcp", Local: "127.0.0.1:8080", Remote: "web.corp:80"}, {Network: "udp", Local: "127.0.0.1:5353", Remote: "10.0.0.1:53"}}}, ""},
		{"password from the environment", []string{"--netstack", "--socks5", "127.0.0.1:1081", "--socks5-user", "bob"}, map[string]string{envSOCKS5Password: "env-pw"},
			&tunnel.NetstackConfig{SOCKS5: "127.0.0.1:1081", SOCKS5User: "bob", SOCKS5Password: []byte("env-pw")}, ""},
		{"user without password", []string{"--netstack", "--socks5-user", "bob"}, nil, nil, "--socks5-user: no password given"},
		{"SOCKS5 without netstack", []string{"--socks5", "127.0.0.1:1080"}, nil, nil, "--socks5 needs --netstack"},
		{"forward without netstack", []string{"--forward", "80:a:80"}, nil, nil, "--forward needs --netstack"},
		{"bad forward", []string{"--netstack", "--forward", "80:a"}, nil, nil, `--forward: forward "80:a": want`},
		{"with routes", []string{"--netstack", "--route", "10.0.0.0/8"}, nil, nil, "--route: --netstack has no routes"},
		{"with default route", []string{"--netstack", "--default-route"}, nil, nil, "--default-route: --netstack has no routes"},
		{"password file without user", []string{"--netstack", "--socks5-password-file", "sp"}, nil, nil, "--socks5-password-file needs --socks5-user"},
		{"bad listen address", []string{"--netstack", "--socks5", "1080"}, nil, nil, `socks5 address "1080"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := okWorld()
			w.files["sp"] = "sock-pw\n"
			if w.env == nil {
				w.env = map[string]string{}
			}
			for k, v := range tc.env {
				w.env[k] = v
			}
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
			if !reflect.DeepEqual(w.gotCfg.Netstack, tc.want) {
				t.Errorf("Netstack = %+v, want %+v", w.gotCfg.Netstack, tc.want)
			}
		})
	}
}

func TestChildEnvNetstack(t *testing.T) {
	l := *testLink
	l.Interface, l.Netstack, l.SOCKS5, l.HTTPProxy = "netstack", true, "127.0.0.1:1080", "127.0.0.1:3128"
	env := childEnv([]string{"PATH=/bin", "HTTPS_PROXY=http://old:1", "no_proxy=localhost", envSOCKS5Password + "=x"}, &l)
	want := []string{"PATH=/bin", "no_proxy=localhost", envInterface + "=netstack", envLocalIP + "=192.168.30.10",
		envPeerIP + "=192.168.30.1", envDNS + "=192.168.30.1 8.8.8.8", envLocalIP6 + "=", envPeerIP6 + "=",
		envSOCKS5 + "=127.0.0.1:1080", envHTTPProxy + "=127.0.0.1:3128",
		"HTTP_PROXY=http://127.0.0.1:3128", "http_proxy=http://127.0.0.1:3128",
		"HTTPS_PROXY=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128",
		"ALL_PROXY=socks5h://127.0.0.1:1080", "all_proxy=socks5h://127.0.0.1:1080"}
	if !reflect.DeepEqual(env, want) {
		t.Errorf("childEnv =\n %q\nwant\n %q", env, want)
	}
	l.HTTPProxy = ""
	env = childEnv(nil, &l)
	if !strings.Contains(strings.Join(env, " "), "HTTPS_PROXY=socks5h://127.0.0.1:1080") {
		t.Errorf("SOCKS5 only: %q, want HTTPS_PROXY=socks5h://…", env)
	}
}

func TestHintListen(t *testing.T) {
	err := &tunnel.PhaseError{Phase: tunnel.PhaseSetup, Err: fmt.Errorf("socks5: %w: address already in use", tunnel.ErrListen)}
	if code := ExitCode(err); code != exitLocal {
		t.Errorf("exit code %d, want %d", code, exitLocal)
	}
	if line := ErrorLine(err); !strings.Contains(line, "choose another address for --socks5") || strings.Contains(line, "CAP_NET_ADMIN") {
		t.Errorf("error line %q, want the address hint", line)
	}
}
