package isakmp

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Config configures an Initiator.
type Config struct {
	PSK            []byte
	Rand           io.Reader
	Local          netip.AddrPort       // our socket's address (NAT-D, IDs, NAT-OA)
	Remote         netip.AddrPort       // server IKE endpoint (port 500 normally)
	NATTPort       uint16               // default 4500; the FSM only says Send.NATT, the tunnel picks the port
	Proposals      []suite.IKEProposal  // nil → suite.DefaultIKEProposals()
	ESP            []suite.ESPTransform // nil → suite.DefaultESPTransforms(false)
	PFS            suite.GroupID        // Quick Mode PFS group (KE in Quick Mode, RFC 2409 §5.5); 0: no PFS
	SALifetime     time.Duration        // Quick Mode proposal lifetime (default 1h)
	IKELifetime    time.Duration        // default 8h; re-authenticate at ReauthAt; at expiry: Fail(ErrIKEExpired)
	RetransmitBase time.Duration        // default 1s, doubling, each wait capped at RetransmitCap
	RetransmitCap  time.Duration        // default 8s: the longest wait between two sends
	MaxRetransmits int                  // default 5, then Fail(ErrNoResponse)

	// Aggressive selects Aggressive Mode (RFC 2409 §5.4, three messages)
	// instead of Main Mode. Its first message carries the key exchange, so
	// only the proposals with the first proposal's DH group are offered.
	Aggressive bool
	// ID is our phase-1 identity; nil: our address (PSK) or our
	// certificate's subject (Cert).
	ID *ID
	// Cert selects signature authentication with certificates (RFC 2409
	// §5.1) instead of the pre-shared key.
	Cert *CertAuth
	// OfferTunnel adds a second Quick Mode proposal, in tunnel mode (UDP-
	// Tunnel, or Tunnel with plain ESP), after the transport-mode one, for
	// servers that insist on tunnel mode. ChildSA.EncapMode says which the
	// server chose.
	OfferTunnel bool
	// PlainESP says when ESP may go without UDP encapsulation; the zero
	// value forces NAT-T.
	PlainESP PlainESP
}

// mmState is the Initiator's phase-1 progress.
//
//	mmIdle --Start/MM1--> mmWaitMM2 --MM2/MM3--> mmWaitMM4 --MM4/MM5--> mmWaitMM6
//	mmWaitMM6 --MM6 (HASH_R or SIG_R ok)/Phase1Up, QM1--> mmDone
//	mmIdle --Start/AM1--> amWaitAM2 --AM2 (HASH_R or SIG_R ok)/AM3, Phase1Up, QM1--> mmDone
//	any --retransmit budget spent, fatal notify, MM4 repeated, AM2 HASH_R
//	      wrong, server certificate or signature rejected, no randomness--> Fail
type mmState uint8

const (
	mmIdle mmState = iota
	mmWaitMM2
	mmWaitMM4
	mmWaitMM6
	mmDone
	amWaitAM2
)

// Initiator is the client side: Main Mode or Aggressive Mode (PSK or
// certificates) + Quick Mode initiator, Quick Mode responder for server
// re-keys, DPD and Delete handling.
type Initiator struct {
	cfg Config
	e   engine
	st  mmState

	retx       retx
	saiB       []byte
	priv, gxi  []byte
	gxr        []byte
	ni         []byte
	lastPeer   []byte // last accepted peer Main Mode message
	mm4        []byte
	mm4Repeats int
	mm4Excused int // repeats of MM4 that answer our MM3 retransmissions
	mm5At      time.Time
	natFound   bool
	nattVID    bool   // the server sent a NAT-T vendor ID
	method     uint16 // phase-1 authentication method
	idB        []byte // our ID payload body (IDii)
	am3        []byte // Aggressive Mode message 3, sent again if AM2 repeats
	refused    bool   // an error notify came in answer to message 1
}

