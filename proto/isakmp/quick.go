package isakmp

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// qmState: Quick Mode exchange progress.
//
//	initiator: qmWaitReply --QM2/send QM3--> qmDone
//	responder: (QM1/send QM2) qmWaitHash3 --QM3--> qmDone
type qmState uint8

const (
	qmWaitReply qmState = iota
	qmWaitHash3
	qmDone
)

type qmEx struct {
	mid       uint32
	initiator bool
	state     qmState
	iv        []byte
	ni, nr    []byte
	spiIn     uint32
	spiOut    uint32
	tr        suite.ESPTransform
	encap     uint16
	life      time.Duration
	priv      []byte // PFS: our private key; nil without PFS
	gxy       []byte // PFS: the Quick Mode shared secret g(qm)^xy; nil without PFS
	lastIn    []byte // last message processed (duplicate detection)
	lastOut   []byte // our answer to lastIn, resent on duplicates
	retx      retx
	since     time.Time
}

type liveSA struct {
	sa       ChildSA
	up       time.Time
	retireAt time.Time // zero: current
	hardEnd  time.Time
}

func (e *engine) findQM(mid uint32) *qmEx {
	for _, q := range e.qms {
		if q.mid == mid {
			return q
		}
	}
	return nil
}

func (e *engine) qmPending() bool {
	for _, q := range e.qms {
		if q.initiator && q.state == qmWaitReply {
			return true
		}
	}
	return false
}

// qmOffer lists the transforms, encapsulation modes (one proposal each, in
// order) and lifetime we propose: a responder's re-key offers what is in
// use; the client transport mode (in UDP unless ESP is plain), then, with
// offerTunnel, tunnel mode.
func (e *engine) qmOffer() ([]suite.ESPTransform, []uint16, time.Duration) {
	if !e.client && len(e.sas) > 0 {
		cur := e.sas[len(e.sas)-1].sa
		return []suite.ESPTransform{cur.Transform}, []uint16{cur.EncapMode}, cur.Lifetime
	}
	transport, tunnel := e.k.encapMode(), e.k.tunnelEncapMode()
	if e.plain {
		transport, tunnel = EncapTransport, EncapTunnel
	}
	if e.offerTunnel {
		return e.esp, []uint16{transport, tunnel}, e.saLife
	}
	return e.esp, []uint16{transport}, e.saLife
}

// acceptModes are the encapsulation modes a Quick Mode we answer may use:
// the client's own offer (a server's re-key), a responder's configuration.
func (e *engine) acceptModes() []uint16 {
	if e.client {
		_, modes, _ := e.qmOffer()
		return modes
	}
	return e.modes
}

// espAttrs are the attributes of one ESP transform: no Authentication
// Algorithm for AES-GCM (RFC 4106 §8.1), no Key-Length for (3)DES, the
// Group Description when PFS is used (RFC 2407 §4.5).
func espAttrs(t suite.ESPTransform, encap uint16, life time.Duration, pfs suite.GroupID) []Attr {
	as := []Attr{
		tvAttr(AttrSALifeType, LifeTypeSeconds),
		lifeAttr(AttrSALifeDuration, uint32(life/time.Second)),
		tvAttr(AttrEncapMode, encap),
	}
	if !t.AEAD() {
		as = append(as, tvAttr(AttrAuthAlg, t.Auth))
	}
	if t.SendKeyLength() {
		as = append(as, tvAttr(AttrSAKeyLength, uint16(t.KeyBits)))
	}
	if pfs != 0 {
		as = append(as, tvAttr(AttrSAGroup, uint16(pfs)))
	}
	return as
}

// pfsKey draws our Quick Mode Diffie-Hellman key when PFS is on: the
// private key and the KE payload's body; nil, nil without PFS.
func (e *engine) pfsKey() (priv, pub []byte, err error) {
	if e.pfs == 0 {
		return nil, nil, nil
	}
	return dh.generate(e.pfs.Group(), e.rand)
}

