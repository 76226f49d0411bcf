package isakmp

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// BadPSKBehaviour is what a Responder does when HASH_I does not verify.
type BadPSKBehaviour uint8

const (
	// BadPSKResendMM4 repeats the plaintext MM4 (SoftEther).
	BadPSKResendMM4 BadPSKBehaviour = iota
	// BadPSKNotify sends a plaintext AUTHENTICATION-FAILED notify.
	BadPSKNotify
	// BadPSKSilent drops MM5.
	BadPSKSilent
)

// ResponderConfig configures a Responder (an in-process test peer).
type ResponderConfig struct {
	PSK       []byte
	Rand      io.Reader
	Local     netip.AddrPort       // our IKE address
	Remote    netip.AddrPort       // the initiator's address as we see it (real NAT-D); may be zero with ForceNAT
	Proposals []suite.IKEProposal  // acceptable, in preference; nil → suite.DefaultIKEProposals()
	ESP       []suite.ESPTransform // acceptable, in preference; nil → suite.DefaultESPTransforms(false)
	PFS       suite.GroupID        // PFS group demanded in Quick Mode; 0: PFS refused
	// ServerOrder picks the first of Proposals the initiator offers (the
	// server's preference), instead of the first acceptable transform in
	// the initiator's order (SoftEther, Libreswan).
	ServerOrder bool
	// SilentRefusal drops a Main Mode message 1 with no acceptable
	// proposal instead of answering NO-PROPOSAL-CHOSEN (servers that
	// ignore offers they do not like).
	SilentRefusal bool
	// CookieRefusal sends NO-PROPOSAL-CHOSEN as SoftEther does: under a
	// fresh initiator cookie of its own, with the initiator's cookies as the
	// notify's SPI.
	CookieRefusal bool
	ForceNAT      bool          // SoftEther: random NAT-D for the client
	IDAddr        netip.Addr    // IDir address (SoftEther: 0.0.0.0); zero → Local.Addr()
	RekeyAfter    time.Duration // 0: never; else start a Quick Mode this long after each SA (SoftEther: lifetime+1s)
	SendDPD       bool          // send R-U-THERE every 10 s if the initiator sent the DPD VID
	OnBadPSK      BadPSKBehaviour
	DraftNATT     bool // answer with the draft-02 NAT-T VID even if RFC 3947 was offered
	// RetransmitBase and MaxRetransmits apply to the Responder's own Quick Modes.
	RetransmitBase time.Duration
	MaxRetransmits int

	// ID is our phase-1 identity; nil: IDAddr, or with Cert our
	// certificate's subject (as Windows does).
	ID *ID
	// Cert selects signature authentication: Chain and Key are ours, CAs
	// verify the initiator's certificate and PeerID (if set) must name it.
	Cert *CertAuth
	// CertOnRequest sends our certificate only to an initiator that sent a
	// certificate request, as many servers do.
	CertOnRequest bool
	// NoAggressive refuses Aggressive Mode (drops its first message).
	NoAggressive bool
	// ESPModes are the encapsulation modes accepted in Quick Mode; nil:
	// the transport modes (2, 4, 61444). A server that insists on tunnel
	// mode lists EncapTunnel, EncapUDPTunnel and EncapUDPTunnelDraft.
	ESPModes []uint16
}

// rState is the Responder's phase-1 progress.
//
//	rIdle --MM1/MM2--> rWaitMM3 --MM3/MM4--> rWaitMM5 --MM5 ok/MM6, Phase1Up--> rDone
//	rIdle --AM1/AM2--> rWaitAM3 --AM3 ok/Phase1Up--> rDone
type rState uint8

const (
	rIdle rState = iota
	rWaitMM3
	rWaitMM5
	rDone
	rWaitAM3
)

