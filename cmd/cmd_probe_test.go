package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/l2tpctl/l2tpctl/tunnel"
)

// merakiLike is a probe result of a server that takes legacy suites only.
func merakiLike() *tunnel.ProbeResult {
	return &tunnel.ProbeResult{
		Server: "10.200.0.1", Port: 500,
		IKE: []tunnel.ProbeOutcome{
			{Class: "aes-sha2-modp2048", Result: tunnel.ProbeRefused, Notify: "NO-PROPOSAL-CHOSEN"},
			{Class: "legacy", Result: tunnel.ProbeAccepted, Chosen: "3des-sha1-modp1024"},
		},
		Aggressive:   tunnel.ProbeOutcome{Class: "aggressive-psk", Result: tunnel.ProbeSilent},
		Certificates: tunnel.ProbeOutcome{Class: "main-rsa-sig", Result: tunnel.ProbeRefused, Notify: "NO-PROPOSAL-CHOSEN"},
		VendorIDs:    []tunnel.ProbeVID{{Hex: "afcad71368a1f1c96b8696fc77570100", Name: "DPD (RFC 3706)"}, {Hex: "0011", Name: ""}},
		Phase1:       &tunnel.ProbeOutcome{Class: "phase1", Result: tunnel.ProbeAccepted, Detail: "established (3des-sha1-modp1024, server ID 10.200.0.1)"},
		ESP:          []tunnel.ProbeOutcome{{Class: "aes-sha1", Result: tunnel.ProbeRefused}, {Class: "legacy", Result: tunnel.ProbeAccepted, Chosen: "3des-sha1"}},
		L2TP:         &tunnel.ProbeL2TP{HostName: "meraki-mx", VendorName: "Katalix", Framing: 3, Bearer: 3},
		PPP:          &tunnel.ProbePPP{Requested: []string{"pap"}, Accepted: []string{"pap"}, Up: true},
		Use:          []string{"--allow-legacy", "--ike 3des-sha1-modp1024", "--esp 3des-sha1", "--auth pap"},
	}
}

