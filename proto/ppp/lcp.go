package ppp

import (
	"encoding/binary"
	"time"
)

// LCP option layouts used here (Ref: RFC 1661 §6.1, §6.2, §6.4):
//
//	MRU:            | Type=1 | Length=4 | Maximum-Receive-Unit (2)   |
//	Auth-Protocol:  | Type=3 | Length>=4 | Protocol (2) | Data ...    |
//	                  (CHAP: Data = Algorithm, 05 MD5, 81 MS-CHAPv2)
//	Magic-Number:   | Type=5 | Length=6 | Magic-Number (4)           |

// What both sides do alike with the MRU and Magic-Number options they
// request.

// lcpRejected stops requesting an option the peer Configure-Rejected.
func (l *link) lcpRejected(o Option) {
	switch o.Type {
	case lcpOptMRU:
		l.reqMRU = false
	case lcpOptMagic:
		l.reqMagic = false
		l.magic = 0
	}
}

// magicNaked picks a new Magic-Number after the peer Nak'd ours.
// Ref: RFC 1661 §6.4.
func (l *link) magicNaked() {
	if l.reqMagic {
		l.magic = l.newMagic()
	}
}

// checkMagic judges the peer's Magic-Number option: zero is illegal, and
// one equal to ours may mean a looped-back link. Ref: RFC 1661 §6.4.
func (l *link) checkMagic(o Option) (uint8, Option) {
	if len(o.Data) != 4 {
		return codeConfRej, Option{}
	}
	if v := binary.BigEndian.Uint32(o.Data); v == 0 || (l.reqMagic && v == l.magic) {
		return codeConfNak, optUint32(lcpOptMagic, l.newMagic())
	}
	return codeConfAck, Option{}
}

// clientLCP is the client's LCP option policy.
type clientLCP Client

func (h *clientLCP) reqOptions() []Option {
	var opts []Option
	if h.reqMRU {
		opts = append(opts, optUint16(lcpOptMRU, h.mru))
	}
	if h.reqMagic {
		opts = append(opts, optUint32(lcpOptMagic, h.magic))
	}
	return opts
}

func (h *clientLCP) gotNak(_ time.Time, opts []Option) {
	for _, o := range opts {
		switch o.Type {
		case lcpOptMRU:
			if len(o.Data) != 2 {
				continue
			}
			if v := binary.BigEndian.Uint16(o.Data); v >= minPacketMRU && v <= maxPacketMRU {
				h.mru = v
			} else {
				h.reqMRU = false
			}
		case lcpOptMagic:
			h.magicNaked()
		}
	}
}

func (h *clientLCP) gotReject(_ time.Time, opts []Option) {
	for _, o := range opts {
		h.lcpRejected(o)
	}
}

func (h *clientLCP) checkOption(o Option) (uint8, Option) {
	switch o.Type {
	case lcpOptMRU:
		if len(o.Data) != 2 {
			return codeConfRej, Option{}
		}
		if binary.BigEndian.Uint16(o.Data) < minPeerMRU {
			return codeConfNak, optUint16(lcpOptMRU, minPeerMRU)
		}
		return codeConfAck, Option{}
	case lcpOptACCM:
		if len(o.Data) != 4 {
			return codeConfRej, Option{}
		}
		return codeConfAck, Option{} // meaningless over L2TP; harmless
	case lcpOptAuth:
		return h.checkAuth(o)
	case lcpOptMagic:
		return h.checkMagic(o)
	case lcpOptPFC, lcpOptACFC:
		// The peer can receive compressed headers. We may still send full
		// ones (RFC 1661 §6.5, §6.6: "MAY"), and always do; what it sends
		// us is decoded either way (ParseFrame).
		if len(o.Data) != 0 {
			return codeConfRej, Option{}
		}
		return codeConfAck, Option{}
	}
	// Quality-Protocol, Callback, and anything unknown.
	return codeConfRej, Option{}
}