// startQM sends Quick Mode message 1:
// HDR*, HASH(1), SA, Ni, IDci, IDcr, NAT-OAi, NAT-OAr. Ref: RFC 2409 §5.5, RFC 3947 §5.
func (e *engine) startQM(now time.Time) error {
	if !e.up {
		return nil
	}
	mid, err := e.newMID()
	if err != nil {
		return err
	}
	spi, err := e.newSPI()
	if err != nil {
		return err
	}
	ni, err := e.randBytes(nonceLen)
	if err != nil {
		return err
	}
	priv, ke, err := e.pfsKey()
	if err != nil {
		return err
	}
	trs, modes, life := e.qmOffer()
	// One proposal per mode, all under our one SPI: different proposal
	// numbers are alternatives (RFC 2408 §4.2).
	sa := SA{DOI: DOIIPsec, Situation: SitIdentityOnly}
	for pi, mode := range modes {
		prop := Proposal{Num: uint8(pi + 1), Protocol: ProtoIPsecESP, SPI: wire.AppendUint32(nil, spi)}
		for i, t := range trs {
			prop.Transforms = append(prop.Transforms, Transform{Num: uint8(i + 1), ID: t.Enc, Attrs: espAttrs(t, mode, life, e.pfs)})
		}
		sa.Proposals = append(sa.Proposals, prop)
	}
	// The Initiator's transforms are checked by NewInitiator; a Responder's
	// come from its configuration, unchecked.
	saB, err := sa.AppendBinary(nil)
	if err != nil {
		return err
	}
	rest := []Payload{{Type: PayloadSA, Body: saB}, {Type: PayloadNonce, Body: ni}}
	if ke != nil {
		rest = append(rest, Payload{Type: PayloadKE, Body: ke}) // RFC 2409 §5.5: after Ni, before the IDs
	}
	rest = append(rest, e.ids...)
	rest = append(rest, e.natoa...)
	ps := e.hashed(rest, midBytes(mid))
	msg, last := e.encrypt(ExchangeQuick, mid, ps, phase2IV(e.k.prop.Hash, e.k.lastP1, mid, e.k.block))
	q := &qmEx{mid: mid, initiator: true, state: qmWaitReply, iv: last, ni: ni, spiIn: spi, priv: priv, lastOut: msg, since: now}
	q.retx.arm(now, e.retxBase, msg, e.natt, "Quick Mode message 1")
	e.qms = append(e.qms, q)
	e.send(msg, e.natt)
	return nil
}

// handleQuick takes a Quick Mode message once phase 1 is up: a new
// exchange's message 1, or the next message of one in progress.
func (e *engine) handleQuick(now time.Time, h *Header, msg []byte) error {
	if h.MessageID == 0 {
		return drop("Quick Mode", "message ID 0")
	}
	q := e.findQM(h.MessageID)
	if q == nil {
		return e.qmRespond(now, h, msg)
	}
	// What the peer sends in an exchange we know: message 2 if we started
	// it, else message 3 (or a repeated message 1).
	what := "Quick Mode 3"
	if q.initiator {
		what = "Quick Mode 2"
	}
	if q.lastIn != nil && bytes.Equal(q.lastIn, msg) {
		if q.lastOut == nil {
			return drop(what, "duplicate")
		}
		e.send(q.lastOut, e.natt) // the peer missed our answer
		return nil
	}
	switch {
	case q.initiator && q.state == qmWaitReply:
		return e.qmInitiatorReply(now, q, h, msg)
	case !q.initiator && q.state == qmWaitHash3:
		return e.qmResponderFinish(now, q, h, msg)
	}
	return drop(what, "unexpected in state "+q.state.String())
}

// matchESP maps a transform to our registry if acceptable to us, in one of
// the encapsulation modes.
func (e *engine) matchESP(t Transform, acceptable []suite.ESPTransform, modes []uint16) (suite.ESPTransform, uint16, time.Duration, bool) {
	keyBits, _ := findAttr(t.Attrs, AttrSAKeyLength)
	auth, _ := findAttr(t.Attrs, AttrAuthAlg)
	encap, _ := findAttr(t.Attrs, AttrEncapMode)
	// PFS: the transform's group must be ours, and absent without PFS.
	if g, _ := findAttr(t.Attrs, AttrSAGroup); suite.GroupID(g) != e.pfs {
		return suite.ESPTransform{}, 0, 0, false
	}
	if keyBits == 0 {
		keyBits = uint32(suite.ESPFixedKeyBits(t.ID))
	}
	cand := suite.ESPTransform{Enc: t.ID, KeyBits: int(keyBits), Auth: uint16(auth)}
	if !slices.Contains(modes, uint16(encap)) {
		return suite.ESPTransform{}, 0, 0, false
	}
	life := e.saLife
	if lt, ok := findAttr(t.Attrs, AttrSALifeType); ok && uint16(lt) == LifeTypeSeconds {
		if d, ok := findAttr(t.Attrs, AttrSALifeDuration); ok && d > 0 {
			life = time.Duration(d) * time.Second
		}
	}
	for _, a := range acceptable {
		if a == cand && a.Supported() {
			return cand, uint16(encap), life, true
		}
	}
	return suite.ESPTransform{}, 0, 0, false
}