// NewInitiator validates cfg and fills in defaults.
func NewInitiator(cfg Config) (*Initiator, error) {
	method := AuthPreSharedKey
	if cfg.Cert != nil {
		if err := cfg.Cert.check(); err != nil {
			return nil, err
		}
		method, _ = cfg.Cert.method()
		cfg.PSK = nil
	} else if len(cfg.PSK) == 0 {
		return nil, fmt.Errorf("%w: empty pre-shared key", ErrConfig)
	}
	if cfg.Rand == nil {
		return nil, fmt.Errorf("%w: no randomness source", ErrConfig)
	}
	if !cfg.Local.IsValid() || !cfg.Remote.IsValid() {
		return nil, fmt.Errorf("%w: local and remote addresses are required", ErrConfig)
	}
	if cfg.NATTPort == 0 {
		cfg.NATTPort = defaultNATTPort
	}
	if cfg.Proposals == nil {
		cfg.Proposals = suite.DefaultIKEProposals()
	}
	if cfg.ESP == nil {
		cfg.ESP = suite.DefaultESPTransforms(false)
	}
	// As many as our own parser takes in one proposal.
	if len(cfg.Proposals) == 0 || len(cfg.Proposals) > maxChain || len(cfg.ESP) == 0 || len(cfg.ESP) > maxChain {
		return nil, fmt.Errorf("%w: need 1..%d IKE proposals and ESP transforms", ErrConfig, maxChain)
	}
	for _, p := range cfg.Proposals {
		if !p.Supported() {
			return nil, fmt.Errorf("%w: unsupported IKE proposal %v", ErrConfig, p)
		}
	}
	for _, t := range cfg.ESP {
		if !t.Supported() {
			return nil, fmt.Errorf("%w: unsupported ESP transform %v", ErrConfig, t)
		}
	}
	if cfg.PFS != 0 && cfg.PFS.Group() == nil {
		return nil, fmt.Errorf("%w: unsupported PFS group %v", ErrConfig, cfg.PFS)
	}
	if cfg.SALifetime/time.Second > math.MaxUint32 || cfg.IKELifetime/time.Second > math.MaxUint32 {
		return nil, fmt.Errorf("%w: lifetimes must fit 32 bits of seconds", ErrConfig)
	}
	if cfg.SALifetime <= 0 {
		cfg.SALifetime = defaultSALifetime
	}
	if cfg.IKELifetime <= 0 {
		cfg.IKELifetime = defaultIKELifetime
	}
	if cfg.RetransmitBase <= 0 {
		cfg.RetransmitBase = defaultRetxBase
	}
	if cfg.MaxRetransmits <= 0 {
		cfg.MaxRetransmits = defaultMaxRetx
	}
	if cfg.RetransmitCap <= 0 {
		cfg.RetransmitCap = maxRetxWait
	}
	if cfg.Aggressive {
		// One key exchange in the first message: one DH group for all.
		var same []suite.IKEProposal
		for _, p := range cfg.Proposals {
			if p.Group == cfg.Proposals[0].Group {
				same = append(same, p)
			}
		}
		cfg.Proposals = same
	}
	in := &Initiator{cfg: cfg, method: method}
	switch {
	case cfg.ID != nil:
		in.idB = cfg.ID.append(nil)
	case cfg.Cert != nil:
		in.idB = certIDBody(cfg.Cert.Chain[0])
	default:
		in.idB = addrIDBody(cfg.Local.Addr(), 0, 0)
	}
	in.e = engine{rand: cfg.Rand, client: true, esp: cfg.ESP, pfs: cfg.PFS, saLife: cfg.SALifetime, offerTunnel: cfg.OfferTunnel,
		ikeLife: cfg.IKELifetime, retxBase: cfg.RetransmitBase, retxCap: cfg.RetransmitCap, maxRetx: cfg.MaxRetransmits}
	return in, nil
}

// Start sends Main Mode message 1: HDR, SA, VID(RFC 3947, drafts, DPD).
func (in *Initiator) Start(now time.Time) []Action {
	if in.st != mmIdle {
		return nil
	}
	return in.e.run(func() error { return in.start(now) })
}

