package suite

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Parsing of suite lists in strongSwan's notation: comma-separated,
// each "ENC-HASH-GROUP" for IKE ("aes256-sha256-modp2048", "3des-sha1-modp1024")
// and "ENC-HASH" or an AEAD name for ESP ("aes128-sha1", "aes256gcm16").
// Names are case-insensitive; strongSwan's aliases "aes" (AES-128),
// "sha" (SHA1) and "sha2_256" (SHA2-256) are accepted. The strength
// check (Level) is the caller's.

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("suite: bad suite list")

// maxListLen bounds a list: our own parser takes at most 64 transforms in
// one proposal.
const maxListLen = 64

func syntaxErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrSyntax, fmt.Sprintf(format, a...))
}

// splitList splits a comma-separated list, rejecting empty items and
// overlong lists. (Duplicates are found on the parsed suites: "aes" and
// "aes128" are one.)
func splitList(s, what string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, syntaxErr("empty %s list", what)
	}
	items := strings.Split(strings.ToLower(s), ",")
	if len(items) > maxListLen {
		return nil, syntaxErr("%d %s suites, at most %d", len(items), what, maxListLen)
	}
	for i, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, syntaxErr("empty item in %s list %q", what, s)
		}
		items[i] = it
	}
	return items, nil
}

// parseCipher reads "aes256", "aes" (128), "3des", "des" from the IKE or ESP
// registry names.
func parseCipher(s string) (name string, bits int, ok bool) {
	switch s {
	case "3des", "des":
		return s, 0, true
	case "aes":
		return "aes", 128, true
	}
	if rest, found := strings.CutPrefix(s, "aes"); found {
		if n, err := strconv.Atoi(rest); err == nil && (n == 128 || n == 192 || n == 256) {
			return "aes", n, true
		}
	}
	return "", 0, false
}

// parseHash reads a hash name: "sha1"/"sha", "sha256"/"sha2_256", …, "md5".
func parseHash(s string) (HashID, bool) {
	s = strings.Replace(s, "sha2_", "sha", 1)
	if s == "sha" {
		s = "sha1"
	}
	for id, h := range hashes {
		if h.name == s {
			return id, true
		}
	}
	return 0, false
}

// ParseGroup reads a DH group name: "modp1024", "modp1536", "modp2048",
// "ecp256", "ecp384" (case-insensitive).
func ParseGroup(s string) (GroupID, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for id, g := range groups {
		if g.name == s {
			return id, nil
		}
	}
	return 0, syntaxErr("unknown Diffie-Hellman group %q (known: %s)", s, groupNames())
}

func groupNames() string {
	return "modp1024, modp1536, modp2048, ecp256, ecp384"
}