// chooseESP is the first transform of an ESP proposal with a 4-byte SPI
// that accept takes.
func chooseESP(props []Proposal, accept func(Transform) bool) (Proposal, Transform, bool) {
	for _, p := range props {
		if p.Protocol != ProtoIPsecESP || len(p.SPI) != 4 {
			continue
		}
		for _, t := range p.Transforms {
			if accept(t) {
				return p, t, true
			}
		}
	}
	return Proposal{}, Transform{}, false
}

// qmPayloads is what Quick Mode messages 1 and 2 carry after their HASH:
// SA, Nonce, [KE], [IDci, IDcr], [NAT-OAi, NAT-OAr]. Ref: RFC 2409 §5.5,
// RFC 3947 §5.2.
type qmPayloads struct {
	sa    SA
	nonce []byte
	ke    []byte    // PFS; nil if absent
	ids   []Payload // none or two (copies)
	natoa []Payload // either NAT-OA type (copies)
}

// readQM reads the payloads after HASH(1) or HASH(2), the same rules for
// both roles: one SA that parses, a nonce of 8 to 256 bytes, none or two
// IDs, a KE only when we use PFS; other payloads are ignored.
func (e *engine) readQM(ps []Payload) (qmPayloads, error) {
	var q qmPayloads
	haveSA := false
	for _, p := range ps {
		switch p.Type {
		case PayloadSA:
			if err := q.sa.UnmarshalBinary(p.Body); err != nil {
				return q, err
			}
			haveSA = true
		case PayloadNonce:
			q.nonce = p.Body
		case PayloadID:
			q.ids = append(q.ids, Payload{Type: PayloadID, Body: append([]byte(nil), p.Body...)})
		case PayloadNATOA, PayloadNATOADraft:
			q.natoa = append(q.natoa, Payload{Type: p.Type, Body: append([]byte(nil), p.Body...)})
		case PayloadKE:
			q.ke = p.Body
		}
	}
	if !haveSA {
		return q, malformed("no SA payload")
	}
	if err := checkNonce(q.nonce); err != nil {
		return q, err
	}
	if len(q.ids) != 0 && len(q.ids) != 2 {
		return q, malformed("%d ID payloads", len(q.ids))
	}
	if q.ke != nil && e.pfs == 0 {
		return q, malformed("KE payload, but PFS is not configured")
	}
	return q, nil
}

// pfsSecret computes g(qm)^xy from our private key and the peer's KE (RFC
// 2409 §5.5); nil without PFS.
func (e *engine) pfsSecret(priv, peerKE []byte) ([]byte, error) {
	if e.pfs == 0 {
		return nil, nil
	}
	if peerKE == nil {
		return nil, malformed("no KE payload, but PFS (%v) is configured", e.pfs)
	}
	g := e.pfs.Group()
	return dh.shared(g, priv, fullWidth(peerKE, g.Size))
}