func (in *Initiator) start(now time.Time) error {
	e := &in.e
	cky, err := e.randBytes(8)
	if err != nil {
		return err
	}
	copy(e.k.ckyI[:], cky)
	prop := Proposal{Num: 1, Protocol: ProtoISAKMP}
	for i, p := range in.cfg.Proposals {
		attrs := withAuth(ikeAttrs(p, in.cfg.IKELifetime), in.method)
		prop.Transforms = append(prop.Transforms, Transform{Num: uint8(i + 1), ID: TransformKeyIKE, Attrs: attrs})
	}
	sa := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{prop}}
	in.saiB = sa.append(nil)
	ps := []Payload{{Type: PayloadSA, Body: in.saiB}}
	if in.cfg.Aggressive {
		// AM1: HDR, SA, KE, Ni, IDii [, CR]. Ref: RFC 2409 §5.4, §5.1.
		priv, pub, err := dh.generate(in.cfg.Proposals[0].Group.Group(), e.rand)
		if err != nil {
			return err
		}
		in.priv, in.gxi = priv, pub
		if in.ni, err = e.randBytes(nonceLen); err != nil {
			return err
		}
		ps = append(ps, Payload{Type: PayloadKE, Body: in.gxi}, Payload{Type: PayloadNonce, Body: in.ni},
			Payload{Type: PayloadID, Body: in.idB})
		ps = append(ps, in.certRequests()...)
	}
	for _, v := range [][]byte{VIDRFC3947, VIDDraft02, VIDDraft02NL, VIDDraft03, VIDDPD} {
		ps = append(ps, Payload{Type: PayloadVendorID, Body: v})
	}
	if in.cfg.Aggressive {
		in.sendMM(now, e.k.plain(ExchangeAggressive, ps), false, "Aggressive Mode message 1")
		in.st = amWaitAM2
		return nil
	}
	in.sendMM(now, e.k.plain(ExchangeMain, ps), false, "Main Mode message 1")
	in.st = mmWaitMM2
	return nil
}

// certRequests are our CR payloads: one per CA with certificates, none
// with a pre-shared key.
func (in *Initiator) certRequests() []Payload {
	if in.cfg.Cert == nil {
		return nil
	}
	return in.cfg.Cert.crPayloads()
}

// exchange is our phase-1 exchange type.
func (in *Initiator) exchange() ExchangeType {
	if in.cfg.Aggressive {
		return ExchangeAggressive
	}
	return ExchangeMain
}

func (in *Initiator) sendMM(now time.Time, msg []byte, natt bool, what string) {
	in.retx.arm(now, in.cfg.RetransmitBase, msg, natt, what)
	in.e.send(msg, natt)
}

// Handle processes one received ISAKMP message (non-ESP marker stripped).
func (in *Initiator) Handle(now time.Time, msg []byte) []Action {
	return in.e.run(func() error { return in.handle(now, msg) })
}

func (in *Initiator) handle(now time.Time, msg []byte) error {
	e := &in.e
	if in.st == mmIdle {
		return drop("ISAKMP", "received before Start")
	}
	var h Header
	if err := h.UnmarshalBinary(msg); err != nil {
		return dropErr("ISAKMP", err)
	}
	if h.ICookie != e.k.ckyI {
		if in.st == mmWaitMM2 {
			if ne := refusalFor(e.k.ckyI, &h, msg); ne != nil {
				in.refused = true
				return ne
			}
		}
		return errNotOurs
	}
	msg = msg[:h.Length]
	if in.st == mmDone {
		if h.RCookie != e.k.ckyR {
			return errNotOurs
		}
		if h.Exchange == ExchangeAggressive && in.am3 != nil && bytes.Equal(msg, in.lastPeer) {
			e.send(in.am3, true) // the server missed our message 3
			return nil
		}
		return e.handlePhase2(now, &h, msg, in.st)
	}
	if h.Exchange == ExchangeInformational {
		return in.mmInformational(now, &h, msg)
	}
	if h.Exchange != in.exchange() {
		return unexpected(h.Exchange, in.st)
	}
	if in.st == mmWaitMM6 && h.Flags&FlagEncryption == 0 && h.RCookie == e.k.ckyR {
		// SoftEther repeats its plaintext MM4 when it cannot verify HASH_I.
		if !bytes.Equal(msg, in.mm4) {
			return drop("Main Mode", "plaintext message in state "+in.st.String())
		}
		// A repeat right after MM5 is a duplicate, and one for each MM3
		// we sent again is that retransmission's answer (a slow server
		// answers them all, late); SoftEther's own repeats come every 2 s.
		// Under heavy loss every copy of MM5 so far may have been lost
		// (30 %: two in a row one time in eleven), and SoftEther repeats
		// MM4 then too: only repeats after MM5 went out three times count.
		switch {
		case in.mm4Excused > 0:
			in.mm4Excused--
		case now.Sub(in.mm5At) >= in.cfg.RetransmitBase && in.retx.tries >= pskMismatchMM5Retx:
			in.mm4Repeats++
		}
		if in.mm4Repeats >= pskMismatchRepeats {
			return ErrPSKMismatch
		}
		// No immediate resend of MM5: the retransmission timer does it,
		// and answering repeats with repeats could ping-pong.
		return drop("Main Mode 4", "repeated after our message 5 (the server may not verify HASH_I)")
	}
	if in.lastPeer != nil && bytes.Equal(msg, in.lastPeer) {
		e.send(in.retx.data, in.retx.natt) // the peer missed our last message
		return nil
	}
	switch in.st {
	case amWaitAM2:
		return in.onAM2(now, &h, msg)
	case mmWaitMM2:
		return in.onMM2(now, &h, msg)
	case mmWaitMM4:
		return in.onMM4(now, &h, msg)
	default:
		return in.onMM6(now, &h, msg)
	}
}