// Responder is the server side of Main Mode, Aggressive Mode and Quick
// Mode (PSK or certificates), modelled on SoftEther, Libreswan, MikroTik
// and Windows RRAS for tests.
type Responder struct {
	cfg ResponderConfig
	e   engine
	st  rState

	saiB          []byte
	priv, gxi     []byte
	gxr, ni, nr   []byte
	lastIn        []byte
	lastOut       []byte
	lastOutNATT   bool
	natFound      bool
	dpdNext       time.Time
	mm5Rejections int
	idiB          []byte // Aggressive Mode: the initiator's ID payload body
	method        uint16 // our phase-1 authentication method
	peerCR        bool   // the initiator sent a certificate request
	idB           []byte // IDir
}

// NewResponder fills in defaults.
func NewResponder(cfg ResponderConfig) *Responder {
	if cfg.Proposals == nil {
		cfg.Proposals = suite.DefaultIKEProposals()
	}
	if cfg.ESP == nil {
		cfg.ESP = suite.DefaultESPTransforms(false)
	}
	if !cfg.IDAddr.IsValid() {
		cfg.IDAddr = cfg.Local.Addr()
	}
	if cfg.RetransmitBase <= 0 {
		cfg.RetransmitBase = defaultRetxBase
	}
	if cfg.MaxRetransmits <= 0 {
		cfg.MaxRetransmits = defaultMaxRetx
	}
	r := &Responder{cfg: cfg, method: AuthPreSharedKey}
	switch {
	case cfg.ID != nil:
		r.idB = cfg.ID.append(nil)
	case cfg.Cert != nil && len(cfg.Cert.Chain) > 0:
		r.idB = certIDBody(cfg.Cert.Chain[0])
	default:
		r.idB = addrIDBody(cfg.IDAddr, 0, 0)
	}
	if cfg.Cert != nil {
		r.method, _ = cfg.Cert.method()
	}
	r.e = engine{rand: cfg.Rand, esp: cfg.ESP, pfs: cfg.PFS, saLife: defaultSALifetime,
		retxBase: cfg.RetransmitBase, maxRetx: cfg.MaxRetransmits,
		fixedRekey: cfg.RekeyAfter, modes: cfg.ESPModes}
	if r.e.modes == nil {
		r.e.modes = []uint16{EncapTransport, EncapUDPTransport, EncapUDPTransportDraft}
	}
	return r
}

// Handle is HandleFrom with natt=false (the message came to port 500).
func (r *Responder) Handle(now time.Time, msg []byte) []Action { return r.HandleFrom(now, msg, false) }

// HandleFrom processes a message that arrived on the NAT-T port if natt;
// answers go back the same way.
func (r *Responder) HandleFrom(now time.Time, msg []byte, natt bool) []Action {
	return r.e.run(func() error { return r.handle(now, msg, natt) })
}

func (r *Responder) handle(now time.Time, msg []byte, natt bool) error {
	e := &r.e
	var h Header
	if err := h.UnmarshalBinary(msg); err != nil {
		return dropErr("ISAKMP", err)
	}
	msg = msg[:h.Length]
	if r.lastIn != nil && bytes.Equal(msg, r.lastIn) && r.lastOut != nil {
		e.natt = natt
		e.send(r.lastOut, natt) // the initiator missed our answer
		return nil
	}
	if r.st != rIdle && (h.ICookie != e.k.ckyI || h.RCookie != e.k.ckyR) {
		return errNotOurs
	}
	e.natt = natt
	if r.st == rDone {
		return e.handlePhase2(now, &h, msg, r.st)
	}
	if h.Exchange == ExchangeAggressive && !r.cfg.NoAggressive {
		switch r.st {
		case rIdle:
			return r.onAM1(now, &h, msg)
		case rWaitAM3:
			return r.onAM3(now, &h, msg)
		}
	}
	if h.Exchange != ExchangeMain || r.st == rWaitAM3 {
		return unexpected(h.Exchange, r.st)
	}
	switch r.st {
	case rIdle:
		return r.onMM1(now, &h, msg)
	case rWaitMM3:
		return r.onMM3(now, &h, msg)
	default:
		return r.onMM5(now, &h, msg)
	}
}

func (r *Responder) answer(in, out []byte) {
	r.lastIn = append([]byte(nil), in...)
	r.lastOut = out
	r.e.send(out, r.e.natt)
}

