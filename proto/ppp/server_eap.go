package ppp

import (
	"crypto/subtle"
	"slices"
	"time"
)

// The test server's EAP (RFC 3748): an Identity Request, then the inner
// methods of ServerConfig.EAPMethods (EAP-MSCHAPv2, EAP-MD5) following
// the peer's Legacy Nak, or SoftEther's behaviour (SoftEtherEAP).

// eapRequest sends an EAP Request with a new Identifier; the server
// retransmits it until answered. typeData starts with the Type.
func (s *Server) eapRequest(now time.Time, typeData []byte) {
	s.eapID++
	f, err := appendFrame(nil, ProtoEAP, eapCodeRequest, s.eapID, typeData)
	if err != nil {
		s.abort(err)
		return
	}
	s.authSend(now, f)
}

// eapNext requests the first inner method not tried yet that is in want
// (a peer's Nak; nil: any), or ends EAP with a Failure.
func (s *Server) eapNext(now time.Time, want []byte) {
	for _, m := range s.cfg.EAPMethods {
		if s.eapTried[m] || (want != nil && !slices.Contains(want, eapTypeOf(m))) {
			continue
		}
		s.eapTried[m] = true
		s.eapInner = m
		s.chal = make([]byte, msv2ChalLen)
		s.random(s.chal)
		if m == CHAPMD5 {
			s.eapRequest(now, append([]byte{eapTypeMD5}, chapValueData(s.chal, s.cfg.Name)...))
		} else {
			s.eapRequest(now, eapMSv2Data(chapCodeChal, s.eapID+1, chapValueData(s.chal, s.cfg.Name)))
		}
		return
	}
	s.eapEnd(errEAPNoMethod)
}

// eapEnd sends EAP Failure and ends the link with err.
func (s *Server) eapEnd(err error) {
	s.send(ProtoEAP, eapCodeFailure, s.eapID)
	s.abort(err)
}

func (s *Server) eapResponse(now time.Time, d []byte) {
	if len(d) < 1 {
		s.drop("EAP Response without a Type")
		return
	}
	typ, td := d[0], d[1:]
	switch {
	case typ == eapTypeIdentity && s.eapInner == AuthNone && s.cfg.SoftEtherEAP:
		// SoftEther sends the TLS Start with the Identity's Identifier.
		s.eapUser = string(td)
		s.eapID--
		s.eapRequest(now, []byte{eapTypeTLS, eapTLSStart})
	case typ == eapTypeNak && s.cfg.SoftEtherEAP:
		s.giveUpEAP(now, d)
	case typ == eapTypeIdentity && s.eapInner == AuthNone:
		s.eapUser = string(td)
		s.eapNext(now, nil)
	case typ == eapTypeNak:
		s.eapNext(now, td)
	case typ == eapTypeMD5 && s.eapInner == CHAPMD5:
		value, _, ok := parseCHAPValue(td)
		if !ok {
			s.drop("malformed EAP MD5-Challenge Response")
			return
		}
		pw, known := s.lookup(s.eapUser)
		want := chapMD5Response(s.eapID, pw, s.chal)
		if known && subtle.ConstantTimeCompare(want[:], value) == 1 {
			s.succeed(now, EAP, ProtoEAP, eapCodeSuccess, s.eapID, nil)
			return
		}
		s.eapEnd(&AuthError{Method: EAP, User: s.eapUser, Message: "EAP-MD5: wrong user name or password"})
	case typ == eapTypeMSCHAPv2 && s.eapInner == MSCHAPv2 && len(td) > 0:
		// The peer's Success and Failure Responses are the OpCode alone.
		switch td[0] {
		case chapCodeResp:
			_, msID, rest, ok := parseEAPMSv2(td)
			if !ok {
				s.drop("malformed EAP-MSCHAPv2 Response")
				return
			}
			value, user, ok := parseCHAPValue(rest)
			if !ok {
				s.drop("malformed EAP-MSCHAPv2 Response")
				return
			}
			pw, peerChal, nt, ok := s.msv2Verify(value, string(user))
			if ok {
				s.eapRequest(now, eapMSv2Data(chapCodeSucc, msID, []byte(s.msv2Success(pw, nt, peerChal, string(user)))))
				return
			}
			msg := s.msv2Failure()
			s.eapFailed = &AuthError{Method: EAP, User: string(user), Message: "EAP-MSCHAPv2 " + msg, Code: 691}
			s.eapRequest(now, eapMSv2Data(chapCodeFail, msID, []byte(msg)))
		case chapCodeSucc:
			s.succeed(now, EAP, ProtoEAP, eapCodeSuccess, s.eapID, nil)
		case chapCodeFail:
			err := s.eapFailed
			if err == nil {
				err = &AuthError{Method: EAP, User: s.eapUser, Message: "EAP-MSCHAPv2 Failure from the peer"}
			}
			s.eapEnd(err)
		default:
			s.drop("EAP-MSCHAPv2 OpCode %d unexpected", td[0])
		}
	default:
		s.drop("EAP Response of %s unexpected", eapTypeName(typ))
	}
}

// giveUpEAP is SoftEther's answer to an EAP Nak: a Protocol-Reject of the
// Nak, then LCP renegotiated for the next method (SoftEtherEAP).
func (s *Server) giveUpEAP(now time.Time, data []byte) {
	var p Packet
	p.Code, p.ID, p.Data = eapCodeResponse, s.eapID, data
	info, err := p.AppendBinary(nil)
	if err != nil {
		s.failLater(err)
		return
	}
	s.protoReject(ProtoEAP, info)
	s.authFrame, s.authDeadline = nil, time.Time{}
	s.stuck = true
	h := (*serverLCP)(s)
	h.tried[EAP] = true
	if h.authIdx < len(s.cfg.Auth) {
		h.nextAuth(nil)
	}
	if !s.dead {
		s.lcp.renegotiate(now)
	}
}