// mmInformational handles an Informational before phase 1 is up: a
// plaintext one (NO-PROPOSAL-CHOSEN to MM1) or an encrypted one once keyed.
func (in *Initiator) mmInformational(now time.Time, h *Header, msg []byte) error {
	const what = "Informational"
	if h.Flags&FlagEncryption != 0 {
		if h.RCookie != in.e.k.ckyR {
			return errNotOurs
		}
		return in.e.handleInfo(now, h, msg)
	}
	if _, err := readPlain(what, h, msg); err != nil {
		in.refused = in.refused || in.st == mmWaitMM2
		return err
	}
	return drop(what, "no error notify")
}

// refusalFor recognises SoftEther's refusal of Main Mode message 1: a
// plaintext Informational under a fresh initiator cookie of its own (and
// responder cookie 0), whose ISAKMP notify carries our cookies as its
// 16-byte SPI (RFC 2408 §3.14: the SPI of an ISAKMP SA is the cookie
// pair). It returns the notify's error, or nil for anything else.
func refusalFor(ckyI [8]byte, h *Header, msg []byte) *NotifyError {
	if h.Exchange != ExchangeInformational || h.Flags&FlagEncryption != 0 || h.RCookie != ([8]byte{}) {
		return nil
	}
	m, err := ParseMessage(msg)
	if err != nil {
		return nil
	}
	for _, p := range m.Payloads {
		var n Notify
		if p.Type != PayloadNotify || n.UnmarshalBinary(p.Body) != nil {
			continue
		}
		if n.Protocol == ProtoISAKMP && len(n.SPI) == 16 && bytes.Equal(n.SPI[:8], ckyI[:]) && n.Type.IsError() {
			return &NotifyError{Type: uint16(n.Type), Data: append([]byte(nil), n.Data...)}
		}
	}
	return nil
}

// readPlain reads a plaintext message from the server, named what; an
// error notify in it is fatal.
func readPlain(what string, h *Header, msg []byte) ([]Payload, error) {
	ps, err := plainPayloads(what, h, msg)
	if err != nil {
		return nil, err
	}
	if ne := notifyFailure(ps); ne != nil {
		return nil, ne
	}
	return ps, nil
}

// notifyFailure is the first error notify in ps, if any.
func notifyFailure(ps []Payload) *NotifyError {
	for _, p := range ps {
		var n Notify
		if p.Type == PayloadNotify && n.UnmarshalBinary(p.Body) == nil && n.Type.IsError() {
			return &NotifyError{Type: uint16(n.Type), Data: append([]byte(nil), n.Data...)}
		}
	}
	return nil
}

// chosen reads the server's choice in Main Mode message 2 or Aggressive
// Mode message 2 (named what), checks it against our offer and the NAT-T
// vendor IDs, and keeps it with the responder cookie.
func (in *Initiator) chosen(what string, h *Header, ps []Payload) (suite.IKEProposal, error) {
	e := &in.e
	sa, _, err := readSA(what, ps)
	if err != nil {
		return suite.IKEProposal{}, err
	}
	if len(sa.Proposals) != 1 || len(sa.Proposals[0].Transforms) == 0 {
		return suite.IKEProposal{}, drop(what, "SA without one proposal with a transform")
	}
	attrs := sa.Proposals[0].Transforms[0].Attrs
	chosen, ok := ikeFromAttrs(attrs)
	offered := false
	for _, p := range in.cfg.Proposals {
		offered = offered || (ok && p == chosen)
	}
	if !offered || authOf(attrs) != in.method {
		return suite.IKEProposal{}, fmt.Errorf("%w: %s transform %v", ErrBadProposal, in.exchange(), attrs)
	}
	rfc, draft := nattVIDs(ps)
	if !rfc && !draft && in.cfg.PlainESP == PlainESPNever {
		return suite.IKEProposal{}, ErrNoNATT
	}
	in.nattVID = rfc || draft
	e.k.rfcNATT = rfc
	e.k.peerDPD = containsVID(ps, VIDDPD)
	e.k.ckyR = h.RCookie
	e.k.prop = chosen
	return chosen, nil
}

