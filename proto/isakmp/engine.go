package isakmp

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"io"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/internal/wire"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// ikeSA is the phase-1 state both FSMs share once keys exist.
type ikeSA struct {
	ckyI, ckyR [8]byte
	prop       suite.IKEProposal
	skeyid     []byte
	skeyidD    []byte
	skeyidA    []byte
	skeyidE    []byte
	key        []byte
	block      int
	lastP1     []byte // phase-1 CBC chain; after MM6: its last ciphertext block
	rfcNATT    bool   // RFC 3947 (payload types 20/21, encap 4) rather than drafts
	peerDPD    bool
}

func (k *ikeSA) cookies() []byte {
	return append(append([]byte(nil), k.ckyI[:]...), k.ckyR[:]...)
}

func (k *ikeSA) natdType() PayloadType {
	if k.rfcNATT {
		return PayloadNATD
	}
	return PayloadNATDDraft
}

func (k *ikeSA) natoaType() PayloadType {
	if k.rfcNATT {
		return PayloadNATOA
	}
	return PayloadNATOADraft
}

func (k *ikeSA) encapMode() uint16 {
	if k.rfcNATT {
		return EncapUDPTransport
	}
	return EncapUDPTransportDraft
}

// retx is one retransmission schedule: exponential backoff from base,
// each wait capped at maxRetxWait, at most max retransmissions.
type retx struct {
	active bool
	data   []byte
	natt   bool
	next   time.Time
	tries  int
	what   string
}

func (r *retx) arm(now time.Time, base time.Duration, data []byte, natt bool, what string) {
	*r = retx{active: true, data: data, natt: natt, next: now.Add(base), what: what}
}

func retxWait(base time.Duration, tries int) time.Duration {
	w := base
	for i := 0; i < tries && w < maxRetxWait; i++ {
		w *= 2
	}
	if w > maxRetxWait {
		w = maxRetxWait
	}
	return w
}

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

// engine is the post-phase-1 machinery (Quick Mode in both roles,
// Informational, re-key, SA bookkeeping) shared by Initiator and Responder.
type engine struct {
	rand       io.Reader
	client     bool
	esp        []suite.ESPTransform
	saLife     time.Duration
	retxBase   time.Duration
	maxRetx    int
	rekeyAfter func(e *engine, life time.Duration) time.Duration // 0: no re-key

	k      ikeSA
	keyed  bool // phase-1 keys exist (from MM4 on)
	up     bool // phase 1 authenticated
	natt   bool // Send.NATT for our messages
	dead   bool
	closed bool // close has run: Deletes are sent once
	out    []Action
	qms    []*qmEx
	sas    []*liveSA
	nChild int

	rekeyAt   time.Time
	ikeExpire time.Time

	ids   []Payload // ID payloads we send as Quick Mode initiator
	natoa []Payload // NAT-OA payloads we send as Quick Mode initiator

	dpdSeq  uint32
	dpdAcks int
}

func (e *engine) flush() []Action {
	a := e.out
	e.out = nil
	return a
}

func (e *engine) send(data []byte, natt bool) {
	e.out = append(e.out, Send{Data: append([]byte(nil), data...), NATT: natt})
}

func (e *engine) fail(err error) {
	if e.dead {
		return
	}
	e.dead = true
	e.out = append(e.out, Fail{Err: err})
}

func (e *engine) randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.rand, b); err != nil {
		e.fail(fmt.Errorf("isakmp: reading randomness: %w", err))
	}
	return b
}

func (e *engine) randUint32NonZero(min uint32) uint32 {
	for i := 0; i < 16 && !e.dead; i++ {
		b := e.randBytes(4)
		x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		if x >= min && x != 0xffffffff {
			return x
		}
	}
	return min
}

// newMID draws a fresh non-zero message ID not in use.
func (e *engine) newMID() uint32 {
	for {
		m := e.randUint32NonZero(1)
		if e.findQM(m) == nil || e.dead {
			return m
		}
	}
}

// newSPI draws an SPI ≥ 256 (1-255 are reserved, RFC 4303 §2.1).
func (e *engine) newSPI() uint32 { return e.randUint32NonZero(256) }

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

