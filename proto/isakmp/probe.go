package isakmp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// The pure half of `l2tpctl probe`: a first message (Main Mode or
// Aggressive Mode message 1) with a chosen proposal list, the reading of the
// server's answer to it, and the names of the vendor IDs servers send. A
// probe never goes further than message 2 here; the tunnel package sends
// the messages, each under a fresh cookie from a fresh port.

// knownVID is a vendor ID we can name. prefix: the ID starts with id and
// carries a version or flags after it.
type knownVID struct {
	name   string
	id     []byte
	prefix bool
}

// knownVIDs are the vendor IDs named by VIDName. Most are the MD5 hash of
// a string (in the comment), some followed by version bytes.
var knownVIDs = []knownVID{
	{"NAT-T (RFC 3947)", VIDRFC3947, false},                                 // MD5("RFC 3947")
	{"NAT-T draft-00", VIDDraft00, false},                                   // MD5("draft-ietf-ipsec-nat-t-ike-00")
	{"NAT-T draft-01", vidHex("16f6ca16e4a4066d83821a0f0aeaa862"), false},   // MD5("draft-ietf-ipsec-nat-t-ike-01")
	{"NAT-T draft-02", VIDDraft02, false},                                   // MD5("draft-ietf-ipsec-nat-t-ike-02")
	{"NAT-T draft-02\\n", VIDDraft02NL, false},                              // MD5("draft-ietf-ipsec-nat-t-ike-02\n")
	{"NAT-T draft-03", VIDDraft03, false},                                   // MD5("draft-ietf-ipsec-nat-t-ike-03")
	{"DPD (RFC 3706)", VIDDPD[:14], true},                                   // RFC 3706 §5.3, then major/minor version
	{"IKE fragmentation", vidHex("4048b7d56ebce88525e7de7f00d6c2d3"), true}, // MD5("FRAGMENTATION"), then flags
	{"XAUTH", vidHex("09002689dfd6b712"), false},                            // first half of MD5("draft-ietf-ipsra-isakmp-xauth-06.txt")
	{"Cisco Unity", vidHex("12f5f28c457168a9702d9fe274cc"), true},           // MD5("CISCO-UNITY"), last 2 bytes the version
	{"Microsoft Windows", vidHex("1e2b516905991c7d7c96fcbfb587e461"), true}, // MD5("MS NT5 ISAKMPOAKLEY"), then the version
	{"MS-Negotiation Discovery Capable", vidHex("fb1de3cdf341b7ea16b7e5be0855f120"), false},
	{"Microsoft Vid-Initial-Contact", vidHex("26244d38eddb61b3172a36e3d0cfb819"), false},
	{"IKE CGA version 1", vidHex("e3a5966a76379fe707228231e5ce8652"), false},
	{"strongSwan", vidHex("882fe56d6fd20dbc2251613b2ebe5beb"), false}, // MD5("strongSwan")
	{"Libreswan", []byte("OEN"), true},                                // "OEN" and a version hash
	{"Openswan", []byte("OE"), true},                                  // "OE" and a version hash
}

// vidHex decodes a constant of knownVIDs (TestVIDName checks each).
func vidHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}

// ErrNotProbeAnswer: a message that does not answer the probe (another
// cookie, say).
var ErrNotProbeAnswer = errors.New("isakmp: not an answer to this probe")

// VIDName names a vendor ID payload's body ("NAT-T (RFC 3947)", "DPD
// (RFC 3706)", "Microsoft Windows (version 8)"), or returns "" if it is not
// one we know.
func VIDName(v []byte) string {
	for _, k := range knownVIDs {
		switch {
		case !k.prefix && bytes.Equal(v, k.id):
			return k.name
		case k.prefix && bytes.HasPrefix(v, k.id) && len(v) <= 20:
			if k.name == "Microsoft Windows" && len(v) == 20 {
				ver := uint32(v[16])<<24 | uint32(v[17])<<16 | uint32(v[18])<<8 | uint32(v[19])
				return fmt.Sprintf("%s (version %d)", k.name, ver)
			}
			return k.name
		}
	}
	return ""
}

// ProbeOffer is one probe's first message.
type ProbeOffer struct {
	ICookie   [8]byte
	Proposals []suite.IKEProposal // 1..maxChain, all Supported
	// Auth is the authentication method every transform offers
	// (AuthPreSharedKey, AuthRSASig, ...); 0: AuthPreSharedKey.
	Auth     uint16
	Lifetime time.Duration // 0: 8 h
	// Aggressive builds Aggressive Mode message 1, which carries a key
	// exchange for the first proposal's group (the others must share it), a
	// nonce and ID.
	Aggressive bool
	ID         ID // Aggressive Mode only
}