// onMM2 takes HDR, SA, VID... and sends MM3: HDR, KE, Ni, NAT-D, NAT-D.
func (in *Initiator) onMM2(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 2"
	e := &in.e
	if h.RCookie == ([8]byte{}) {
		return drop(what, "no responder cookie")
	}
	ps, err := readPlain(what, h, msg)
	if err != nil {
		return err
	}
	chosen, err := in.chosen(what, h, ps)
	if err != nil {
		return err
	}

	grp := chosen.Group.Group()
	priv, pub, err := dh.generate(grp, e.rand)
	if err != nil {
		return err
	}
	in.priv, in.gxi = priv, pub
	if in.ni, err = e.randBytes(nonceLen); err != nil {
		return err
	}
	// NAT-D: the first is the peer's address; the second is ours
	// (ourNATD: random unless plain ESP may be used). Ref: RFC 3947 §3.2.
	ours, err := in.ourNATD(chosen.Hash, e.k.cookies())
	if err != nil {
		return err
	}
	ck := e.k.cookies()
	ps3 := append([]Payload{
		{Type: PayloadKE, Body: in.gxi},
		{Type: PayloadNonce, Body: in.ni},
	}, in.certRequests()...)
	mm3 := e.k.plain(ExchangeMain, append(ps3,
		Payload{Type: e.k.natdType(), Body: natdHash(chosen.Hash, ck[:8], ck[8:], in.cfg.Remote)},
		Payload{Type: e.k.natdType(), Body: ours},
	))
	in.lastPeer = append([]byte(nil), msg...)
	in.sendMM(now, mm3, false, "Main Mode message 3")
	in.st = mmWaitMM4
	return nil
}

// onMM4 takes HDR, KE, Nr, NAT-D, NAT-D and sends MM5: HDR*, IDii, HASH_I.
func (in *Initiator) onMM4(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 4"
	e := &in.e
	if h.RCookie != e.k.ckyR {
		return errNotOurs
	}
	ps, err := readPlain(what, h, msg)
	if err != nil {
		return err
	}
	kx, err := readKeyExchange(ps)
	if err != nil {
		return dropErr(what, err)
	}
	grp := e.k.prop.Group.Group()
	gxy, err := dh.shared(grp, in.priv, fullWidth(kx.ke, grp.Size))
	if err != nil {
		return dropErr(what, err)
	}
	hf := e.k.prop.Hash
	ck := e.k.cookies()
	if len(kx.natd) > 0 {
		in.natFound = !bytes.Equal(kx.natd[0], natdHash(hf, ck[:8], ck[8:], in.cfg.Local))
	}
	if err := in.choosePlain(); err != nil {
		return err
	}
	in.gxr = append([]byte(nil), kx.ke...)
	if err := e.deriveKeys(e.skeyid(in.cfg.PSK, in.ni, kx.nonce, gxy), gxy, in.gxi, in.gxr); err != nil {
		return err
	}

	hi := hashI(hashPRF(in.method, hf), e.k.skeyid, in.gxi, in.gxr, ck[:8], ck[8:], in.saiB, in.idB)
	auth, err := in.authPayloads(hi)
	if err != nil {
		return err
	}
	out, last := e.encrypt(ExchangeMain, 0, append([]Payload{{Type: PayloadID, Body: in.idB}}, auth...), e.k.lastP1)
	e.k.lastP1 = last
	e.natt = !e.plain // unless ESP goes plain, NAT-T is forced: float to 4500 from MM5 on
	in.lastPeer = append([]byte(nil), msg...)
	in.mm4 = in.lastPeer
	in.mm4Excused = in.retx.tries // each MM3 sent again may draw one more MM4
	in.mm5At = now
	in.sendMM(now, out, e.natt, "Main Mode message 5")
	in.st = mmWaitMM6
	return nil
}