// qmInitiatorReply handles QM2 (HDR*, HASH(2), SA, Nr, [IDci, IDcr], [NAT-OA])
// and sends QM3 (HDR*, HASH(3)).
func (e *engine) qmInitiatorReply(now time.Time, q *qmEx, h *Header, msg []byte) error {
	const what = "Quick Mode 2"
	d, err := e.decryptHashed(what, h, msg, q.iv, midBytes(q.mid), q.ni)
	if err != nil {
		return err
	}
	if ne := notifyFailure(d.ps[1:]); ne != nil {
		return ne
	}
	qp, err := e.readQM(d.ps[1:])
	if err != nil {
		return dropErr(what, err)
	}
	if len(qp.sa.Proposals) == 0 {
		return drop(what, "SA without a proposal")
	}
	p := qp.sa.Proposals[0]
	if p.Protocol != ProtoIPsecESP || len(p.SPI) != 4 || len(p.Transforms) == 0 {
		return fmt.Errorf("%w: Quick Mode answer without one ESP proposal", ErrBadProposal)
	}
	offered, modes, _ := e.qmOffer()
	tr, encap, life, ok := e.matchESP(p.Transforms[0], offered, modes)
	if !ok {
		return fmt.Errorf("%w: ESP transform %d %v", ErrBadProposal, p.Transforms[0].ID, p.Transforms[0].Attrs)
	}
	if q.gxy, err = e.pfsSecret(q.priv, qp.ke); err != nil {
		return fmt.Errorf("%w: Quick Mode answer: %w", ErrBadProposal, err)
	}
	q.priv = nil
	q.nr = append([]byte(nil), qp.nonce...)
	q.spiOut = binary.BigEndian.Uint32(p.SPI)
	q.tr, q.encap, q.life = tr, encap, life
	q.iv = d.last
	h3 := e.k.prop.Hash.PRF(e.k.skeyidA, []byte{0}, midBytes(q.mid), q.ni, q.nr)
	out, last := e.encrypt(ExchangeQuick, q.mid, []Payload{{Type: PayloadHash, Body: h3}}, q.iv)
	q.iv = last
	q.state = qmDone
	q.lastIn, q.lastOut = append([]byte(nil), msg...), out
	q.retx = retx{}
	q.since = now
	e.send(out, e.natt)
	return e.childUp(now, q)
}

// qmRespond answers a peer-initiated QM1 with QM2.
func (e *engine) qmRespond(now time.Time, h *Header, msg []byte) error {
	const what = "Quick Mode 1"
	iv := phase2IV(e.k.prop.Hash, e.k.lastP1, h.MessageID, e.k.block)
	d, err := e.decryptHashed(what, h, msg, iv, midBytes(h.MessageID))
	if err != nil {
		return err
	}
	qp, err := e.readQM(d.ps[1:])
	if err != nil {
		return dropErr(what, err) // with a KE without PFS too: no answer, the peer will give up
	}
	ni, ids, natoa := qp.nonce, qp.ids, qp.natoa
	chosenProp, chosenTr, found := chooseESP(qp.sa.Proposals, func(t Transform) bool {
		_, _, _, ok := e.matchESP(t, e.esp, e.acceptModes())
		return ok
	})
	if !found {
		return e.sendNotify(Notify{DOI: DOIIPsec, Protocol: ProtoIPsecESP, Type: NotifyNoProposalChosen})
	}
	tr, encap, life, _ := e.matchESP(chosenTr, e.esp, e.acceptModes())
	spiIn, err := e.newSPI()
	if err != nil {
		return err
	}
	nr, err := e.randBytes(nonceLen)
	if err != nil {
		return err
	}
	priv, ke, err := e.pfsKey()
	if err != nil {
		return err
	}
	gxy, err := e.pfsSecret(priv, qp.ke)
	if err != nil {
		// PFS demanded but no usable KE: refuse, as for no acceptable transform.
		return e.sendNotify(Notify{DOI: DOIIPsec, Protocol: ProtoIPsecESP, Type: NotifyNoProposalChosen})
	}
	reply := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{{
		Num: chosenProp.Num, Protocol: ProtoIPsecESP, SPI: wire.AppendUint32(nil, spiIn), Transforms: []Transform{chosenTr},
	}}}
	out := []Payload{{Type: PayloadSA, Body: reply.append(nil)}, {Type: PayloadNonce, Body: nr}}
	if ke != nil {
		out = append(out, Payload{Type: PayloadKE, Body: ke})
	}
	out = append(out, ids...)
	out = append(out, natoa...)
	ps := e.hashed(out, midBytes(h.MessageID), ni)
	msg2, last := e.encrypt(ExchangeQuick, h.MessageID, ps, d.last)
	q := &qmEx{mid: h.MessageID, state: qmWaitHash3, iv: last, ni: append([]byte(nil), ni...), nr: nr,
		spiIn: spiIn, spiOut: binary.BigEndian.Uint32(chosenProp.SPI),
		tr: tr, encap: encap, life: life, gxy: gxy, lastIn: append([]byte(nil), msg...), lastOut: msg2, since: now}
	// IKEv1 has no answer to QM3: keep sending QM2 until QM3 arrives
	// (giving up quietly), so a lost QM3 is recovered by the initiator's
	// resend of QM3 on a duplicate QM2.
	q.retx.arm(now, e.retxBase, msg2, e.natt, "Quick Mode message 2")
	e.qms = append(e.qms, q)
	e.out = append(e.out, ChildSAInbound{SA: e.childSA(q)})
	if !e.client && e.ids == nil && len(ids) == 2 {
		// As SoftEther does for its own re-key: the peer's IDs reversed,
		// its NAT-OA payloads as they were.
		e.ids = []Payload{ids[1], ids[0]}
		e.natoa = natoa
	}
	e.send(msg2, e.natt)
	return nil
}