// choose reads the SA and vendor IDs of Main Mode or Aggressive Mode
// message 1 (named what) and picks the first acceptable transform in the
// initiator's order. It returns the payloads of our reply's SA and
// vendor IDs, or nil payloads after refusing with NO-PROPOSAL-CHOSEN.
func (r *Responder) choose(what string, h *Header, ps []Payload) ([]Payload, error) {
	e := &r.e
	sa, saB, err := readSA(what, ps)
	if err != nil {
		return nil, err
	}
	rfc, draft := nattVIDs(ps)
	rfc = rfc && !r.cfg.DraftNATT
	if !rfc && !draft {
		return nil, drop(what, "no NAT-T vendor ID") // as SoftEther does
	}
	chosen, prop, found := r.chooseIKE(sa.Proposals[0].Transforms)
	if !found && r.cfg.SilentRefusal {
		return nil, drop(what, "no acceptable proposal")
	}
	if !found && r.cfg.CookieRefusal {
		cky, err := e.randBytes(8)
		if err != nil {
			return nil, err
		}
		n := Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPI: append(h.ICookie[:], make([]byte, 8)...), Type: NotifyNoProposalChosen}
		hdr := Header{Version: Version, Exchange: ExchangeInformational, MessageID: 1}
		copy(hdr.ICookie[:], cky)
		e.send(plainMessage(hdr, []Payload{{Type: PayloadNotify, Body: n.append(nil)}}), e.natt)
		return nil, nil
	}
	if !found {
		n := Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, Type: NotifyNoProposalChosen}
		e.send(plainMessage(Header{ICookie: h.ICookie, Version: Version, Exchange: ExchangeInformational},
			[]Payload{{Type: PayloadNotify, Body: n.append(nil)}}), e.natt)
		return nil, nil
	}
	cky, err := e.randBytes(8)
	if err != nil {
		return nil, err
	}
	e.k.ckyI = h.ICookie
	copy(e.k.ckyR[:], cky)
	e.k.prop, e.k.rfcNATT = prop, rfc
	e.k.peerDPD = containsVID(ps, VIDDPD)
	r.saiB = append([]byte(nil), saB...)
	chosen.Num = 1 // SoftEther always numbers the chosen transform 1
	reply := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{{Num: 1, Protocol: ProtoISAKMP, Transforms: []Transform{chosen}}}}
	vid := VIDDraft02NL
	if rfc {
		vid = VIDRFC3947
	}
	_, r.peerCR = findPayload(ps, PayloadCR)
	return []Payload{{Type: PayloadSA, Body: reply.append(nil)}, {Type: PayloadVendorID, Body: vid}, {Type: PayloadVendorID, Body: VIDDPD}}, nil
}

// chooseIKE picks the phase-1 transform to accept (with our
// authentication method), in the initiator's order or, with ServerOrder,
// in ours.
func (r *Responder) chooseIKE(offered []Transform) (Transform, suite.IKEProposal, bool) {
	type cand struct {
		t Transform
		p suite.IKEProposal
	}
	var ok []cand
	for _, t := range offered {
		if p, good := ikeFromAttrs(t.Attrs); good && authOf(t.Attrs) == r.method && slices.Contains(r.cfg.Proposals, p) {
			ok = append(ok, cand{t, p})
		}
	}
	if len(ok) == 0 {
		return Transform{}, suite.IKEProposal{}, false
	}
	best := ok[0]
	if r.cfg.ServerOrder {
		for _, c := range ok {
			if slices.Index(r.cfg.Proposals, c.p) < slices.Index(r.cfg.Proposals, best.p) {
				best = c
			}
		}
	}
	return best.t, best.p, true
}

func (r *Responder) onMM1(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 1"
	if h.RCookie != ([8]byte{}) {
		return drop(what, "responder cookie set")
	}
	ps, err := plainPayloads(what, h, msg)
	if err != nil {
		return err
	}
	reply, err := r.choose(what, h, ps)
	if reply == nil {
		return err
	}
	r.st = rWaitMM3
	r.answer(msg, r.e.k.plain(ExchangeMain, reply))
	return nil
}