// ourNATD is the NAT-D payload for our own address (the second of
// Main Mode message 3 and Aggressive Mode message 3). To force NAT-T it
// is random, so that the peer (and we) float to the NAT-T port as
// strongSwan's encap=yes does; when plain ESP may be used it is the real
// hash of our address and port. Ref: RFC 3947 §3.2.
func (in *Initiator) ourNATD(hf suite.HashID, ck []byte) ([]byte, error) {
	if in.cfg.PlainESP == PlainESPNever {
		return in.e.randBytes(hf.Size())
	}
	return natdHash(hf, ck[:8], ck[8:], in.cfg.Local), nil
}

// choosePlain decides, once the server's NAT-D is known, whether ESP goes
// plain (engine.plain) or in UDP, by Config.PlainESP.
func (in *Initiator) choosePlain() error {
	e := &in.e
	switch in.cfg.PlainESP {
	case PlainESPAlways:
		if in.natFound {
			return ErrPlainESPNAT
		}
		e.plain = true
	case PlainESPIfNoNAT:
		e.plain = !in.natFound
	}
	if !e.plain && !in.nattVID {
		return ErrNoNATT
	}
	return nil
}

// authPayloads are what proves our identity after IDii: HASH_I with a
// pre-shared key; our certificates and SIG_I with signatures.
func (in *Initiator) authPayloads(hi []byte) ([]Payload, error) {
	if in.cfg.Cert == nil {
		return []Payload{{Type: PayloadHash, Body: hi}}, nil
	}
	sig, err := in.cfg.Cert.sign(in.e.rand, hi)
	if err != nil {
		return nil, fmt.Errorf("isakmp: signing: %w", err)
	}
	return append(in.cfg.Cert.certPayloads(), Payload{Type: PayloadSig, Body: sig}), nil
}

// checkPeer authenticates the server from the payloads of Main Mode
// message 6 or Aggressive Mode message 2 (named what): HASH_R with a
// pre-shared key, its certificate and SIG_R with signatures. It returns the
// server's identity, printable. A HASH_R that does not verify is
// errHashR's verdict; a certificate or signature that does not is a
// PeerAuthError.
func (in *Initiator) checkPeer(now time.Time, what string, ps []Payload, errHashR error) (string, error) {
	e := &in.e
	idp, ok := findPayload(ps, PayloadID)
	if !ok {
		return "", drop(what, "no ID payload")
	}
	var id ID
	if err := id.UnmarshalBinary(idp.Body); err != nil {
		return "", dropErr(what, err)
	}
	ck := e.k.cookies()
	want := hashR(hashPRF(in.method, e.k.prop.Hash), e.k.skeyid, in.gxi, in.gxr, ck[:8], ck[8:], in.saiB, idp.Body)
	if in.cfg.Cert == nil {
		hp, ok := findPayload(ps, PayloadHash)
		if !ok {
			return "", drop(what, "no HASH payload")
		}
		if !hmac.Equal(want, hp.Body) {
			return "", errHashR // IDir may be 0.0.0.0 (SoftEther); only the hash is checked
		}
		return id.String(), nil
	}
	sp, ok := findPayload(ps, PayloadSig)
	if !ok {
		return "", drop(what, "no SIG payload")
	}
	crt, err := in.cfg.Cert.verifyPeer(now, peerCerts(ps), &id)
	if err != nil {
		return "", err
	}
	if !verifySig(crt.PublicKey, want, sp.Body) {
		return "", peerAuth("the signature of the server's certificate %s does not verify", certName(crt))
	}
	return id.String(), nil
}

// onMM6 takes HDR*, IDir, [CERT,] HASH_R or SIG_R; on success phase 1 is
// up and QM1 goes out.
func (in *Initiator) onMM6(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 6"
	e := &in.e
	if h.RCookie != e.k.ckyR {
		return errNotOurs
	}
	d, err := e.decrypt(what, h, msg, e.k.lastP1)
	if err != nil {
		return err
	}
	peer, err := in.checkPeer(now, what, d.ps, drop(what, "HASH_R mismatch"))
	if err != nil {
		return err
	}
	e.k.lastP1 = d.last
	return in.phase1Up(now, peer)
}

