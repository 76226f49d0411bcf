package isakmp

import (
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// What both Main Mode roles share: the phase-1 transform attributes and the
// reading of plaintext messages (the SA and NAT-T vendor IDs of messages 1
// and 2, the key exchange of messages 3 and 4).

// ikeAttrs are the attributes of one phase-1 transform. Key-Length only for
// a variable-length cipher (RFC 2409 Appendix A: AES; not 3DES).
func ikeAttrs(p suite.IKEProposal, life time.Duration) []Attr {
	as := []Attr{tvAttr(AttrEncryption, uint16(p.Enc))}
	if p.Enc.FixedKeyBits() == 0 {
		as = append(as, tvAttr(AttrKeyLength, uint16(p.KeyBits)))
	}
	return append(as,
		tvAttr(AttrHash, uint16(p.Hash)),
		tvAttr(AttrAuthMethod, AuthPreSharedKey),
		tvAttr(AttrGroup, uint16(p.Group)),
		tvAttr(AttrLifeType, LifeTypeSeconds),
		lifeAttr(AttrLifeDuration, uint32(life/time.Second)),
	)
}

// ikeFromAttrs maps phase-1 transform attributes to a proposal; the
// authentication method is checked apart (authOf).
func ikeFromAttrs(as []Attr) (suite.IKEProposal, bool) {
	enc, ok1 := findAttr(as, AttrEncryption)
	kl, _ := findAttr(as, AttrKeyLength)
	h, ok2 := findAttr(as, AttrHash)
	g, ok3 := findAttr(as, AttrGroup)
	auth, ok4 := findAttr(as, AttrAuthMethod)
	if !ok1 || !ok2 || !ok3 || !ok4 || auth == 0 {
		return suite.IKEProposal{}, false
	}
	p := suite.IKEProposal{Enc: suite.EncID(enc), KeyBits: int(kl), Hash: suite.HashID(h), Group: suite.GroupID(g)}
	if fixed := p.Enc.FixedKeyBits(); fixed != 0 && kl == 0 {
		p.KeyBits = fixed
	}
	return p, p.Supported()
}

// authOf is the authentication method of phase-1 transform attributes (0
// if none).
func authOf(as []Attr) uint16 {
	v, _ := findAttr(as, AttrAuthMethod)
	return uint16(v)
}

// withAuth returns phase-1 transform attributes with the authentication
// method set to m.
func withAuth(as []Attr, m uint16) []Attr {
	out := append([]Attr(nil), as...)
	for i := range out {
		if out[i].Type == AttrAuthMethod {
			out[i] = tvAttr(AttrAuthMethod, m)
		}
	}
	return out
}

// plainPayloads reads a plaintext Main Mode or Informational message named
// what.
func plainPayloads(what string, h *Header, msg []byte) ([]Payload, error) {
	if h.Flags&FlagEncryption != 0 {
		return nil, drop(what, "encrypted")
	}
	m, err := ParseMessage(msg)
	if err != nil {
		return nil, dropErr(what, err)
	}
	return m.Payloads, nil
}

// readSA reads the SA payload of Main Mode message 1 or 2 (named what) and
// returns it with its body, which HASH_I and HASH_R cover.
func readSA(what string, ps []Payload) (*SA, []byte, error) {
	sp, ok := findPayload(ps, PayloadSA)
	if !ok {
		return nil, nil, drop(what, "no SA payload")
	}
	var sa SA
	if err := sa.UnmarshalBinary(sp.Body); err != nil {
		return nil, nil, dropErr(what, err)
	}
	if len(sa.Proposals) == 0 {
		return nil, nil, drop(what, "SA without a proposal")
	}
	return &sa, sp.Body, nil
}

// nattVIDs reports which NAT-T vendor IDs ps holds: RFC 3947's, a draft's.
func nattVIDs(ps []Payload) (rfc, draft bool) {
	for _, v := range draftNATTVIDs {
		draft = draft || containsVID(ps, v)
	}
	return containsVID(ps, VIDRFC3947), draft
}

// keyExchange is what Main Mode messages 3 and 4 carry: HDR, KE, Ni (or
// Nr), and the NAT-D payloads (RFC 3947 §3.2) of either type.
type keyExchange struct {
	ke, nonce []byte
	natd      [][]byte
}

// readKeyExchange reads Main Mode message 3 or 4.
func readKeyExchange(ps []Payload) (keyExchange, error) {
	var kx keyExchange
	ke, ok := findPayload(ps, PayloadKE)
	if !ok {
		return kx, malformed("no KE payload")
	}
	nonce, ok := findPayload(ps, PayloadNonce)
	if !ok {
		return kx, malformed("no nonce payload")
	}
	if err := checkNonce(nonce.Body); err != nil {
		return kx, err
	}
	kx.ke, kx.nonce = ke.Body, nonce.Body
	for _, p := range ps {
		if p.Type == PayloadNATD || p.Type == PayloadNATDDraft {
			kx.natd = append(kx.natd, p.Body)
		}
	}
	return kx, nil
}

// fullWidth returns a peer's Diffie-Hellman public value at the group's
// width, for computing the shared secret. RFC 2409 §5 says a KE payload
// MUST be padded with zeros to the length of the prime, but SoftEther
// strips the leading zero bytes (about one Main Mode in 256 carries a value
// one byte short; docs/interop.md). The hashes keep the bytes as sent.
// A value longer than the group is returned as it is, for SharedSecret to
// reject.
func fullWidth(pub []byte, size int) []byte {
	if len(pub) == 0 || len(pub) >= size {
		return pub
	}
	return append(make([]byte, size-len(pub), size), pub...)
}

// checkNonce applies the one nonce rule of Main Mode and Quick Mode:
// 8 to 256 bytes. Ref: RFC 2409 §5.
func checkNonce(n []byte) error {
	if len(n) < minNonceLen || len(n) > maxNonceLen {
		return malformed("nonce of %d bytes", len(n))
	}
	return nil
}
