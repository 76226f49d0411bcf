package isakmp

import (
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"errors"
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
	blk        cipher.Block // phase-1 cipher keyed from SKEYID_e
	block      int          // its block size: the length of every IV
	lastP1     []byte       // phase-1 CBC chain; after MM6: its last ciphertext block
	rfcNATT    bool         // RFC 3947 (payload types 20/21, encap 4) rather than drafts
	peerDPD    bool
}

func (k *ikeSA) cookies() []byte {
	return append(append([]byte(nil), k.ckyI[:]...), k.ckyR[:]...)
}

// plain is our unencrypted message of exchange x with payloads ps.
func (k *ikeSA) plain(x ExchangeType, ps []Payload) []byte {
	return plainMessage(Header{ICookie: k.ckyI, RCookie: k.ckyR, Version: Version, Exchange: x}, ps)
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

// tunnelEncapMode is encapMode's tunnel-mode counterpart.
func (k *ikeSA) tunnelEncapMode() uint16 {
	if k.rfcNATT {
		return EncapUDPTunnel
	}
	return EncapUDPTunnelDraft
}

// engine is what the Initiator and the Responder share: the phase-1 keys
// once derived, Quick Mode in both roles, Informational, re-key and SA
// bookkeeping, and the outcome of each call (the queued actions, and why
// the FSM stopped).
type engine struct {
	rand       io.Reader
	client     bool // the Initiator: re-keys at a jittered fraction of each lifetime
	esp        []suite.ESPTransform
	pfs        suite.GroupID // Quick Mode PFS group (RFC 2409 §5.5); 0: none
	saLife     time.Duration
	ikeLife    time.Duration // client: the IKE SA lifetime (re-authentication time)
	retxBase   time.Duration
	retxCap    time.Duration // the longest wait between two sends
	maxRetx    int
	fixedRekey time.Duration // not client: re-key this long after each SA pair; 0: never

	k     ikeSA
	keyed bool // phase-1 keys exist (from MM4 on)
	up    bool // phase 1 authenticated
	natt  bool // Send.NATT for our messages
	plain bool // client: ESP without UDP encapsulation (transport 2, tunnel 1)

	offerTunnel bool     // client: propose tunnel mode after transport mode
	modes       []uint16 // responder: the encapsulation modes it accepts, in no order
	done        error    // why the FSM stopped (a failure, or errClosed); it then ignores all input
	closed      bool     // close has run: Deletes are sent once
	out         []Action
	qms         []*qmEx
	sas         []*liveSA
	nChild      int
	qmRedos     int // client: Quick Modes started over after an early Delete (maxQMRedo)

	rekeyAt   time.Time
	upAt      time.Time // when phase 1 completed
	reauthAt  time.Time // client: when to replace the IKE SA; zero until its first SA pair
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

// errClosed stops an FSM that Close ended without a failure.
var errClosed = errors.New("isakmp: closed")

// dropError is a step's verdict that the message it handles is ignored.
// It travels up as an error but ends as a Dropped action, never a Fail.
type dropError struct{ reason string }

func (d *dropError) Error() string { return "isakmp: dropped: " + d.reason }

// drop ignores the message named what ("Quick Mode 2") because of why.
func drop(what, why string) error { return &dropError{reason: what + ": " + why} }

// dropErr ignores the message named what because of err (a parse error).
func dropErr(what string, err error) error { return drop(what, detail(err)) }

// errNotOurs drops a message of another IKE SA.
var errNotOurs error = &dropError{reason: "not our cookies"}

// run is every public entry point but Close: unless the FSM has stopped,
// it runs step and returns the actions step queued. An error step returns
// is a Dropped action if it drops the message, else it stops the FSM and
// becomes its one Fail action.
func (e *engine) run(step func() error) []Action {
	if e.done != nil {
		return nil
	}
	return e.finish(step())
}

func (e *engine) finish(err error) []Action {
	if err = e.dropped(err); err != nil && e.done == nil {
		e.done = err
		e.out = append(e.out, Fail{Err: err})
	}
	return e.flush()
}

// dropped reports a drop verdict as a Dropped action and returns nil; any
// other error comes back unchanged.
func (e *engine) dropped(err error) error {
	var d *dropError
	if errors.As(err, &d) {
		e.out = append(e.out, Dropped{Reason: d.reason})
		return nil
	}
	return err
}

func (e *engine) randBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.rand, b); err != nil {
		return nil, fmt.Errorf("isakmp: reading randomness: %w", err)
	}
	return b, nil
}

// randUint32 draws a value ≥ min other than 0xffffffff; after 16 draws out
// of range it settles for min.
func (e *engine) randUint32(min uint32) (uint32, error) {
	for i := 0; i < 16; i++ {
		b, err := e.randBytes(4)
		if err != nil {
			return 0, err
		}
		if x := binary.BigEndian.Uint32(b); x >= min && x != 0xffffffff {
			return x, nil
		}
	}
	return min, nil
}

// newMID draws a fresh non-zero message ID not in use.
func (e *engine) newMID() (uint32, error) {
	for {
		m, err := e.randUint32(1)
		if err != nil || e.findQM(m) == nil {
			return m, err
		}
	}
}

// newSPI draws an SPI ≥ 256 (1-255 are reserved, RFC 4303 §2.1).
func (e *engine) newSPI() (uint32, error) { return e.randUint32(256) }