// onAM2 takes HDR, SA, KE, Nr, IDir, [CERT,] HASH_R or SIG_R, VIDs and
// NAT-D payloads, and sends AM3: HDR*, [CERT,] HASH_I or SIG_I, NAT-D,
// NAT-D, to the NAT-T port (RFC 3947 §4: the initiator floats with
// message 3). Phase 1 is then up. Ref: RFC 2409 §5.4, §5.1.
func (in *Initiator) onAM2(now time.Time, h *Header, msg []byte) error {
	const what = "Aggressive Mode 2"
	e := &in.e
	if h.RCookie == ([8]byte{}) {
		return drop(what, "no responder cookie")
	}
	ps, err := readPlain(what, h, msg)
	if err != nil {
		return err
	}
	kx, err := readKeyExchange(ps)
	if err != nil {
		return dropErr(what, err)
	}
	chosen, err := in.chosen(what, h, ps)
	if err != nil {
		return err
	}
	if chosen.Group != in.cfg.Proposals[0].Group {
		return fmt.Errorf("%w: Aggressive Mode group %v, but we sent a key for %v", ErrBadProposal, chosen.Group, in.cfg.Proposals[0].Group)
	}
	grp := chosen.Group.Group()
	gxy, err := dh.shared(grp, in.priv, fullWidth(kx.ke, grp.Size))
	if err != nil {
		return dropErr(what, err)
	}
	hf := chosen.Hash
	ck := e.k.cookies()
	if len(kx.natd) > 0 {
		in.natFound = !bytes.Equal(kx.natd[0], natdHash(hf, ck[:8], ck[8:], in.cfg.Local))
	}
	in.gxr = append([]byte(nil), kx.ke...)
	if err := e.deriveKeys(e.skeyid(in.cfg.PSK, in.ni, kx.nonce, gxy), gxy, in.gxi, in.gxr); err != nil {
		return err
	}
	peer, err := in.checkPeer(now, what, ps, ErrPSKHashMismatch)
	if err != nil {
		return err
	}
	hi := hashI(hashPRF(in.method, hf), e.k.skeyid, in.gxi, in.gxr, ck[:8], ck[8:], in.saiB, in.idB)
	auth, err := in.authPayloads(hi)
	if err != nil {
		return err
	}
	// NAT-D as in Main Mode message 3: the server's address as this
	// message goes to it (its NAT-T port), then a random one for ours, so
	// that both sides float to UDP 4500.
	if err := in.choosePlain(); err != nil {
		return err
	}
	ours, err := in.ourNATD(hf, ck)
	if err != nil {
		return err
	}
	dst := netip.AddrPortFrom(in.cfg.Remote.Addr(), in.cfg.NATTPort)
	if e.plain {
		dst = in.cfg.Remote
	}
	auth = append(auth,
		Payload{Type: e.k.natdType(), Body: natdHash(hf, ck[:8], ck[8:], dst)},
		Payload{Type: e.k.natdType(), Body: ours})
	out, last := e.encrypt(ExchangeAggressive, 0, auth, e.k.lastP1)
	e.k.lastP1 = last
	e.natt = !e.plain
	in.lastPeer = append([]byte(nil), msg...)
	in.am3 = out
	e.send(out, e.natt)
	return in.phase1Up(now, peer)
}

// phase1Up completes phase 1 with the server identified as peer, and
// starts the first Quick Mode.
func (in *Initiator) phase1Up(now time.Time, peer string) error {
	e := &in.e
	in.retx = retx{}
	in.st = mmDone
	in.priv = nil
	e.up = true
	e.upAt = now
	e.ikeExpire = now.Add(in.cfg.IKELifetime)
	e.ids = []Payload{
		{Type: PayloadID, Body: addrIDBody(in.cfg.Local.Addr(), ipProtoUDP, L2TPPort)},
		{Type: PayloadID, Body: addrIDBody(in.cfg.Remote.Addr(), ipProtoUDP, L2TPPort)},
	}
	if !e.plain { // NAT-OA goes with the UDP-encapsulated modes only (RFC 3947 §5.2)
		e.natoa = []Payload{
			{Type: e.k.natoaType(), Body: (&NATOA{Addr: in.cfg.Local.Addr()}).append(nil)},
			{Type: e.k.natoaType(), Body: (&NATOA{Addr: in.cfg.Remote.Addr()}).append(nil)},
		}
	}
	e.out = append(e.out, Phase1Up{Proposal: e.k.prop, PeerID: peer, NATDetected: in.natFound, PlainESP: e.plain,
		Exchange: in.exchange(), Auth: in.method})
	if in.cfg.Aggressive {
		// Message 3 is ours, so Quick Mode message 1 would leave right
		// behind it, and strongSwan, which handles the two in parallel,
		// often takes the Quick Mode first and ignores it ("while phase
		// 1 is incomplete"). Start it a moment later.
		e.rekeyAt = now.Add(aggressiveQMDelay)
		return nil
	}
	return e.startQM(now)
}

