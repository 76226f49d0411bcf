package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/tunnel"
)

func TestConnectSuiteFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		check   func(c tunnel.Config) bool
		wantErr string // "" = success
	}{
		{"defaults", nil, func(c tunnel.Config) bool { return c.IKE == nil && c.ESP == nil && c.PFS == 0 && !c.AllowLegacy }, ""},
		{"ike list", []string{"--ike", "aes256-sha256-modp2048,aes128-sha1-ecp256"}, func(c tunnel.Config) bool {
			return len(c.IKE) == 2 && c.IKE[1].String() == "aes128-sha1-ecp256"
		}, ""},
		{"esp list", []string{"--esp", "aes128gcm16,aes256-sha1"}, func(c tunnel.Config) bool {
			return len(c.ESP) == 2 && c.ESP[0].String() == "aes128gcm16" && c.ESP[1].String() == "aes256-sha1"
		}, ""},
		{"pfs", []string{"--pfs", "ecp256"}, func(c tunnel.Config) bool { return c.PFS.String() == "ecp256" }, ""},
		{"legacy allowed", []string{"--allow-legacy", "--ike", "3des-sha1-modp1024", "--esp", "3des-sha1,des-md5", "--pfs", "modp1024"},
			func(c tunnel.Config) bool {
				return c.AllowLegacy && c.IKE[0].String() == "3des-sha1-modp1024" && len(c.ESP) == 2
			}, ""},
		{"legacy ike refused", []string{"--ike", "3des-sha1-modp1024"}, nil,
			"--ike: IKE suite 3des-sha1-modp1024 uses legacy algorithms (3des, modp1024): allow them with --allow-legacy"},
		{"md5 refused", []string{"--esp", "aes128-md5"}, nil, "--esp: ESP suite aes128-md5 uses legacy algorithms (md5): allow them with --allow-legacy"},
		{"legacy pfs refused", []string{"--pfs", "modp1536"}, nil, "--pfs: PFS group modp1536 uses legacy algorithms (modp1536): allow them with --allow-legacy"},
		{"unknown group", []string{"--ike", "aes128-sha1-modp768"}, nil, `--ike: bad suite list: IKE suite "aes128-sha1-modp768": unknown Diffie-Hellman group "modp768"`},
		{"ike syntax", []string{"--ike", "aes128-sha1"}, nil, `--ike: bad suite list: IKE suite "aes128-sha1": want ENCRYPTION-HASH-GROUP`},
		{"esp group", []string{"--esp", "aes128-sha1-modp2048"}, nil, "a Diffie-Hellman group is set for ESP with the PFS setting"},
		{"esp unknown", []string{"--esp", "chacha20poly1305"}, nil, `--esp: bad suite list`},
		{"pfs unknown", []string{"--pfs", "x25519"}, nil, `--pfs: bad suite list: unknown Diffie-Hellman group "x25519"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := okWorld()
			code := w.runApp(t, append(append([]string(nil), okArgs...), tc.args...)...)
			if tc.wantErr != "" {
				if code != exitUsage || !strings.Contains(w.stderr.String(), tc.wantErr) || w.gotCfg != nil {
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

// TestNoProposalHint: a refused IKE offer without --allow-legacy exits 5
// and the hint names --allow-legacy.
func TestNoProposalHint(t *testing.T) {
	refused := &tunnel.PhaseError{Phase: tunnel.PhaseIKE,
		Err: fmt.Errorf("%w; %w", &isakmp.NotifyError{Type: uint16(isakmp.NotifyNoProposalChosen)}, tunnel.ErrLegacyWanted)}
	if ExitCode(refused) != exitNoProposal {
		t.Fatalf("exit %d", ExitCode(refused))
	}
	line := ErrorLine(refused)
	for _, want := range []string{"NO-PROPOSAL-CHOSEN", "seems to want legacy algorithms", "--allow-legacy"} {
		if !strings.Contains(line, want) {
			t.Errorf("%q lacks %q", line, want)
		}
	}
	plain := &tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: &isakmp.NotifyError{Type: uint16(isakmp.NotifyNoProposalChosen)}}
	if line := ErrorLine(plain); strings.Contains(line, "--allow-legacy") || !strings.Contains(line, "--ike") {
		t.Errorf("after the legacy retry: %q", line)
	}
	if !errors.Is(refused, tunnel.ErrLegacyWanted) {
		t.Error("not ErrLegacyWanted")
	}
}

// TestWeakSuiteWarning: weak suites in use are named in a warning line,
// and the connected line names the suites.
func TestWeakSuiteWarning(t *testing.T) {
	w := okWorld()
	w.run = func(ctx context.Context, cfg tunnel.Config, deps tunnel.Deps) error {
		deps.Events(tunnel.Event{Time: t0, Kind: tunnel.EventProposal, Proposal: &tunnel.ProposalInfo{IKE: "3des-sha1-modp1024", ESP: "3des-sha1",
			Weak: "IKE 3des-sha1-modp1024 (3des, modp1024), ESP 3des-sha1 (3des)", LegacyRetry: true}})
		deps.Events(tunnel.Event{Time: t0, Kind: tunnel.EventUp, Link: &tunnel.LinkInfo{Interface: "l2tp0", MTU: 1400, IKE: "3des-sha1-modp1024", ESP: "3des-sha1"}})
		return nil
	}
	if code := w.runApp(t, append(append([]string(nil), okArgs...), "--allow-legacy")...); code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, w.stderr.String())
	}
	for _, want := range []string{
		"warning: using weak algorithms: IKE 3des-sha1-modp1024 (3des, modp1024), ESP 3des-sha1 (3des) (the server refused or ignored the default offer; allowed by --allow-legacy)",
		"IKE 3des-sha1-modp1024, ESP 3des-sha1\n",
	} {
		if !strings.Contains(w.stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", w.stderr.String(), want)
		}
	}
}