// onAM1 takes HDR, SA, KE, Ni, IDii [, CR] and answers AM2: HDR, SA, KE,
// Nr, IDir, [CERT,] HASH_R or SIG_R, VIDs, NAT-D, NAT-D. Ref: RFC 2409
// §5.4, §5.1; RFC 3947 §3.2.
func (r *Responder) onAM1(now time.Time, h *Header, msg []byte) error {
	const what = "Aggressive Mode 1"
	e := &r.e
	if h.RCookie != ([8]byte{}) {
		return drop(what, "responder cookie set")
	}
	ps, err := plainPayloads(what, h, msg)
	if err != nil {
		return err
	}
	idp, ok := findPayload(ps, PayloadID)
	if !ok {
		return drop(what, "no ID payload")
	}
	kx, err := readKeyExchange(ps)
	if err != nil {
		return dropErr(what, err)
	}
	reply, err := r.choose(what, h, ps)
	if reply == nil {
		return err
	}
	natd, err := r.keyExchange(what, kx, true)
	if err != nil {
		return err
	}
	hf := e.k.prop.Hash
	ck := e.k.cookies()
	hr := hashR(hashPRF(r.method, hf), e.k.skeyid, r.gxi, r.gxr, ck[:8], ck[8:], r.saiB, r.idB)
	auth, err := r.authPayloads(hr)
	if err != nil {
		return err
	}
	am2 := append([]Payload{reply[0], {Type: PayloadKE, Body: r.gxr}, {Type: PayloadNonce, Body: r.nr}, {Type: PayloadID, Body: r.idB}}, auth...)
	am2 = append(am2, reply[1:]...)
	am2 = append(am2, natd...)
	r.idiB = append([]byte(nil), idp.Body...)
	r.st = rWaitAM3
	r.answer(msg, e.k.plain(ExchangeAggressive, am2))
	return nil
}

// onAM3 takes HDR*, [CERT,] HASH_I or SIG_I, NAT-D, NAT-D (encrypted, or
// in plaintext as some initiators send it); phase 1 is then up.
func (r *Responder) onAM3(now time.Time, h *Header, msg []byte) error {
	const what = "Aggressive Mode 3"
	e := &r.e
	ps, last := []Payload(nil), e.k.lastP1
	if h.Flags&FlagEncryption != 0 {
		d, err := e.decrypt(what, h, msg, e.k.lastP1)
		if err != nil {
			return err
		}
		ps, last = d.ps, d.last
	} else {
		var err error
		if ps, err = plainPayloads(what, h, msg); err != nil {
			return err
		}
	}
	if err := r.checkInitiator(now, what, ps, r.idiB); err != nil {
		r.mm5Rejections++
		return err
	}
	e.k.lastP1 = last
	r.lastIn, r.lastOut = nil, nil
	return r.up(now, r.idiB)
}

