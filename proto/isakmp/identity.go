package isakmp

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/netip"
	"strings"
)

// Phase-1 identities (the ID payloads of Main Mode messages 5 and 6 and of
// Aggressive Mode messages 1 and 2). Ref: RFC 2407 §4.6.2.1 (ID types),
// RFC 2409 §5 (the ID is hashed or signed as sent).

// ParseIdentity reads an identity as strongSwan's configuration writes it:
//
//	10.0.0.1                 ID_IPV4_ADDR
//	@vpn.example.net         ID_FQDN (the '@' is dropped)
//	vpn.example.net          ID_FQDN
//	alice@example.net        ID_USER_FQDN
//	C=DE, O=Example, CN=vpn  ID_DER_ASN1_DN (DER RDNSequence, in the order written)
//
// Protocol and port are zero, as phase-1 IDs are.
func ParseIdentity(s string) (ID, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return ID{}, fmt.Errorf("%w: empty identity", ErrConfig)
	case strings.HasPrefix(s, "@"):
		name := s[1:]
		if name == "" || strings.ContainsAny(name, " \t@") {
			return ID{}, fmt.Errorf("%w: identity %q: bad name after '@'", ErrConfig, s)
		}
		return ID{Type: IDFQDN, Data: []byte(name)}, nil
	case strings.Contains(s, "="):
		der, err := ParseDN(s)
		if err != nil {
			return ID{}, err
		}
		return ID{Type: IDDERASN1DN, Data: der}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		t, data := addrData(a)
		return ID{Type: t, Data: data}, nil
	}
	if strings.ContainsAny(s, " \t,") {
		return ID{}, fmt.Errorf("%w: identity %q: not an address, a name, user@domain or a distinguished name (CN=...)", ErrConfig, s)
	}
	if i := strings.IndexByte(s, '@'); i > 0 && i < len(s)-1 && strings.Count(s, "@") == 1 {
		return ID{Type: IDUserFQDN, Data: []byte(s)}, nil
	}
	if strings.Contains(s, "@") {
		return ID{}, fmt.Errorf("%w: identity %q: want user@domain", ErrConfig, s)
	}
	return ID{Type: IDFQDN, Data: []byte(s)}, nil
}

// dnAttrs maps the attribute names of a distinguished name to their OIDs
// (RFC 4519, RFC 4514 §3; E and emailAddress from PKCS #9).
var dnAttrs = []struct {
	names []string
	oid   asn1.ObjectIdentifier
}{
	{[]string{"CN"}, asn1.ObjectIdentifier{2, 5, 4, 3}},
	{[]string{"SN", "surname"}, asn1.ObjectIdentifier{2, 5, 4, 4}},
	{[]string{"serialNumber"}, asn1.ObjectIdentifier{2, 5, 4, 5}},
	{[]string{"C"}, asn1.ObjectIdentifier{2, 5, 4, 6}},
	{[]string{"L"}, asn1.ObjectIdentifier{2, 5, 4, 7}},
	{[]string{"ST", "S"}, asn1.ObjectIdentifier{2, 5, 4, 8}},
	{[]string{"street"}, asn1.ObjectIdentifier{2, 5, 4, 9}},
	{[]string{"O"}, asn1.ObjectIdentifier{2, 5, 4, 10}},
	{[]string{"OU"}, asn1.ObjectIdentifier{2, 5, 4, 11}},
	{[]string{"title", "T"}, asn1.ObjectIdentifier{2, 5, 4, 12}},
	{[]string{"GN", "givenName", "G"}, asn1.ObjectIdentifier{2, 5, 4, 42}},
	{[]string{"E", "emailAddress"}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}},
	{[]string{"DC"}, asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}},
	{[]string{"UID"}, asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}},
}

// ParseDN encodes a distinguished name written as "C=DE, O=Example,
// CN=vpn" (or with '/' separators, "/C=DE/O=Example/CN=vpn") as a DER
// RDNSequence, the relative distinguished names in the order written. A
// '\' escapes the next character.
func ParseDN(s string) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: distinguished name %q: %s", ErrConfig, s, fmt.Sprintf(format, a...))
	}
	sep := byte(',')
	body := strings.TrimSpace(s)
	if strings.HasPrefix(body, "/") {
		sep, body = '/', body[1:]
	}
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '\\' && i+1 < len(body):
			i++
			cur.WriteByte(body[i])
		case c == sep || (sep == ',' && c == ';'):
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	var seq pkix.RDNSequence
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, bad("want NAME=VALUE, not %q", strings.TrimSpace(p))
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, bad("control character in %s", k)
		}
		oid := dnOID(k)
		if oid == nil {
			return nil, bad("unknown attribute %q (known: CN, O, OU, C, ST, L, E, DC, ...)", k)
		}
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: v}})
	}
	der, err := asn1.Marshal(seq)
	if err != nil {
		return nil, bad("%v", err)
	}
	return der, nil
}

func dnOID(name string) asn1.ObjectIdentifier {
	for _, a := range dnAttrs {
		for _, n := range a.names {
			if strings.EqualFold(n, name) {
				return a.oid
			}
		}
	}
	return nil
}

func dnName(oid asn1.ObjectIdentifier) string {
	for _, a := range dnAttrs {
		if a.oid.Equal(oid) {
			return a.names[0]
		}
	}
	return oid.String()
}

// DNString renders a DER RDNSequence as ParseDN reads it ("C=DE, O=Example,
// CN=vpn"); ok is false when der is not one.
func DNString(der []byte) (string, bool) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(der, &seq); err != nil || len(rest) != 0 {
		return "", false
	}
	var parts []string
	for _, rdn := range seq {
		for _, atv := range rdn {
			v, ok := atv.Value.(string)
			if !ok {
				v = fmt.Sprint(atv.Value)
			}
			v = strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return '?' // the peer's bytes end up in logs
				}
				return r
			}, strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`).Replace(v))
			parts = append(parts, dnName(atv.Type)+"="+v)
		}
	}
	return strings.Join(parts, ", "), true
}

// SameDN reports whether two DER RDNSequences name the same entity:
// the same attributes in the same order, values equal ignoring case (so
// that a PrintableString and a UTF8String of the same text match).
func SameDN(a, b []byte) bool {
	var x, y pkix.RDNSequence
	if r, err := asn1.Unmarshal(a, &x); err != nil || len(r) != 0 {
		return false
	}
	if r, err := asn1.Unmarshal(b, &y); err != nil || len(r) != 0 {
		return false
	}
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if len(x[i]) != len(y[i]) {
			return false
		}
		for j := range x[i] {
			p, q := x[i][j], y[i][j]
			ps, ok1 := p.Value.(string)
			qs, ok2 := q.Value.(string)
			if !p.Type.Equal(q.Type) || !ok1 || !ok2 || !strings.EqualFold(strings.TrimSpace(ps), strings.TrimSpace(qs)) {
				return false
			}
		}
	}
	return true
}