// checkAuth judges the server's Authentication-Protocol option against our
// list (in preference order). A method we accept is Acked unless we prefer
// one the server has neither asked for nor been offered by us yet: then we
// Nak once, proposing it (a server may take the suggestion, as pppd does,
// or ask for its next method, as SoftEther does). A method we do not
// accept is Naked with our most preferred method not yet asked for or
// proposed (RFC 1661 §6.2), or with our first one again when all were.
// Only an empty list would Reject the option, and NewClient never leaves
// it empty.
func (h *clientLCP) checkAuth(o Option) (uint8, Option) {
	m, known := parseAuthOption(o.Data)
	if known && !containsMethod(h.offered, m) {
		h.offered = append(h.offered, m)
	}
	acceptable := known && containsMethod(h.auth, m)
	for _, want := range h.auth {
		if acceptable && want == m {
			return codeConfAck, Option{}
		}
		if !containsMethod(h.offered, want) && !containsMethod(h.suggested, want) {
			h.suggested = append(h.suggested, want)
			h.refused = true
			if acceptable && !containsMethod(h.declined, m) {
				h.declined = append(h.declined, m)
			}
			return codeConfNak, authOption(want)
		}
	}
	if acceptable {
		return codeConfAck, Option{}
	}
	// Every method of ours was asked for or proposed already: propose the
	// first again (SoftEther moves on to its next method on each Nak). A
	// server that insists runs into Max-Failure, which turns the Nak into
	// a Reject.
	h.refused = true
	if len(h.auth) == 0 {
		return codeConfRej, Option{}
	}
	return codeConfNak, authOption(h.auth[0])
}

func (h *clientLCP) acked(opts []Option) {
	h.peerMRU = defaultMRU
	h.method = AuthNone
	for _, o := range opts {
		switch o.Type {
		case lcpOptMRU:
			if len(o.Data) == 2 {
				h.peerMRU = binary.BigEndian.Uint16(o.Data)
			}
		case lcpOptAuth:
			h.method, _ = parseAuthOption(o.Data)
		}
	}
}

func (h *clientLCP) up(now time.Time) { h.lcpOpened(now) }

// down: LCP renegotiates; the method of the last negotiation no longer
// holds (SoftEther asks for MS-CHAPv2 in a new Configure-Request after EAP
// found no common EAP method).
func (h *clientLCP) down(now time.Time) {
	if !h.authDone {
		h.method = AuthNone
	}
	h.lcpDown(now)
}

func (h *clientLCP) failed(_ time.Time, err error) {
	if h.refused && h.method == AuthNone {
		err = h.noCommonAuth()
	}
	h.fail(err)
}

func (h *clientLCP) noCommonAuth() error {
	return &noCommonAuthError{offered: h.offered, accepted: h.auth, declined: h.declined}
}

func (h *clientLCP) terminated(_ time.Time, reason []byte) {
	c := (*Client)(h)
	switch {
	case c.phase == phaseEstablish && c.refused && c.method == AuthNone:
		c.fail(h.noCommonAuth())
	case c.phase == phaseAuth && c.method != AuthNone:
		// SoftEther answers a wrong PAP password with Terminate-Request.
		msg := "server terminated the link"
		if r := printable(reason); r != "" {
			msg += ": " + r
		}
		c.fail(&AuthError{Method: c.method, User: c.cfg.User, Message: msg})
	default:
		c.fail(c.terminatedErr(reason))
	}
}

func (h *clientLCP) termDone(time.Time) { h.fail(nil) }

func (h *clientLCP) extra(now time.Time, p Packet, _ []byte) bool { return h.lcpExtra(now, p) }

// serverLCP is the authenticator's LCP policy (test peers).
type serverLCP Server

func (h *serverLCP) reqOptions() []Option {
	var opts []Option
	if h.reqMRU {
		opts = append(opts, optUint16(lcpOptMRU, h.cfg.MRU))
	}
	if h.authIdx < len(h.cfg.Auth) {
		opts = append(opts, authOption(h.cfg.Auth[h.authIdx]))
	}
	if h.reqMagic {
		opts = append(opts, optUint32(lcpOptMagic, h.magic))
	}
	return opts
}