func TestProbeCommand(t *testing.T) {
	t.Run("table", func(t *testing.T) {
		w := okWorld()
		w.probe = func(context.Context, tunnel.Config, tunnel.Deps) (*tunnel.ProbeResult, error) {
			return merakiLike(), nil
		}
		if code := w.runApp(t, "probe", "--server", "10.200.0.1", "--psk-file", "psk", "--user", "alice", "--password-file", "pw"); code != 0 {
			t.Fatalf("exit %d: %s", code, w.stderr.String())
		}
		if string(w.gotCfg.PSK) != "the-psk" || string(w.gotCfg.Password) != "the-password" || w.gotCfg.User != "alice" {
			t.Errorf("config %+v", w.gotCfg)
		}
		out := w.stdout.String()
		for _, want := range []string{
			"Server 10.200.0.1, IKE on UDP 500\n",
			"  Main Mode aes-sha2-modp2048  refused    NO-PROPOSAL-CHOSEN\n",
			"  Main Mode legacy             accepted   3des-sha1-modp1024\n",
			"  Aggressive Mode (PSK)        no answer",
			"  afcad71368a1f1c96b8696fc77570100  DPD (RFC 3706)\n",
			"  0011                              (unknown)\n",
			"Phase 1 with the key: established (3des-sha1-modp1024, server ID 10.200.0.1)\n",
			"  ESP legacy      accepted  3des-sha1\n",
			`L2TP: Host Name "meraki-mx", Vendor Name "Katalix", framing capabilities 3, bearer capabilities 3`,
			"PPP: the server asked for pap; accepted pap; link up (then closed)\n",
			"Use: l2tpctl connect --server 10.200.0.1 ... --allow-legacy --ike 3des-sha1-modp1024 --esp 3des-sha1 --auth pap\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out+w.stderr.String(), "the-psk") || strings.Contains(out+w.stderr.String(), "the-password") {
			t.Errorf("a secret in the output")
		}
	})
	t.Run("json", func(t *testing.T) {
		w := okWorld()
		w.probe = func(context.Context, tunnel.Config, tunnel.Deps) (*tunnel.ProbeResult, error) {
			return merakiLike(), nil
		}
		if code := w.runApp(t, "probe", "--server", "10.200.0.1", "--json"); code != 0 {
			t.Fatalf("exit %d: %s", code, w.stderr.String())
		}
		var doc map[string]any
		if err := json.Unmarshal(w.stdout.Bytes(), &doc); err != nil {
			t.Fatalf("not one JSON document: %v\n%s", err, w.stdout.String())
		}
		ike := doc["ike"].([]any)
		if len(ike) != 2 || ike[1].(map[string]any)["chosen"] != "3des-sha1-modp1024" || doc["aggressive"].(map[string]any)["result"] != "no answer" ||
			fmt.Sprint(doc["use"]) != "[--allow-legacy --ike 3des-sha1-modp1024 --esp 3des-sha1 --auth pap]" ||
			doc["ppp"].(map[string]any)["link_up"] != true || doc["l2tp"].(map[string]any)["host_name"] != "meraki-mx" {
			t.Errorf("document %v", doc)
		}
	})
	t.Run("no-secrets-no-prompt", func(t *testing.T) {
		// A terminal, but probe never asks: without sources the
		// secrets are simply absent.
		w := okWorld()
		w.terminal = true
		w.probe = func(context.Context, tunnel.Config, tunnel.Deps) (*tunnel.ProbeResult, error) {
			return &tunnel.ProbeResult{IKE: []tunnel.ProbeOutcome{{Class: "aes-sha2-modp2048", Result: tunnel.ProbeAccepted}}}, nil
		}
		if code := w.runApp(t, "probe", "--server", "vpn.example:4500", "--user", "alice"); code != 0 {
			t.Fatalf("exit %d: %s", code, w.stderr.String())
		}
		if w.prompts != 0 || w.gotCfg.PSK != nil || w.gotCfg.Password != nil || w.gotCfg.IKEPort != 4500 || w.gotCfg.Server != "vpn.example" {
			t.Errorf("prompts %d, config %+v", w.prompts, w.gotCfg)
		}
		if !strings.Contains(w.stdout.String(), "Use: l2tpctl connect --server vpn.example:4500 ... (no extra flags needed)") {
			t.Errorf("output:\n%s", w.stdout.String())
		}
	})
	t.Run("no-answer", func(t *testing.T) {
		w := okWorld()
		w.probe = func(context.Context, tunnel.Config, tunnel.Deps) (*tunnel.ProbeResult, error) {
			return &tunnel.ProbeResult{Server: "10.200.0.1", Port: 500},
				&tunnel.PhaseError{Phase: tunnel.PhaseIKE, Err: fmt.Errorf("%w: nothing", tunnel.ErrNoAnswer)}
		}
		if code := w.runApp(t, "probe", "--server", "10.200.0.1"); code != exitNoAnswer {
			t.Errorf("exit %d, want %d", code, exitNoAnswer)
		}
		if !strings.Contains(w.stderr.String(), "no answer from the server") || !strings.Contains(w.stdout.String(), "Server 10.200.0.1") ||
			!strings.Contains(w.stdout.String(), "Use: nothing to recommend: the server did not answer") {
			t.Errorf("stdout:\n%s\nstderr:\n%s", w.stdout.String(), w.stderr.String())
		}
	})
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no-server", []string{"probe"}},
		{"argument", []string{"probe", "--server", "x", "extra"}},
		{"bad-auth", []string{"probe", "--server", "x", "--auth", "nope"}},
		{"connect-only-flag", []string{"probe", "--server", "x", "--route", "10.0.0.0/8"}},
		{"psk-two-sources", []string{"probe", "--server", "x", "--psk", "a", "--psk-file", "psk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := okWorld()
			if code := w.runApp(t, tc.args...); code != exitUsage {
				t.Errorf("exit %d, want %d: %s", code, exitUsage, w.stderr.String())
			}
			if w.gotCfg != nil {
				t.Errorf("probe ran")
			}
		})
	}
}