// Answered reports whether the server answered Main Mode message 1 (with
// message 2 or an error notify). ErrNoResponse with Answered false means
// the server never said a word: it may be down, or it may drop offers it
// does not like, and the caller may try another proposal list.
func (in *Initiator) Answered() bool { return in.st > mmWaitMM2 || in.refused }

// Tick runs timers; call it when now >= Deadline().
func (in *Initiator) Tick(now time.Time) []Action {
	return in.e.run(func() error { return in.tick(now) })
}

func (in *Initiator) tick(now time.Time) error {
	if in.retx.due(now) {
		if in.retx.spent(in.cfg.MaxRetransmits) {
			if in.st == mmWaitMM6 && in.cfg.Cert == nil {
				// It answered messages 1 to 4: message 5 is what it
				// cannot decrypt or verify (strongSwan drops it).
				return fmt.Errorf("%w (%w to %s)", ErrPSKUnanswered, ErrNoResponse, in.retx.what)
			}
			return fmt.Errorf("%w to %s", ErrNoResponse, in.retx.what)
		}
		in.retx.again(now, in.cfg.RetransmitBase, in.cfg.RetransmitCap)
		in.e.send(in.retx.data, in.retx.natt)
	}
	return in.e.tick(now)
}

// Deadline is the next time Tick must run; zero means none.
func (in *Initiator) Deadline() time.Time {
	if in.e.done != nil {
		return time.Time{}
	}
	var t time.Time
	if in.retx.active {
		t = in.retx.next
	}
	return minTime(t, in.e.deadline())
}

// ProbeDPD sends one R-U-THERE on this IKE SA and reports true, if the
// server announced DPD (its vendor ID in phase 1) and phase 1 is up;
// otherwise it sends nothing and reports false. The caller decides when:
// only after a while with nothing from the server (RFC 3706 §5.3, "worry
// metric"); and it judges liveness by anything arriving from the server,
// of which the R-U-THERE-ACK is one. The sequence number starts at a random
// value and grows by one per probe. Ref: RFC 3706 §5, §7.
func (in *Initiator) ProbeDPD(now time.Time) ([]Action, bool) {
	e := in.e
	if !e.up || !e.k.peerDPD || e.done != nil || e.closed {
		return nil, false
	}
	if e.dpdSeq == 0 {
		b, err := e.randBytes(4)
		if err != nil {
			return e.finish(err), true
		}
		e.dpdSeq = binary.BigEndian.Uint32(b)&0x7fffffff | 1 // leave room to grow, never 0
	} else {
		e.dpdSeq++
	}
	return e.finish(e.sendDPD(NotifyRUThere, e.dpdSeq)), true
}

// DPDAcks counts the R-U-THERE-ACKs received on this IKE SA.
func (in *Initiator) DPDAcks() int { return in.e.dpdAcks }

// Close sends Informational Deletes for every live IPsec SA (our inbound
// SPIs) and for the IKE SA, even after a failure; nothing is retransmitted
// and the FSM ignores all input afterwards.
func (in *Initiator) Close(now time.Time) []Action { return in.e.close() }

// ReauthAt is when this IKE SA should be replaced by a new Main Mode
// (re-authentication), well before it expires: the time phase 1 completed
// plus 85% of Config.IKELifetime less up to 5% of jitter, the rule the
// Initiator re-keys its IPsec SAs by. It is fixed once, when the first
// IPsec SA pair comes up, with that pair's jitter draw (no extra
// randomness); zero before then. The Initiator does not act on it: the
// caller starts the new Main Mode.
func (in *Initiator) ReauthAt() time.Time { return in.e.reauthAt }

// Rekey starts a Quick Mode now (normally the FSM schedules it itself).
func (in *Initiator) Rekey(now time.Time) []Action {
	if in.st != mmDone || in.e.qmPending() {
		return nil
	}
	return in.e.run(func() error { return in.e.startQM(now) })
}
