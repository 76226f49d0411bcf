package suite

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseSuites: ParseIKEProposals and ParseESPTransforms never panic,
// and what they accept prints back to a list that parses to the same suites.
func FuzzParseSuites(f *testing.F) {
	for _, s := range []string{"aes256-sha256-modp2048,aes128-sha1-ecp256", "3des-sha1-modp1024",
		"aes128gcm16,aes256-sha1", "aes256gcm128", "des-md5", "aes-sha2_256-ecp384", ",", "aes128-sha1-modp2048-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ps, err := ParseIKEProposals(s); err == nil {
			names := make([]string, len(ps))
			for i, p := range ps {
				names[i] = p.String()
			}
			again, err := ParseIKEProposals(strings.Join(names, ","))
			if err != nil || !slices.Equal(again, ps) {
				t.Fatalf("IKE %q → %v → %v %v", s, ps, again, err)
			}
		}
		if ts, err := ParseESPTransforms(s); err == nil {
			names := make([]string, len(ts))
			for i, tr := range ts {
				names[i] = tr.String()
			}
			again, err := ParseESPTransforms(strings.Join(names, ","))
			if err != nil || !slices.Equal(again, ts) {
				t.Fatalf("ESP %q → %v → %v %v", s, ts, again, err)
			}
		}
		if g, err := ParseGroup(s); err == nil && g.Group() == nil {
			t.Fatalf("group %q → %v unsupported", s, g)
		}
	})
}