// nextAuth moves to the next method after the current one was refused;
// with HonourNak a suggestion from our list that we have not tried wins.
func (h *serverLCP) nextAuth(suggest []byte) {
	h.tried[h.cfg.Auth[h.authIdx]] = true
	if h.cfg.HonourNak && suggest != nil {
		if m, ok := parseAuthOption(suggest); ok && !h.tried[m] {
			for i, x := range h.cfg.Auth {
				if x == m {
					h.authIdx = i
					return
				}
			}
		}
	}
	last := h.authIdx
	for h.authIdx++; h.authIdx < len(h.cfg.Auth); h.authIdx++ {
		if !h.tried[h.cfg.Auth[h.authIdx]] {
			return
		}
	}
	if h.cfg.Insist && h.insisted < maxInsist {
		h.insisted++
		h.authIdx = last
		return
	}
	(*Server)(h).abort(&noCommonAuthError{offered: h.cfg.Auth, server: true})
}

func (h *serverLCP) gotNak(_ time.Time, opts []Option) {
	for _, o := range opts {
		switch o.Type {
		case lcpOptMRU:
			if len(o.Data) == 2 {
				if v := binary.BigEndian.Uint16(o.Data); v >= minPacketMRU {
					h.cfg.MRU = v
				}
			}
		case lcpOptMagic:
			h.magicNaked()
		case lcpOptAuth:
			if h.authIdx < len(h.cfg.Auth) {
				h.nextAuth(o.Data)
			}
		}
	}
}

func (h *serverLCP) gotReject(_ time.Time, opts []Option) {
	for _, o := range opts {
		if o.Type != lcpOptAuth {
			h.lcpRejected(o)
		} else if h.authIdx < len(h.cfg.Auth) {
			h.nextAuth(nil)
		}
	}
}

func (h *serverLCP) checkOption(o Option) (uint8, Option) {
	switch o.Type {
	case lcpOptMRU:
		if len(o.Data) != 2 {
			return codeConfRej, Option{}
		}
		v := binary.BigEndian.Uint16(o.Data)
		if h.cfg.RejectMagic && (v < 100 || v > 1500) { // SoftEther's range
			return codeConfNak, optUint16(lcpOptMRU, defaultMRU)
		}
		if v < minPeerMRU {
			return codeConfNak, optUint16(lcpOptMRU, minPeerMRU)
		}
		return codeConfAck, Option{}
	case lcpOptAuth:
		return codeConfRej, Option{} // we do not authenticate ourselves
	}
	if h.cfg.RejectMagic {
		return codeConfRej, Option{} // SoftEther: only MRU and Auth-Protocol
	}
	switch o.Type {
	case lcpOptACCM:
		if len(o.Data) == 4 {
			return codeConfAck, Option{}
		}
	case lcpOptMagic:
		return h.checkMagic(o)
	}
	return codeConfRej, Option{}
}

func (h *serverLCP) acked(opts []Option) {
	h.peerMRU = defaultMRU
	for _, o := range opts {
		if o.Type == lcpOptMRU && len(o.Data) == 2 {
			h.peerMRU = binary.BigEndian.Uint16(o.Data)
		}
	}
}

func (h *serverLCP) up(now time.Time) {
	if h.authIdx < len(h.cfg.Auth) {
		h.method = h.cfg.Auth[h.authIdx]
	} else {
		h.method = AuthNone
	}
	h.lcpOpened(now)
}
func (h *serverLCP) down(now time.Time)            { h.lcpDown(now) }
func (h *serverLCP) failed(_ time.Time, err error) { h.fail(err) }
func (h *serverLCP) terminated(_ time.Time, reason []byte) {
	h.fail((*Server)(h).terminatedErr(reason))
}
func (h *serverLCP) termDone(time.Time) { h.fail(nil) }
func (h *serverLCP) extra(now time.Time, p Packet, _ []byte) bool {
	return h.lcpExtra(now, p)
}