// skeyid computes SKEYID for the authentication method: with a
// pre-shared key (psk non-nil) prf(pre-shared-key, Ni_b | Nr_b), with
// signatures prf(Ni_b | Nr_b, g^xy). Ref: RFC 2409 §5.
func (e *engine) skeyid(psk, ni, nr, gxy []byte) []byte {
	if psk == nil {
		return skeyidSig(e.k.prop.Hash, ni, nr, gxy)
	}
	return skeyidPSK(e.k.prop.Hash, psk, ni, nr)
}

// deriveKeys computes the descendants of SKEYID, the phase-1 cipher and
// the first phase-1 IV (RFC 2409 §5, Appendix B); the keys exist from
// then on. g^xi and g^xr are in the initiator's terms.
func (e *engine) deriveKeys(skeyid, gxy, gxi, gxr []byte) error {
	hf := e.k.prop.Hash
	ck := e.k.cookies()
	d, a, enc := deriveSKEYIDs(hf, skeyid, gxy, ck[:8], ck[8:])
	blk, err := e.k.prop.Enc.NewCipher(encKey(hf, enc, e.k.prop.KeyBits/8))
	if err != nil {
		return fmt.Errorf("isakmp: phase-1 cipher: %w", err)
	}
	e.k.skeyid, e.k.skeyidD, e.k.skeyidA, e.k.skeyidE = skeyid, d, a, enc
	e.k.blk, e.k.block = blk, blk.BlockSize()
	e.k.lastP1 = phase1IV(hf, gxi, gxr, e.k.block)
	e.keyed = true
	return nil
}

// encrypt builds an encrypted message with the payload chain ps, which the
// FSMs keep small; iv is one block. It cannot fail.
func (e *engine) encrypt(exch ExchangeType, mid uint32, ps []Payload, iv []byte) (msg, last []byte) {
	ct := cbcEncrypt(e.k.blk, iv, appendPayloads(nil, ps))
	h := Header{ICookie: e.k.ckyI, RCookie: e.k.ckyR, NextPayload: firstType(ps), Version: Version,
		Exchange: exch, Flags: FlagEncryption, MessageID: mid}
	return appendMessage(make([]byte, 0, headerLen+len(ct)), h, ct), lastBlock(ct, len(iv))
}

type decrypted struct {
	ps    []Payload
	raws  [][]byte
	plain []byte
	used  int
	last  []byte
}

// decrypt decrypts msg (header h already parsed, msg cut to h.Length), the
// message named what; a message it cannot read is dropped.
func (e *engine) decrypt(what string, h *Header, msg, iv []byte) (*decrypted, error) {
	if h.Flags&FlagEncryption == 0 {
		return nil, drop(what, "not encrypted")
	}
	if !e.keyed {
		return nil, drop(what, "encrypted before the keys exist")
	}
	ct := msg[headerLen:]
	plain, err := cbcDecrypt(e.k.blk, iv, ct)
	if err != nil {
		return nil, dropErr(what, err)
	}
	ps, raws, used, err := parsePayloads(h.NextPayload, plain)
	if err != nil {
		return nil, drop(what, "does not decrypt to payloads ("+detail(err)+")")
	}
	return &decrypted{ps: ps, raws: raws, plain: plain, used: used, last: lastBlock(ct, len(iv))}, nil
}

// decryptHashed decrypts a Quick Mode or Informational message named what
// and checks its leading HASH = prf(SKEYID_a, prefix... | the payloads
// after it). Ref: RFC 2409 §5.5, §5.7.
func (e *engine) decryptHashed(what string, h *Header, msg, iv []byte, prefix ...[]byte) (*decrypted, error) {
	d, err := e.decrypt(what, h, msg, iv)
	if err != nil {
		return nil, err
	}
	rest, ok := d.afterHash()
	if !ok {
		return nil, drop(what, "no HASH payload first")
	}
	if !hmac.Equal(e.k.prop.Hash.PRF(e.k.skeyidA, append(append([][]byte(nil), prefix...), rest)...), d.ps[0].Body) {
		return nil, drop(what, "HASH mismatch")
	}
	return d, nil
}

// handlePhase2 takes a message of our IKE SA once phase 1 is up.
func (e *engine) handlePhase2(now time.Time, h *Header, msg []byte, state fmt.Stringer) error {
	switch h.Exchange {
	case ExchangeQuick:
		return e.handleQuick(now, h, msg)
	case ExchangeInformational:
		return e.handleInfo(now, h, msg)
	}
	return unexpected(h.Exchange, state)
}

// unexpected drops a message of exchange x in a state that takes none.
func unexpected(x ExchangeType, state fmt.Stringer) error {
	return drop(x.String(), "unexpected in state "+state.String())
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

// close is Close for both roles: it sends a Delete for each live IPsec SA
// (our inbound SPIs) and for the IKE SA, once, and stops the FSM. Ref: RFC
// 2408 §3.15. Also after a failure (a rejected Quick Mode, an expired IKE
// SA): the peer may still hold our SAs, so tell it, as long as we have keys.
// A failure while closing is a Fail unless the FSM had failed already.
func (e *engine) close() []Action {
	if e.closed {
		return nil
	}
	e.closed = true
	acts := e.finish(e.sendDeletes())
	if e.done == nil {
		e.done = errClosed
	}
	return acts
}

func (e *engine) sendDeletes() error {
	if !e.keyed {
		return nil
	}
	for _, l := range e.sas {
		if err := e.deleteESP(l.sa.InSPI); err != nil {
			return err
		}
	}
	return e.sendDelete(Delete{DOI: DOIIPsec, Protocol: ProtoISAKMP, SPISize: 16, SPIs: [][]byte{e.k.cookies()}})
}