// encrypt builds an encrypted message with the payload chain ps.
func (e *engine) encrypt(exch ExchangeType, mid uint32, ps []Payload, iv []byte) (msg, last []byte) {
	body := appendPayloads(nil, ps)
	ct, err := cbcEncrypt(e.k.key, iv, body)
	if err != nil {
		e.fail(fmt.Errorf("isakmp: encrypting: %w", err))
		return nil, nil
	}
	h := Header{ICookie: e.k.ckyI, RCookie: e.k.ckyR, NextPayload: firstType(ps), Version: Version,
		Exchange: exch, Flags: FlagEncryption, MessageID: mid, Length: uint32(headerLen + len(ct))}
	msg, _ = h.AppendBinary(make([]byte, 0, headerLen+len(ct)))
	msg = append(msg, ct...)
	return msg, lastBlock(ct, len(iv))
}

type decrypted struct {
	ps    []Payload
	raws  [][]byte
	plain []byte
	used  int
	last  []byte
}

// decrypt decrypts msg (header h already parsed, msg cut to h.Length).
func (e *engine) decrypt(h *Header, msg, iv []byte) (*decrypted, error) {
	if h.Flags&FlagEncryption == 0 || !e.keyed {
		return nil, malformed("not encrypted")
	}
	ct := msg[headerLen:]
	plain, err := cbcDecrypt(e.k.key, iv, ct)
	if err != nil {
		return nil, err
	}
	ps, raws, used, err := parsePayloads(h.NextPayload, plain)
	if err != nil {
		return nil, err
	}
	return &decrypted{ps: ps, raws: raws, plain: plain, used: used, last: lastBlock(ct, len(iv))}, nil
}

// afterHash returns the bytes of the chain after a leading HASH payload.
func (d *decrypted) afterHash() ([]byte, bool) {
	if len(d.ps) == 0 || d.ps[0].Type != PayloadHash {
		return nil, false
	}
	return d.plain[len(d.raws[0]):d.used], true
}

// hashed prefixes rest with HASH = prf(SKEYID_a, prefix... | rest).
func (e *engine) hashed(rest []Payload, prefix ...[]byte) []Payload {
	data := append(append([][]byte(nil), prefix...), appendPayloads(nil, rest))
	h := e.k.prop.Hash.PRF(e.k.skeyidA, data...)
	return append([]Payload{{Type: PayloadHash, Body: h}}, rest...)
}

func midBytes(mid uint32) []byte { return wire.AppendUint32(nil, mid) }

// ---- Quick Mode ----------------------------------------------------------

// qmOffer lists the transforms, encapsulation mode and lifetime we propose.
func (e *engine) qmOffer() ([]suite.ESPTransform, uint16, time.Duration) {
	if !e.client && len(e.sas) > 0 {
		cur := e.sas[len(e.sas)-1].sa
		return []suite.ESPTransform{cur.Transform}, cur.EncapMode, cur.Lifetime
	}
	return e.esp, e.k.encapMode(), e.saLife
}

func espAttrs(t suite.ESPTransform, encap uint16, life time.Duration) []Attr {
	return []Attr{
		tvAttr(AttrSALifeType, LifeTypeSeconds),
		lifeAttr(AttrSALifeDuration, uint32(life/time.Second)),
		tvAttr(AttrEncapMode, encap),
		tvAttr(AttrAuthAlg, t.Auth),
		tvAttr(AttrSAKeyLength, uint16(t.KeyBits)),
	}
}

// startQM sends Quick Mode message 1:
// HDR*, HASH(1), SA, Ni, IDci, IDcr, NAT-OAi, NAT-OAr. Ref: RFC 2409 §5.5, RFC 3947 §5.
func (e *engine) startQM(now time.Time) {
	if !e.up || e.dead {
		return
	}
	mid := e.newMID()
	spi := e.newSPI()
	ni := e.randBytes(nonceLen)
	if e.dead {
		return
	}
	trs, encap, life := e.qmOffer()
	prop := Proposal{Num: 1, Protocol: ProtoIPsecESP, SPI: wire.AppendUint32(nil, spi)}
	for i, t := range trs {
		prop.Transforms = append(prop.Transforms, Transform{Num: uint8(i + 1), ID: t.Enc, Attrs: espAttrs(t, encap, life)})
	}
	sa := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{prop}}
	rest := []Payload{{Type: PayloadSA, Body: mustBody(&sa)}, {Type: PayloadNonce, Body: ni}}
	rest = append(rest, e.ids...)
	rest = append(rest, e.natoa...)
	ps := e.hashed(rest, midBytes(mid))
	msg, last := e.encrypt(ExchangeQuick, mid, ps, phase2IV(e.k.prop.Hash, e.k.lastP1, mid, e.k.block))
	if msg == nil {
		return
	}
	q := &qmEx{mid: mid, initiator: true, state: qmWaitReply, iv: last, ni: ni, spiIn: spi, lastOut: msg, since: now}
	q.retx.arm(now, e.retxBase, msg, e.natt, "Quick Mode message 1")
	e.qms = append(e.qms, q)
	e.send(msg, e.natt)
}