// qmResponderFinish handles QM3 (HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)).
func (e *engine) qmResponderFinish(now time.Time, q *qmEx, h *Header, msg []byte) error {
	const what = "Quick Mode 3"
	d, err := e.decrypt(what, h, msg, q.iv)
	if err != nil {
		return err
	}
	if len(d.ps) == 0 || d.ps[0].Type != PayloadHash {
		return drop(what, "no HASH payload first")
	}
	want := e.k.prop.Hash.PRF(e.k.skeyidA, []byte{0}, midBytes(q.mid), q.ni, q.nr)
	if !hmac.Equal(want, d.ps[0].Body) {
		return drop(what, "HASH mismatch")
	}
	q.iv = d.last
	q.state = qmDone
	q.lastIn, q.lastOut = append([]byte(nil), msg...), nil
	q.retx = retx{}
	q.since = now
	return e.childUp(now, q)
}

// childSA derives the keys of an exchange whose nonces and SPIs are known.
// Ref: RFC 2409 §5.5.
func (e *engine) childSA(q *qmEx) ChildSA {
	ek := q.tr.EncKeyLen()
	n := q.tr.KeyMatLen()
	in := keymat(e.k.prop.Hash, e.k.skeyidD, q.gxy, ProtoIPsecESP, q.spiIn, q.ni, q.nr, n)
	out := keymat(e.k.prop.Hash, e.k.skeyidD, q.gxy, ProtoIPsecESP, q.spiOut, q.ni, q.nr, n)
	return ChildSA{InSPI: q.spiIn, OutSPI: q.spiOut, Transform: q.tr,
		InEncKey: in[:ek], InAuthKey: in[ek:], OutEncKey: out[:ek], OutAuthKey: out[ek:],
		Lifetime: q.life, EncapMode: q.encap}
}

// childUp derives the keys of a finished exchange and installs the SA pair.
func (e *engine) childUp(now time.Time, q *qmEx) error {
	sa := e.childSA(q)
	rekey := e.nChild > 0
	e.nChild++
	for _, old := range e.sas {
		if old.retireAt.IsZero() {
			old.retireAt = now.Add(RekeyGrace)
			if old.hardEnd.Before(old.retireAt) {
				old.retireAt = old.hardEnd
			}
		}
	}
	e.sas = append(e.sas, &liveSA{sa: sa, up: now, hardEnd: now.Add(q.life)})
	e.out = append(e.out, ChildSAUp{SA: sa, Rekey: rekey})
	return e.scheduleRekey(now, q.life)
}

// removeSA drops e.sas[i] with ChildSAGone, optionally sending our Delete.
// Losing the newest SA makes the client negotiate a new one at once.
func (e *engine) removeSA(now time.Time, i int, sendDelete bool) error {
	l := e.sas[i]
	newest := i == len(e.sas)-1
	e.sas = append(e.sas[:i], e.sas[i+1:]...)
	e.out = append(e.out, ChildSAGone{InSPI: l.sa.InSPI, OutSPI: l.sa.OutSPI})
	if sendDelete {
		if err := e.deleteESP(l.sa.InSPI); err != nil {
			return err
		}
	}
	if newest && e.client && !sendDelete && now.Sub(l.up) < sadeleteWindow {
		// The server deleted the SA it had just agreed to (strongSwan does
		// when its kernel cannot install it): a new Quick Mode at once
		// would only loop.
		return ErrSADeleted
	}
	if newest && e.client && !e.qmPending() {
		e.rekeyAt = time.Time{}
		return e.startQM(now)
	}
	return nil
}