// keyExchange does the Diffie-Hellman half of Main Mode message 3 or
// Aggressive Mode message 1 (named what): our key, nonce and phase-1 keys,
// and the NAT-D payloads of our answer (none if the initiator sent none).
func (r *Responder) keyExchange(what string, kx keyExchange, aggressive bool) ([]Payload, error) {
	e := &r.e
	grp := e.k.prop.Group.Group()
	priv, pub, err := dh.generate(grp, e.rand)
	if err != nil {
		return nil, err
	}
	gxy, err := dh.shared(grp, priv, fullWidth(kx.ke, grp.Size))
	if err != nil {
		return nil, dropErr(what, err)
	}
	hf := e.k.prop.Hash
	ck := e.k.cookies()
	natd := kx.natd
	if len(natd) >= 2 && r.cfg.Remote.IsValid() {
		peer := natdHash(hf, ck[:8], ck[8:], r.cfg.Remote)
		r.natFound = true
		for _, d := range natd[1:] {
			if bytes.Equal(d, peer) {
				r.natFound = false
			}
		}
	} else if len(natd) >= 2 {
		r.natFound = true
	}
	r.priv, r.gxi, r.gxr = priv, append([]byte(nil), kx.ke...), pub
	r.ni = append([]byte(nil), kx.nonce...)
	if r.nr, err = e.randBytes(nonceLen); err != nil {
		return nil, err
	}
	var first []byte
	if r.cfg.ForceNAT || !r.cfg.Remote.IsValid() {
		if first, err = e.randBytes(hf.Size()); err != nil {
			return nil, err
		}
	} else {
		first = natdHash(hf, ck[:8], ck[8:], r.cfg.Remote)
	}
	var psk []byte
	if r.cfg.Cert == nil {
		psk = r.cfg.PSK
	}
	if err := e.deriveKeys(e.skeyid(psk, r.ni, r.nr, gxy), gxy, r.gxi, r.gxr); err != nil {
		return nil, err
	}
	// Aggressive Mode always carries NAT-D in message 2 (RFC 3947 §3.2);
	// Main Mode message 4 only when message 3 did.
	if len(natd) == 0 && !aggressive {
		return nil, nil
	}
	return []Payload{{Type: e.k.natdType(), Body: first},
		{Type: e.k.natdType(), Body: natdHash(hf, ck[:8], ck[8:], r.cfg.Local)}}, nil
}

// authPayloads are what proves our identity after IDir: HASH_R with a
// pre-shared key; [our certificates and] SIG_R with signatures.
func (r *Responder) authPayloads(hr []byte) ([]Payload, error) {
	c := r.cfg.Cert
	if c == nil {
		return []Payload{{Type: PayloadHash, Body: hr}}, nil
	}
	sig, err := c.sign(r.e.rand, hr)
	if err != nil {
		return nil, fmt.Errorf("isakmp: signing: %w", err)
	}
	var ps []Payload
	if r.peerCR || !r.cfg.CertOnRequest {
		ps = c.certPayloads()
	}
	return append(ps, Payload{Type: PayloadSig, Body: sig}), nil
}

// checkInitiator verifies HASH_I, or the initiator's certificate and
// SIG_I, in ps; idiB is the initiator's ID payload body.
func (r *Responder) checkInitiator(now time.Time, what string, ps []Payload, idiB []byte) error {
	e := &r.e
	ck := e.k.cookies()
	want := hashI(hashPRF(r.method, e.k.prop.Hash), e.k.skeyid, r.gxi, r.gxr, ck[:8], ck[8:], r.saiB, idiB)
	if r.cfg.Cert == nil {
		hp, ok := findPayload(ps, PayloadHash)
		switch {
		case !ok:
			return drop(what, "no HASH payload")
		case !hmac.Equal(hp.Body, want):
			return drop(what, "HASH_I mismatch")
		}
		return nil
	}
	sp, ok := findPayload(ps, PayloadSig)
	if !ok {
		return drop(what, "no SIG payload")
	}
	var id ID
	if err := id.UnmarshalBinary(idiB); err != nil {
		return dropErr(what, err)
	}
	crt, err := r.cfg.Cert.verifyPeer(now, peerCerts(ps), &id)
	if err != nil {
		return drop(what, detail(err))
	}
	if !verifySig(crt.PublicKey, want, sp.Body) {
		return drop(what, "SIG_I does not verify")
	}
	return nil
}

func (r *Responder) onMM3(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 3"
	e := &r.e
	ps, err := plainPayloads(what, h, msg)
	if err != nil {
		return err
	}
	kx, err := readKeyExchange(ps)
	if err != nil {
		return dropErr(what, err)
	}
	natd, err := r.keyExchange(what, kx, false)
	if err != nil {
		return err
	}
	if _, ok := findPayload(ps, PayloadCR); ok {
		r.peerCR = true
	}
	mm4 := []Payload{{Type: PayloadKE, Body: r.gxr}, {Type: PayloadNonce, Body: r.nr}}
	if r.cfg.Cert != nil {
		mm4 = append(mm4, r.cfg.Cert.crPayloads()...)
	}
	r.st = rWaitMM5
	r.answer(msg, e.k.plain(ExchangeMain, append(mm4, natd...)))
	return nil
}

