package tunnel

import (
	"errors"
	"fmt"
	"strings"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// The algorithm suites of a connection, in the names users type
// (strongSwan's: "aes256-sha256-modp2048", "aes128gcm16").
type (
	IKEProposal  = suite.IKEProposal  // one IKE (phase 1) suite
	ESPTransform = suite.ESPTransform // one ESP suite
	DHGroup      = suite.GroupID      // a Diffie-Hellman group (for PFS)
)

// ParseIKESuites parses a comma-separated IKE suite list such as
// "aes256-sha256-modp2048,aes128-sha1-ecp256"; errors wrap ErrConfig.
func ParseIKESuites(s string) ([]IKEProposal, error) {
	ps, err := suite.ParseIKEProposals(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.TrimPrefix(err.Error(), "suite: "))
	}
	return ps, nil
}

// ParseESPSuites parses a comma-separated ESP suite list such as
// "aes128gcm16,aes256-sha1"; errors wrap ErrConfig.
func ParseESPSuites(s string) ([]ESPTransform, error) {
	ts, err := suite.ParseESPTransforms(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrConfig, strings.TrimPrefix(err.Error(), "suite: "))
	}
	return ts, nil
}

// ParseDHGroup parses a group name for PFS ("modp2048", "ecp256"); "" and
// "none" are no PFS (0). Errors wrap ErrConfig.
func ParseDHGroup(s string) (DHGroup, error) {
	if s == "" || strings.EqualFold(s, "none") {
		return 0, nil
	}
	g, err := suite.ParseGroup(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", ErrConfig, strings.TrimPrefix(err.Error(), "suite: "))
	}
	return g, nil
}

// ErrLegacy marks a configured suite that uses legacy algorithms without
// Config.AllowLegacy (it also wraps ErrConfig).
var ErrLegacy = errors.New("legacy algorithms not allowed")

// ErrLegacyWanted is wrapped (next to the server's notify) by a refusal of
// the IKE offer when legacy algorithms are not allowed: such servers
// usually want 3DES or MODP-1024 (docs/interop.md).
var ErrLegacyWanted = errors.New("the server seems to want legacy algorithms (such as 3DES or MODP-1024)")

// suiteNames is "a, b, c" for a list of suites.
func suiteNames[S fmt.Stringer](l []S) string {
	s := make([]string, len(l))
	for i, x := range l {
		s[i] = x.String()
	}
	return strings.Join(s, ", ")
}

// LegacyError is a configured suite with legacy algorithms while
// Config.AllowLegacy is off. It matches ErrConfig and ErrLegacy.
type LegacyError struct {
	Kind  string // "ike", "esp" or "pfs"
	Suite string // "3des-sha1-modp1024"
	Weak  string // "3des, modp1024"
}

func (e *LegacyError) Error() string {
	what := strings.ToUpper(e.Kind) + " suite"
	if e.Kind == "pfs" {
		what = "PFS group"
	}
	return fmt.Sprintf("%s %s uses legacy algorithms (%s); allow them with allow-legacy", what, e.Suite, e.Weak)
}

func (e *LegacyError) Is(target error) bool { return target == ErrConfig || target == ErrLegacy }

// CheckSuites is Validate's part for the suites: each supported, and none
// legacy unless AllowLegacy. Its errors wrap ErrConfig; a legacy suite is
// a *LegacyError.
func (c Config) CheckSuites() error {
	legacy := func(kind, name, weak string) error {
		return &LegacyError{Kind: kind, Suite: name, Weak: weak}
	}
	for _, p := range c.IKE {
		if !p.Supported() {
			return fmt.Errorf("%w: unsupported IKE suite %v", ErrConfig, p)
		}
		if p.Level() > suite.Modern && !c.AllowLegacy {
			return legacy("ike", p.String(), p.WeakParts())
		}
	}
	for _, t := range c.ESP {
		if !t.Supported() {
			return fmt.Errorf("%w: unsupported ESP suite %v", ErrConfig, t)
		}
		if t.Level() > suite.Modern && !c.AllowLegacy {
			return legacy("esp", t.String(), t.WeakParts())
		}
	}
	if c.PFS != 0 {
		if c.PFS.Group() == nil {
			return fmt.Errorf("%w: unsupported PFS group %v", ErrConfig, c.PFS)
		}
		if c.PFS.Level() > suite.Modern && !c.AllowLegacy {
			return legacy("pfs", c.PFS.String(), c.PFS.String())
		}
	}
	return nil
}

// ikeOffer is the first Main Mode offer: the configured list, else the
// default (modern) one.
func (c Config) ikeOffer() []IKEProposal {
	if c.IKE != nil {
		return c.IKE
	}
	return suite.DefaultIKEProposals()
}

// espOffer is the Quick Mode offer: the configured list, else the default,
// with 3DES at the end when legacy algorithms are allowed.
func (c Config) espOffer() []ESPTransform {
	if c.ESP != nil {
		return c.ESP
	}
	return suite.DefaultESPTransforms(c.AllowLegacy)
}

// legacyRetry reports whether a phase-1 failure of the default offer
// should be followed by one Main Mode with suite.LegacyIKEProposals: legacy
// algorithms are allowed, no IKE list was configured, this was the first
// offer, and the server refused it (NO-PROPOSAL-CHOSEN and kin) or never
// answered message 1.
func (c Config) legacyRetry(err error, answered, retried bool) bool {
	if !c.AllowLegacy || c.IKE != nil || retried {
		return false
	}
	if errors.Is(err, isakmp.ErrNoResponse) {
		return !answered
	}
	return refusedProposal(err)
}

// refusedProposal reports whether err is the server's refusal of our IKE
// offer.
func refusedProposal(err error) bool {
	var ne *isakmp.NotifyError
	if errors.As(err, &ne) {
		switch isakmp.NotifyType(ne.Type) {
		case isakmp.NotifyNoProposalChosen, isakmp.NotifyBadProposalSyntax,
			isakmp.NotifyInvalidTransformID, isakmp.NotifyAttributesNotSupported:
			return true
		}
	}
	return false
}

// weakParts names what is weak in the suites a connection uses, such as
// "IKE 3des-sha1-modp1024 (3des, modp1024)"; "" if nothing is.
func weakParts(ike IKEProposal, esp ESPTransform, pfs DHGroup) string {
	var w []string
	if s := ike.WeakParts(); s != "" {
		w = append(w, fmt.Sprintf("IKE %v (%s)", ike, s))
	}
	if s := esp.WeakParts(); s != "" {
		w = append(w, fmt.Sprintf("ESP %v (%s)", esp, s))
	}
	if pfs != 0 && pfs.Level() > suite.Modern {
		w = append(w, fmt.Sprintf("PFS %v", pfs))
	}
	return strings.Join(w, ", ")
}