// Message encodes the offer: HDR, SA, VIDs (NAT-T, DPD) for Main Mode;
// HDR, SA, KE, Ni, IDii, VIDs for Aggressive Mode. rand supplies the key
// exchange and nonce of Aggressive Mode.
func (o *ProbeOffer) Message(rand io.Reader) ([]byte, error) {
	if len(o.Proposals) == 0 || len(o.Proposals) > maxChain {
		return nil, fmt.Errorf("%w: need 1..%d proposals", ErrConfig, maxChain)
	}
	auth := o.Auth
	if auth == 0 {
		auth = AuthPreSharedKey
	}
	life := o.Lifetime
	if life <= 0 {
		life = defaultIKELifetime
	}
	prop := Proposal{Num: 1, Protocol: ProtoISAKMP}
	for i, p := range o.Proposals {
		if !p.Supported() {
			return nil, fmt.Errorf("%w: unsupported IKE proposal %v", ErrConfig, p)
		}
		if o.Aggressive && p.Group != o.Proposals[0].Group {
			return nil, fmt.Errorf("%w: Aggressive Mode proposals need one DH group", ErrConfig)
		}
		prop.Transforms = append(prop.Transforms, Transform{Num: uint8(i + 1), ID: TransformKeyIKE,
			Attrs: withAuth(ikeAttrs(p, life), auth)})
	}
	sa := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{prop}}
	ps := []Payload{{Type: PayloadSA, Body: sa.append(nil)}}
	x := ExchangeMain
	if o.Aggressive {
		x = ExchangeAggressive
		_, pub, err := o.Proposals[0].Group.Group().GenerateKey(rand)
		if err != nil {
			return nil, fmt.Errorf("isakmp: probe key exchange: %w", err)
		}
		nonce := make([]byte, nonceLen)
		if _, err := io.ReadFull(rand, nonce); err != nil {
			return nil, fmt.Errorf("isakmp: probe nonce: %w", err)
		}
		ps = append(ps, Payload{Type: PayloadKE, Body: pub}, Payload{Type: PayloadNonce, Body: nonce},
			Payload{Type: PayloadID, Body: o.ID.append(nil)})
	}
	for _, v := range [][]byte{VIDRFC3947, VIDDraft02, VIDDraft02NL, VIDDraft03, VIDDPD} {
		ps = append(ps, Payload{Type: PayloadVendorID, Body: v})
	}
	return plainMessage(Header{ICookie: o.ICookie, Version: Version, Exchange: x}, ps), nil
}

// ProbeAnswer is what the server said to a probe's first message.
type ProbeAnswer struct {
	// Refused is the error notify that refused the offer (usually
	// NO-PROPOSAL-CHOSEN); nil if the server accepted it.
	Refused *NotifyError
	// Exchange of the answer (Main Mode, Aggressive Mode, Informational).
	Exchange ExchangeType
	// Chosen is the transform the server picked, if we can name it
	// (ChosenKnown); Attrs are its attributes as sent.
	Chosen      suite.IKEProposal
	ChosenKnown bool
	Attrs       []Attr
	Auth        uint16 // the chosen authentication method
	// VIDs are the vendor ID payloads' bodies, in order.
	VIDs [][]byte
	// PeerID is the server's identity in Aggressive Mode message 2
	// (printable); "" in Main Mode.
	PeerID string
}

// ReadProbeAnswer reads the server's answer to a probe sent under cookie
// ckyI: message 2 of the exchange, or an error notify, also SoftEther's
// under a fresh cookie of its own (refusalFor). It returns ErrNotProbeAnswer
// for a message about another exchange, and an ErrMalformed for one it
// cannot read.
func ReadProbeAnswer(ckyI [8]byte, msg []byte) (ProbeAnswer, error) {
	var a ProbeAnswer
	var h Header
	if err := h.UnmarshalBinary(msg); err != nil {
		return a, err
	}
	msg = msg[:h.Length]
	a.Exchange = h.Exchange
	if h.ICookie != ckyI {
		if ne := refusalFor(ckyI, &h, msg); ne != nil {
			a.Refused = ne
			return a, nil
		}
		return a, ErrNotProbeAnswer
	}
	if h.Flags&FlagEncryption != 0 {
		return a, malformed("probe answer encrypted")
	}
	m, err := ParseMessage(msg)
	if err != nil {
		return a, err
	}
	for _, p := range m.Payloads {
		if p.Type == PayloadVendorID {
			a.VIDs = append(a.VIDs, append([]byte(nil), p.Body...))
		}
	}
	if ne := notifyFailure(m.Payloads); ne != nil {
		a.Refused = ne
		return a, nil
	}
	if h.Exchange == ExchangeInformational {
		return a, malformed("Informational without an error notify")
	}
	sa, _, err := readSA("probe answer", m.Payloads)
	if err != nil {
		return a, malformed("%v", err)
	}
	if len(sa.Proposals[0].Transforms) == 0 {
		return a, malformed("SA without a transform")
	}
	a.Attrs = sa.Proposals[0].Transforms[0].Attrs
	a.Auth = authOf(a.Attrs)
	a.Chosen, a.ChosenKnown = ikeFromAttrs(a.Attrs)
	if p, ok := findPayload(m.Payloads, PayloadID); ok {
		var id ID
		if id.UnmarshalBinary(p.Body) == nil {
			a.PeerID = id.String()
		}
	}
	return a, nil
}

// AttrsString prints transform attributes for a chosen transform we
// cannot name: "enc=7 keylen=128 hash=2 group=19 auth=1".
func AttrsString(as []Attr) string {
	var b []byte
	for _, t := range []struct {
		name string
		typ  uint16
	}{{"enc", AttrEncryption}, {"keylen", AttrKeyLength}, {"hash", AttrHash}, {"group", AttrGroup}, {"auth", AttrAuthMethod}} {
		if v, ok := findAttr(as, t.typ); ok {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = fmt.Appendf(b, "%s=%d", t.name, v)
		}
	}
	return string(b)
}
