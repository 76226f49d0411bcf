package tunnel

import (
	"errors"
	"fmt"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

func TestCheckSuites(t *testing.T) {
	legacyIKE := []IKEProposal{{Enc: suite.Enc3DESCBC, KeyBits: 192, Hash: suite.HashSHA1, Group: suite.MODP1024}}
	md5ESP := []ESPTransform{{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACMD5}}
	for _, c := range []struct {
		name string
		cfg  Config
		kind string // "" = valid; else the LegacyError's Kind, or "unsupported"
	}{
		{"defaults", Config{}, ""},
		{"modern lists", Config{IKE: suite.DefaultIKEProposals(), ESP: suite.DefaultESPTransforms(false), PFS: suite.ECP384}, ""},
		{"legacy IKE", Config{IKE: legacyIKE}, "ike"},
		{"legacy IKE allowed", Config{IKE: legacyIKE, AllowLegacy: true}, ""},
		{"MD5 ESP", Config{ESP: md5ESP}, "esp"},
		{"MD5 ESP allowed", Config{ESP: md5ESP, AllowLegacy: true}, ""},
		{"legacy PFS", Config{PFS: suite.MODP1024}, "pfs"},
		{"unknown PFS group", Config{PFS: 99}, "unsupported"},
		{"unsupported IKE", Config{IKE: []IKEProposal{{Enc: suite.EncAESCBC, KeyBits: 64, Hash: suite.HashSHA1, Group: suite.MODP2048}}}, "unsupported"},
		{"unsupported ESP", Config{ESP: []ESPTransform{{Enc: suite.ESPAESGCM16, KeyBits: 192}}, AllowLegacy: true}, "unsupported"},
	} {
		err := c.cfg.CheckSuites()
		var le *LegacyError
		switch {
		case c.kind == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.kind == "unsupported" && (err == nil || errors.As(err, &le) || !errors.Is(err, ErrConfig)):
			t.Errorf("%s: %v, want an unsupported-suite ErrConfig", c.name, err)
		case c.kind != "" && c.kind != "unsupported" && (!errors.As(err, &le) || le.Kind != c.kind || !errors.Is(err, ErrConfig) || !errors.Is(err, ErrLegacy)):
			t.Errorf("%s: %v, want a %s LegacyError", c.name, err, c.kind)
		}
	}
}

func TestLegacyRetry(t *testing.T) {
	refused := &isakmp.NotifyError{Type: uint16(isakmp.NotifyNoProposalChosen)}
	authFailed := &isakmp.NotifyError{Type: uint16(isakmp.NotifyAuthenticationFailed)}
	silence := fmt.Errorf("%w to Main Mode message 1", isakmp.ErrNoResponse)
	allowed := Config{AllowLegacy: true}
	named := Config{AllowLegacy: true, IKE: suite.DefaultIKEProposals()[:1]}
	for _, c := range []struct {
		name     string
		cfg      Config
		err      error
		answered bool
		retried  bool
		want     bool
	}{
		{"refused", allowed, refused, true, false, true},
		{"silence", allowed, silence, false, false, true},
		{"no answer after message 2", allowed, silence, true, false, false},
		{"authentication failed", allowed, authFailed, true, false, false},
		{"already retried", allowed, refused, true, true, false},
		{"legacy not allowed", Config{}, refused, true, false, false},
		{"IKE list named", named, refused, true, false, false},
	} {
		if got := c.cfg.legacyRetry(c.err, c.answered, c.retried); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	if o := (Config{}).espOffer(); len(o) != 6 || o[0].String() != "aes256gcm16" {
		t.Errorf("default ESP offer %v", o)
	}
	if o := allowed.espOffer(); o[len(o)-1].String() != "3des-sha1" {
		t.Errorf("legacy ESP offer %v", o)
	}
	w := weakParts(IKEProposal{Enc: suite.EncAESCBC, KeyBits: 128, Hash: suite.HashSHA1, Group: suite.MODP1024},
		ESPTransform{Enc: suite.ESPAESGCM16, KeyBits: 128}, suite.MODP1536)
	if w != "IKE aes128-sha1-modp1024 (modp1024), PFS modp1536" {
		t.Errorf("weakParts = %q", w)
	}
}

func TestParseSuiteFlags(t *testing.T) {
	if _, err := ParseIKESuites("aes128-sha1"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseIKESuites: %v", err)
	}
	if _, err := ParseESPSuites("aes128-sha7"); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseESPSuites: %v", err)
	}
	for s, want := range map[string]DHGroup{"": 0, "none": 0, "NONE": 0, "ecp256": suite.ECP256} {
		if g, err := ParseDHGroup(s); err != nil || g != want {
			t.Errorf("ParseDHGroup(%q) = %v, %v", s, g, err)
		}
	}
	if _, err := ParseDHGroup("curve25519"); !errors.Is(err, ErrConfig) {
		t.Error("ParseDHGroup accepted curve25519")
	}
}