func (r *Responder) onMM5(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 5"
	e := &r.e
	if h.Flags&FlagEncryption == 0 {
		return drop(what, "not encrypted")
	}
	hf := e.k.prop.Hash
	ck := e.k.cookies()
	d, err := e.decrypt(what, h, msg, e.k.lastP1)
	var idp Payload
	if err == nil {
		var ok bool
		if idp, ok = findPayload(d.ps, PayloadID); !ok {
			err = drop(what, "no ID payload")
		} else {
			err = r.checkInitiator(now, what, d.ps, idp.Body)
		}
	}
	if err != nil {
		// With a wrong PSK the message does not decrypt to payloads, or
		// HASH_I differs: either way the peer gets OnBadPSK's answer.
		r.mm5Rejections++
		switch r.cfg.OnBadPSK {
		case BadPSKResendMM4:
			e.send(r.lastOut, e.natt)
		case BadPSKNotify:
			n := Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, Type: NotifyAuthenticationFailed}
			e.send(e.k.plain(ExchangeInformational, []Payload{{Type: PayloadNotify, Body: n.append(nil)}}), e.natt)
		}
		return err
	}
	e.k.lastP1 = d.last
	hr := hashR(hashPRF(r.method, hf), e.k.skeyid, r.gxi, r.gxr, ck[:8], ck[8:], r.saiB, r.idB)
	auth, err := r.authPayloads(hr)
	if err != nil {
		return err
	}
	out, last := e.encrypt(ExchangeMain, 0, append([]Payload{{Type: PayloadID, Body: r.idB}}, auth...), e.k.lastP1)
	e.k.lastP1 = last
	r.answer(msg, out)
	return r.up(now, idp.Body)
}

// up completes phase 1 with the initiator identified by its ID payload
// body idiB.
func (r *Responder) up(now time.Time, idiB []byte) error {
	e := &r.e
	var peer ID
	pid := ""
	if peer.UnmarshalBinary(idiB) == nil {
		pid = peer.String()
	}
	x := ExchangeMain
	if r.st == rWaitAM3 {
		x = ExchangeAggressive
	}
	r.st = rDone
	e.up = true
	r.priv = nil
	e.out = append(e.out, Phase1Up{Proposal: e.k.prop, PeerID: pid, NATDetected: r.natFound, Exchange: x, Auth: r.method})
	if r.cfg.SendDPD && e.k.peerDPD {
		r.dpdNext = now.Add(dpdInterval)
	}
	return nil
}

// Tick runs timers (own Quick Modes, re-key, DPD).
func (r *Responder) Tick(now time.Time) []Action {
	return r.e.run(func() error { return r.tick(now) })
}

func (r *Responder) tick(now time.Time) error {
	e := &r.e
	if !r.dpdNext.IsZero() && !now.Before(r.dpdNext) && r.st == rDone {
		e.dpdSeq++
		r.dpdNext = now.Add(dpdInterval)
		if err := e.sendDPD(NotifyRUThere, e.dpdSeq); err != nil {
			return err
		}
	}
	return e.tick(now)
}

// Deadline is the next time Tick must run; zero means none.
func (r *Responder) Deadline() time.Time {
	if r.e.done != nil {
		return time.Time{}
	}
	return minTime(r.e.deadline(), r.dpdNext)
}

// Close sends Deletes for the IPsec SAs and the IKE SA.
func (r *Responder) Close(now time.Time) []Action { return r.e.close() }

// Rekey starts a Quick Mode as responder-side initiator now.
func (r *Responder) Rekey(now time.Time) []Action {
	if r.st != rDone || r.e.qmPending() || r.e.ids == nil {
		return nil
	}
	return r.e.run(func() error { return r.e.startQM(now) })
}

// DPDAcks counts R-U-THERE-ACKs received (tests).
func (r *Responder) DPDAcks() int { return r.e.dpdAcks }

// MM5Rejections counts MM5s whose HASH_I did not verify (tests).
func (r *Responder) MM5Rejections() int { return r.mm5Rejections }
