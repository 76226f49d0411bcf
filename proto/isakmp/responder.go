package isakmp

import (
	"bytes"
	"crypto/hmac"
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
}

// rState is the Responder's Main Mode progress.
//
//	rIdle --MM1/MM2--> rWaitMM3 --MM3/MM4--> rWaitMM5 --MM5 ok/MM6, Phase1Up--> rDone
type rState uint8

const (
	rIdle rState = iota
	rWaitMM3
	rWaitMM5
	rDone
)

// Responder is the server side of Main Mode and Quick Mode, modelled on
// SoftEther and Libreswan for tests.
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
	r := &Responder{cfg: cfg}
	r.e = engine{rand: cfg.Rand, esp: cfg.ESP, pfs: cfg.PFS, saLife: defaultSALifetime,
		retxBase: cfg.RetransmitBase, maxRetx: cfg.MaxRetransmits,
		fixedRekey: cfg.RekeyAfter}
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
	if h.Exchange != ExchangeMain {
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

func (r *Responder) onMM1(now time.Time, h *Header, msg []byte) error {
	const what = "Main Mode 1"
	e := &r.e
	if h.RCookie != ([8]byte{}) {
		return drop(what, "responder cookie set")
	}
	ps, err := plainPayloads(what, h, msg)
	if err != nil {
		return err
	}
	sa, saB, err := readSA(what, ps)
	if err != nil {
		return err
	}
	rfc, draft := nattVIDs(ps)
	rfc = rfc && !r.cfg.DraftNATT
	if !rfc && !draft {
		return drop(what, "no NAT-T vendor ID") // as SoftEther does
	}
	chosen, prop, found := r.chooseIKE(sa.Proposals[0].Transforms)
	if !found && r.cfg.SilentRefusal {
		return drop(what, "no acceptable proposal")
	}
	if !found && r.cfg.CookieRefusal {
		cky, err := e.randBytes(8)
		if err != nil {
			return err
		}
		n := Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPI: append(h.ICookie[:], make([]byte, 8)...), Type: NotifyNoProposalChosen}
		hdr := Header{Version: Version, Exchange: ExchangeInformational, MessageID: 1}
		copy(hdr.ICookie[:], cky)
		e.send(plainMessage(hdr, []Payload{{Type: PayloadNotify, Body: n.append(nil)}}), e.natt)
		return nil
	}
	if !found {
		n := Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, Type: NotifyNoProposalChosen}
		e.send(plainMessage(Header{ICookie: h.ICookie, Version: Version, Exchange: ExchangeInformational},
			[]Payload{{Type: PayloadNotify, Body: n.append(nil)}}), e.natt)
		return nil
	}
	cky, err := e.randBytes(8)
	if err != nil {
		return err
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
	r.st = rWaitMM3
	r.answer(msg, e.k.plain(ExchangeMain, []Payload{{Type: PayloadSA, Body: reply.append(nil)}, {Type: PayloadVendorID, Body: vid}, {Type: PayloadVendorID, Body: VIDDPD}}))
	return nil
}

// chooseIKE picks the phase-1 transform to accept, in the initiator's
// order or, with ServerOrder, in ours.
func (r *Responder) chooseIKE(offered []Transform) (Transform, suite.IKEProposal, bool) {
	type cand struct {
		t Transform
		p suite.IKEProposal
	}
	var ok []cand
	for _, t := range offered {
		if p, good := ikeFromAttrs(t.Attrs); good && slices.Contains(r.cfg.Proposals, p) {
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
	grp := e.k.prop.Group.Group()
	priv, pub, err := grp.GenerateKey(e.rand)
	if err != nil {
		return err
	}
	gxy, err := grp.SharedSecret(priv, fullWidth(kx.ke, grp.Size))
	if err != nil {
		return dropErr(what, err)
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
		return err
	}
	var first []byte
	if r.cfg.ForceNAT || !r.cfg.Remote.IsValid() {
		if first, err = e.randBytes(hf.Size()); err != nil {
			return err
		}
	} else {
		first = natdHash(hf, ck[:8], ck[8:], r.cfg.Remote)
	}
	if err := e.deriveKeys(r.cfg.PSK, r.ni, r.nr, gxy, r.gxi, r.gxr); err != nil {
		return err
	}
	mm4 := []Payload{{Type: PayloadKE, Body: r.gxr}, {Type: PayloadNonce, Body: r.nr}}
	if len(natd) > 0 {
		mm4 = append(mm4, Payload{Type: e.k.natdType(), Body: first},
			Payload{Type: e.k.natdType(), Body: natdHash(hf, ck[:8], ck[8:], r.cfg.Local)})
	}
	r.st = rWaitMM5
	r.answer(msg, e.k.plain(ExchangeMain, mm4))
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
	var idp, hp Payload
	if err == nil {
		var ok1, ok2 bool
		idp, ok1 = findPayload(d.ps, PayloadID)
		hp, ok2 = findPayload(d.ps, PayloadHash)
		switch {
		case !ok1 || !ok2:
			err = drop(what, "no ID or no HASH payload")
		case !hmac.Equal(hp.Body, hashI(hf, e.k.skeyid, r.gxi, r.gxr, ck[:8], ck[8:], r.saiB, idp.Body)):
			err = drop(what, "HASH_I mismatch")
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
	idB := addrIDBody(r.cfg.IDAddr, 0, 0)
	hr := hashR(hf, e.k.skeyid, r.gxi, r.gxr, ck[:8], ck[8:], r.saiB, idB)
	out, last := e.encrypt(ExchangeMain, 0, []Payload{{Type: PayloadID, Body: idB}, {Type: PayloadHash, Body: hr}}, e.k.lastP1)
	e.k.lastP1 = last
	var peer ID
	pid := ""
	if peer.UnmarshalBinary(idp.Body) == nil {
		pid = peer.String()
	}
	r.st = rDone
	e.up = true
	r.priv = nil
	r.answer(msg, out)
	e.out = append(e.out, Phase1Up{Proposal: e.k.prop, PeerID: pid, NATDetected: r.natFound})
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