// ParseIKEProposals reads a list of IKE suites such as
// "aes256-sha256-modp2048,aes128-sha1-ecp256".
func ParseIKEProposals(s string) ([]IKEProposal, error) {
	items, err := splitList(s, "IKE")
	if err != nil {
		return nil, err
	}
	ps := make([]IKEProposal, 0, len(items))
	for _, it := range items {
		p, err := parseIKE(it)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ps, p) {
			return nil, syntaxErr("IKE suite %v listed twice", p)
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func parseIKE(it string) (IKEProposal, error) {
	parts := strings.Split(it, "-")
	if len(parts) != 3 {
		return IKEProposal{}, syntaxErr("IKE suite %q: want ENCRYPTION-HASH-GROUP, such as aes256-sha256-modp2048", it)
	}
	name, bits, ok := parseCipher(parts[0])
	if !ok {
		return IKEProposal{}, syntaxErr("IKE suite %q: unknown encryption %q (known: aes128, aes192, aes256, 3des, des)", it, parts[0])
	}
	var p IKEProposal
	for id, c := range ikeCiphers {
		if c.name == name {
			p.Enc = id
			if c.fixedKey {
				bits = c.keyBits[0]
			}
		}
	}
	p.KeyBits = bits
	if p.Hash, ok = parseHash(parts[1]); !ok {
		return IKEProposal{}, syntaxErr("IKE suite %q: unknown hash %q (known: sha1, sha256, sha384, sha512, md5)", it, parts[1])
	}
	g, err := ParseGroup(parts[2])
	if err != nil {
		return IKEProposal{}, syntaxErr("IKE suite %q: unknown Diffie-Hellman group %q (known: %s)", it, parts[2], groupNames())
	}
	p.Group = g
	if !p.Supported() {
		return IKEProposal{}, syntaxErr("IKE suite %q is not supported", it)
	}
	return p, nil
}

// ParseESPTransforms reads a list of ESP suites such as
// "aes128gcm16,aes256-sha1". A DH group in an ESP suite is refused: PFS
// has its own setting.
func ParseESPTransforms(s string) ([]ESPTransform, error) {
	items, err := splitList(s, "ESP")
	if err != nil {
		return nil, err
	}
	ts := make([]ESPTransform, 0, len(items))
	for _, it := range items {
		t, err := parseESP(it)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ts, t) {
			return nil, syntaxErr("ESP suite %v listed twice", t)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

func parseESP(it string) (ESPTransform, error) {
	parts := strings.Split(it, "-")
	if len(parts) == 1 {
		// AES-GCM: "aes128gcm16" (strongSwan also writes the ICV in bits:
		// "aes128gcm128").
		enc, icv, ok := strings.Cut(parts[0], "gcm")
		_, bits, okc := parseCipher(enc)
		if !ok || !okc || !strings.HasPrefix(enc, "aes") || (icv != "16" && icv != "128") {
			return ESPTransform{}, syntaxErr("ESP suite %q: want ENCRYPTION-INTEGRITY (aes256-sha1) or aes128gcm16/aes256gcm16", it)
		}
		t := ESPTransform{Enc: ESPAESGCM16, KeyBits: bits, Auth: AuthNone}
		if !t.Supported() {
			return ESPTransform{}, syntaxErr("ESP suite %q is not supported (AES-GCM: 128 or 256 bits)", it)
		}
		return t, nil
	}
	if len(parts) == 3 {
		return ESPTransform{}, syntaxErr("ESP suite %q: a Diffie-Hellman group is set for ESP with the PFS setting, not in the suite", it)
	}
	if len(parts) != 2 {
		return ESPTransform{}, syntaxErr("ESP suite %q: want ENCRYPTION-INTEGRITY, such as aes256-sha1", it)
	}
	name, bits, ok := parseCipher(parts[0])
	if !ok {
		return ESPTransform{}, syntaxErr("ESP suite %q: unknown encryption %q (known: aes128, aes192, aes256, aes128gcm16, aes256gcm16, 3des, des)", it, parts[0])
	}
	var t ESPTransform
	for id, c := range espCiphers {
		if c.name == name && !c.aead {
			t.Enc = id
			if c.fixedKey {
				bits = c.keyBits[0]
			}
		}
	}
	t.KeyBits = bits
	h, ok := parseHash(parts[1])
	if ok {
		ok = false
		for id, a := range espAuths {
			if a.hash == h {
				t.Auth, ok = id, true
			}
		}
	}
	if !ok {
		return ESPTransform{}, syntaxErr("ESP suite %q: unknown integrity %q (known: sha1, sha256, sha384, sha512, md5)", it, parts[1])
	}
	if !t.Supported() {
		return ESPTransform{}, syntaxErr("ESP suite %q is not supported", it)
	}
	return t, nil
}

// WeakParts names the parts of p at level Legacy or weaker, such as
// "3des, modp1024".
func (p IKEProposal) WeakParts() string {
	var w []string
	if c, ok := ikeCiphers[p.Enc]; ok && c.level > Modern {
		w = append(w, c.name)
	}
	if h, ok := hashes[p.Hash]; ok && h.level > Modern {
		w = append(w, h.name)
	}
	if g, ok := groups[p.Group]; ok && g.level > Modern {
		w = append(w, g.name)
	}
	return strings.Join(w, ", ")
}

// WeakParts names the parts of t at level Legacy or weaker.
func (t ESPTransform) WeakParts() string {
	var w []string
	if c, ok := espCiphers[t.Enc]; ok && c.level > Modern {
		w = append(w, c.name)
	}
	if a, ok := espAuths[t.Auth]; ok && a.level > Modern {
		w = append(w, a.name)
	}
	return strings.Join(w, ", ")
}