func (e *engine) handleQuick(now time.Time, h *Header, msg []byte) {
	if h.MessageID == 0 || h.Flags&FlagEncryption == 0 || !e.up {
		return
	}
	q := e.findQM(h.MessageID)
	if q == nil {
		e.qmRespond(now, h, msg)
		return
	}
	if q.lastIn != nil && bytes.Equal(q.lastIn, msg) {
		if q.lastOut != nil {
			e.send(q.lastOut, e.natt) // the peer missed our answer
		}
		return
	}
	switch {
	case q.initiator && q.state == qmWaitReply:
		e.qmInitiatorReply(now, q, h, msg)
	case !q.initiator && q.state == qmWaitHash3:
		e.qmResponderFinish(now, q, h, msg)
	}
}

// matchESP maps a transform to our registry if acceptable to us.
func (e *engine) matchESP(t Transform, acceptable []suite.ESPTransform) (suite.ESPTransform, uint16, time.Duration, bool) {
	keyBits, _ := findAttr(t.Attrs, AttrSAKeyLength)
	auth, _ := findAttr(t.Attrs, AttrAuthAlg)
	encap, _ := findAttr(t.Attrs, AttrEncapMode)
	if _, pfs := findAttr(t.Attrs, AttrSAGroup); pfs {
		return suite.ESPTransform{}, 0, 0, false
	}
	cand := suite.ESPTransform{Enc: t.ID, KeyBits: int(keyBits), Auth: uint16(auth)}
	if uint16(encap) != EncapUDPTransport && uint16(encap) != EncapUDPTransportDraft {
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

// qmInitiatorReply handles QM2 (HDR*, HASH(2), SA, Nr, [IDci, IDcr], [NAT-OA])
// and sends QM3 (HDR*, HASH(3)).
func (e *engine) qmInitiatorReply(now time.Time, q *qmEx, h *Header, msg []byte) {
	d, err := e.decrypt(h, msg, q.iv)
	if err != nil {
		return
	}
	rest, ok := d.afterHash()
	if !ok {
		return
	}
	want := e.k.prop.Hash.PRF(e.k.skeyidA, midBytes(q.mid), q.ni, rest)
	if !hmac.Equal(want, d.ps[0].Body) {
		return
	}
	var sa SA
	var nr []byte
	haveSA := false
	for _, p := range d.ps[1:] {
		switch p.Type {
		case PayloadSA:
			if sa.UnmarshalBinary(p.Body) == nil {
				haveSA = true
			}
		case PayloadNonce:
			nr = p.Body
		case PayloadNotify:
			var n Notify
			if n.UnmarshalBinary(p.Body) == nil && n.Type.IsError() {
				e.fail(&NotifyError{Type: uint16(n.Type), Data: n.Data})
				return
			}
		}
	}
	if !haveSA || len(nr) < 8 || len(sa.Proposals) == 0 {
		return
	}
	p := sa.Proposals[0]
	if p.Protocol != ProtoIPsecESP || len(p.SPI) != 4 || len(p.Transforms) == 0 {
		e.fail(fmt.Errorf("%w: Quick Mode answer without one ESP proposal", ErrBadProposal))
		return
	}
	offered, _, _ := e.qmOffer()
	tr, encap, life, ok := e.matchESP(p.Transforms[0], offered)
	if !ok {
		e.fail(fmt.Errorf("%w: ESP transform %d %v", ErrBadProposal, p.Transforms[0].ID, p.Transforms[0].Attrs))
		return
	}
	q.nr = append([]byte(nil), nr...)
	q.spiOut = uint32(p.SPI[0])<<24 | uint32(p.SPI[1])<<16 | uint32(p.SPI[2])<<8 | uint32(p.SPI[3])
	q.tr, q.encap, q.life = tr, encap, life
	q.iv = d.last
	h3 := e.k.prop.Hash.PRF(e.k.skeyidA, []byte{0}, midBytes(q.mid), q.ni, q.nr)
	out, last := e.encrypt(ExchangeQuick, q.mid, []Payload{{Type: PayloadHash, Body: h3}}, q.iv)
	if out == nil {
		return
	}
	q.iv = last
	q.state = qmDone
	q.lastIn, q.lastOut = append([]byte(nil), msg...), out
	q.retx = retx{}
	q.since = now
	e.send(out, e.natt)
	e.childUp(now, q)
}

// qmRespond answers a peer-initiated QM1 with QM2.
func (e *engine) qmRespond(now time.Time, h *Header, msg []byte) {
	iv := phase2IV(e.k.prop.Hash, e.k.lastP1, h.MessageID, e.k.block)
	d, err := e.decrypt(h, msg, iv)
	if err != nil {
		return
	}
	rest, ok := d.afterHash()
	if !ok {
		return
	}
	if !hmac.Equal(e.k.prop.Hash.PRF(e.k.skeyidA, midBytes(h.MessageID), rest), d.ps[0].Body) {
		return
	}
	var sa SA
	var ni []byte
	var ids, natoa []Payload
	haveSA := false
	for _, p := range d.ps[1:] {
		switch p.Type {
		case PayloadSA:
			if sa.UnmarshalBinary(p.Body) == nil {
				haveSA = true
			}
		case PayloadNonce:
			ni = p.Body
		case PayloadID:
			ids = append(ids, Payload{Type: PayloadID, Body: append([]byte(nil), p.Body...)})
		case PayloadNATOA, PayloadNATOADraft:
			natoa = append(natoa, Payload{Type: p.Type, Body: append([]byte(nil), p.Body...)})
		case PayloadKE:
			return // PFS not supported: no answer, the peer will give up
		}
	}
	if !haveSA || len(ni) < 8 || (len(ids) != 0 && len(ids) != 2) {
		return
	}
	var chosenProp Proposal
	var chosenTr Transform
	var tr suite.ESPTransform
	var encap uint16
	var life time.Duration
	found := false
	for _, p := range sa.Proposals {
		if p.Protocol != ProtoIPsecESP || len(p.SPI) != 4 {
			continue
		}
		for _, t := range p.Transforms {
			if tr, encap, life, ok = e.matchESP(t, e.esp); ok {
				chosenProp, chosenTr, found = p, t, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		e.sendNotify(Notify{DOI: DOIIPsec, Protocol: ProtoIPsecESP, Type: NotifyNoProposalChosen})
		return
	}
	spiIn := e.newSPI()
	nr := e.randBytes(nonceLen)
	if e.dead {
		return
	}
	reply := SA{DOI: DOIIPsec, Situation: SitIdentityOnly, Proposals: []Proposal{{
		Num: chosenProp.Num, Protocol: ProtoIPsecESP, SPI: wire.AppendUint32(nil, spiIn), Transforms: []Transform{chosenTr},
	}}}
	out := []Payload{{Type: PayloadSA, Body: mustBody(&reply)}, {Type: PayloadNonce, Body: nr}}
	out = append(out, ids...)
	out = append(out, natoa...)
	ps := e.hashed(out, midBytes(h.MessageID), ni)
	msg2, last := e.encrypt(ExchangeQuick, h.MessageID, ps, d.last)
	if msg2 == nil {
		return
	}
	spi := chosenProp.SPI
	q := &qmEx{mid: h.MessageID, state: qmWaitHash3, iv: last, ni: append([]byte(nil), ni...), nr: nr,
		spiIn: spiIn, spiOut: uint32(spi[0])<<24 | uint32(spi[1])<<16 | uint32(spi[2])<<8 | uint32(spi[3]),
		tr: tr, encap: encap, life: life, lastIn: append([]byte(nil), msg...), lastOut: msg2, since: now}
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
}

// qmResponderFinish handles QM3 (HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b)).
func (e *engine) qmResponderFinish(now time.Time, q *qmEx, h *Header, msg []byte) {
	d, err := e.decrypt(h, msg, q.iv)
	if err != nil || len(d.ps) == 0 || d.ps[0].Type != PayloadHash {
		return
	}
	want := e.k.prop.Hash.PRF(e.k.skeyidA, []byte{0}, midBytes(q.mid), q.ni, q.nr)
	if !hmac.Equal(want, d.ps[0].Body) {
		return
	}
	q.iv = d.last
	q.state = qmDone
	q.lastIn, q.lastOut = append([]byte(nil), msg...), nil
	q.retx = retx{}
	q.since = now
	e.childUp(now, q)
}

// childSA derives the keys of an exchange whose nonces and SPIs are known.
// Ref: RFC 2409 §5.5.
func (e *engine) childSA(q *qmEx) ChildSA {
	ek := q.tr.EncKeyLen()
	n := q.tr.KeyMatLen()
	in := keymat(e.k.prop.Hash, e.k.skeyidD, ProtoIPsecESP, q.spiIn, q.ni, q.nr, n)
	out := keymat(e.k.prop.Hash, e.k.skeyidD, ProtoIPsecESP, q.spiOut, q.ni, q.nr, n)
	return ChildSA{InSPI: q.spiIn, OutSPI: q.spiOut, Transform: q.tr,
		InEncKey: in[:ek], InAuthKey: in[ek:], OutEncKey: out[:ek], OutAuthKey: out[ek:],
		Lifetime: q.life, EncapMode: q.encap}
}

// childUp derives the keys of a finished exchange and installs the SA pair.
func (e *engine) childUp(now time.Time, q *qmEx) {
	sa := e.childSA(q)
	rekey := e.nChild > 0
	e.nChild++
	for _, old := range e.sas {
		if old.retireAt.IsZero() {
			old.retireAt = now.Add(rekeyGrace)
			if old.hardEnd.Before(old.retireAt) {
				old.retireAt = old.hardEnd
			}
		}
	}
	e.sas = append(e.sas, &liveSA{sa: sa, up: now, hardEnd: now.Add(q.life)})
	e.out = append(e.out, ChildSAUp{SA: sa, Rekey: rekey})
	e.rekeyAt = time.Time{}
	if e.rekeyAfter != nil {
		if d := e.rekeyAfter(e, q.life); d > 0 {
			e.rekeyAt = now.Add(d)
		}
	}
}

// ---- Informational ------------------------------------------------------

// sendInfo sends HDR*, HASH(1), payloads with HASH(1) = prf(SKEYID_a, M-ID | payloads).
// Ref: RFC 2409 §5.7.
func (e *engine) sendInfo(ps []Payload) {
	if !e.keyed || e.dead {
		return
	}
	mid := e.newMID()
	if e.dead {
		return
	}
	msg, _ := e.encrypt(ExchangeInformational, mid, e.hashed(ps, midBytes(mid)), phase2IV(e.k.prop.Hash, e.k.lastP1, mid, e.k.block))
	if msg != nil {
		e.send(msg, e.natt)
	}
}

func (e *engine) sendNotify(n Notify) {
	e.sendInfo([]Payload{{Type: PayloadNotify, Body: mustBody(&n)}})
}

func (e *engine) sendDelete(d Delete) {
	e.sendInfo([]Payload{{Type: PayloadDelete, Body: mustBody(&d)}})
}

func (e *engine) deleteESP(spi uint32) {
	e.sendDelete(Delete{DOI: DOIIPsec, Protocol: ProtoIPsecESP, SPISize: 4, SPIs: [][]byte{wire.AppendUint32(nil, spi)}})
}

func (e *engine) sendDPD(t NotifyType, seq uint32) {
	e.sendNotify(Notify{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPI: e.k.cookies(), Type: t, Data: wire.AppendUint32(nil, seq)})
}

// handleInfo processes an encrypted Informational exchange: DPD, Deletes,
// fatal notifies. Ref: RFC 2409 §5.7, RFC 3706.
func (e *engine) handleInfo(now time.Time, h *Header, msg []byte) {
	if h.Flags&FlagEncryption == 0 || !e.keyed || h.MessageID == 0 {
		return
	}
	d, err := e.decrypt(h, msg, phase2IV(e.k.prop.Hash, e.k.lastP1, h.MessageID, e.k.block))
	if err != nil {
		return
	}
	rest, ok := d.afterHash()
	if !ok || !hmac.Equal(e.k.prop.Hash.PRF(e.k.skeyidA, midBytes(h.MessageID), rest), d.ps[0].Body) {
		return
	}
	for _, p := range d.ps[1:] {
		switch p.Type {
		case PayloadNotify:
			var n Notify
			if n.UnmarshalBinary(p.Body) != nil {
				continue
			}
			e.handleNotify(now, &n)
		case PayloadDelete:
			var del Delete
			if del.UnmarshalBinary(p.Body) != nil {
				continue
			}
			e.handleDelete(now, &del)
		}
		if e.dead {
			return
		}
	}
}

func (e *engine) handleNotify(now time.Time, n *Notify) {
	switch {
	case n.Type == NotifyRUThere && e.up:
		if len(n.Data) == 4 {
			e.sendDPD(NotifyRUThereAck, uint32(n.Data[0])<<24|uint32(n.Data[1])<<16|uint32(n.Data[2])<<8|uint32(n.Data[3]))
		}
	case n.Type == NotifyRUThereAck:
		e.dpdAcks++
	case n.Type == NotifyInvalidSPI || n.Type == NotifyInvalidMessageID:
		// Recoverable; retransmission or a re-key sorts it out.
	case n.Type.IsError():
		e.fail(&NotifyError{Type: uint16(n.Type), Data: append([]byte(nil), n.Data...)})
	}
}

func (e *engine) handleDelete(now time.Time, d *Delete) {
	switch {
	case d.Protocol == ProtoISAKMP && d.SPISize == 16:
		for _, s := range d.SPIs {
			if bytes.Equal(s, e.k.cookies()) {
				e.fail(ErrPeerDeleted)
				return
			}
		}
	case d.Protocol == ProtoIPsecESP && d.SPISize == 4:
		for _, s := range d.SPIs {
			spi := uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
			for i, l := range e.sas {
				if l.sa.OutSPI == spi || l.sa.InSPI == spi {
					e.removeSA(now, i, false)
					break
				}
			}
		}
	}
}

// removeSA drops e.sas[i] with ChildSAGone, optionally sending our Delete.
// Losing the newest SA makes the client negotiate a new one at once.
func (e *engine) removeSA(now time.Time, i int, sendDelete bool) {
	l := e.sas[i]
	newest := i == len(e.sas)-1
	e.sas = append(e.sas[:i], e.sas[i+1:]...)
	e.out = append(e.out, ChildSAGone{InSPI: l.sa.InSPI, OutSPI: l.sa.OutSPI})
	if sendDelete {
		e.deleteESP(l.sa.InSPI)
	}
	if newest && e.client && !e.qmPending() {
		e.rekeyAt = time.Time{}
		e.startQM(now)
	}
}

// ---- timers -------------------------------------------------------------

func (e *engine) tick(now time.Time) {
	if e.dead || !e.up {
		return
	}
	for _, q := range e.qms {
		if !q.retx.active || now.Before(q.retx.next) {
			continue
		}
		if q.retx.tries >= e.maxRetx {
			if !q.initiator {
				q.retx = retx{} // the peer gave up on this exchange
				continue
			}
			e.fail(fmt.Errorf("%w to %s", ErrNoResponse, q.retx.what))
			return
		}
		q.retx.tries++
		q.retx.next = now.Add(retxWait(e.retxBase, q.retx.tries))
		e.send(q.retx.data, e.natt)
	}
	// Forget finished (and abandoned responder) exchanges after a while.
	kept := e.qms[:0]
	for _, q := range e.qms {
		if q.state == qmWaitReply || now.Sub(q.since) < qmKeep {
			kept = append(kept, q)
		}
	}
	e.qms = kept
	for i := 0; i < len(e.sas); {
		l := e.sas[i]
		switch {
		case !l.retireAt.IsZero() && !now.Before(l.retireAt):
			e.removeSA(now, i, true)
		case !now.Before(l.hardEnd):
			e.removeSA(now, i, true)
		default:
			i++
		}
		if e.dead {
			return
		}
	}
	if !e.rekeyAt.IsZero() && !now.Before(e.rekeyAt) {
		e.rekeyAt = time.Time{}
		if !e.qmPending() {
			e.startQM(now)
		}
	}
	if !e.ikeExpire.IsZero() && !now.Before(e.ikeExpire) {
		e.fail(ErrIKEExpired)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func (e *engine) deadline() time.Time {
	if e.dead || !e.up {
		return time.Time{}
	}
	var t time.Time
	for _, q := range e.qms {
		if q.retx.active {
			t = minTime(t, q.retx.next)
		}
	}
	for _, l := range e.sas {
		t = minTime(t, l.retireAt)
		t = minTime(t, l.hardEnd)
	}
	t = minTime(t, e.rekeyAt)
	return minTime(t, e.ikeExpire)
}

// close sends a Delete for each live IPsec SA (our inbound SPIs) and for the
// IKE SA. Ref: RFC 2408 §3.15.
func (e *engine) close() {
	if e.closed {
		return
	}
	e.closed = true
	// Also after a failure (a rejected Quick Mode, an expired IKE SA): the
	// server may still hold our SAs, so tell it, as long as we have keys.
	e.dead = false
	if e.keyed {
		for _, l := range e.sas {
			e.deleteESP(l.sa.InSPI)
		}
		e.sendDelete(Delete{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPISize: 16, SPIs: [][]byte{e.k.cookies()}})
	}
	e.dead = true
}
