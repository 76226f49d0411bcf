package ppp

import (
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"time"
)

// ServerConfig configures the authenticator side, used by in-process fake
// peers in tests (SoftEther-like and pppd-like).
type ServerConfig struct {
	// Auth lists the methods to request, in order. The server advances to
	// the next on a Nak or Reject of the Auth-Protocol option (SoftEther:
	// EAP, MSCHAPv2, PAP; pppd/hwdsl2: CHAPMD5, MSCHAPv2).
	Auth []AuthMethod
	// EAPMethods are the methods EAP offers after the Identity, in order
	// (MSCHAPv2: EAP-MSCHAPv2, CHAPMD5: EAP-MD5); a peer's Nak picks the
	// first of its list that is here. Empty: EAP gives up after the
	// Identity (EAP Failure), as a server with only EAP-TLS would for us.
	EAPMethods []AuthMethod
	// SoftEtherEAP makes EAP behave as SoftEther 5.01's (docs/interop.md):
	// after the Identity an EAP-TLS Start with the Identity Request's
	// Identifier; a Nak of it is answered with an
	// LCP Protocol-Reject of the Nak and a renegotiation of LCP asking for
	// the next method in Auth, which the server then never starts.
	SoftEtherEAP bool
	// MSCHAPv2Success formats the MS-CHAPv2 Success message from the
	// authenticator response "S=<40 upper-case hex digits>"; nil gives
	// "S=… M=Access granted" (RFC 2759 §5). Windows RRAS-like peers send
	// malformed ones.
	MSCHAPv2Success func(authResp string) string
	// HonourNak: jump to the method the peer suggests in its Nak if it is
	// in Auth and untried (pppd). SoftEther ignores the suggestion.
	HonourNak bool
	// Insist: when the peer refuses the last method, request it again (at
	// most maxInsist times) instead of giving up, as a server that allows
	// one method only and waits for the peer to accept it.
	Insist bool
	Users  map[string]string // user → password
	Name   string            // CHAP Name (e.g. "l2tp-softether", "l2tpd")
	Local  netip.Addr        // server address (IPCP)
	Pool   netip.Addr        // address handed to the client
	DNS    []netip.Addr      // 0, 1 or 2; options for missing ones are Rejected
	// RejectMagic: Configure-Reject every client option except MRU and
	// Auth-Protocol (SoftEther).
	RejectMagic bool
	SendMagic   bool   // request a Magic-Number (pppd)
	MRU         uint16 // MRU to request; 0 = do not send the option
	// PAPFailureTerminates: a wrong PAP password gets an LCP
	// Terminate-Request instead of an Authenticate-Nak (SoftEther).
	PAPFailureTerminates bool
	Rand                 io.Reader
	EchoInterval         time.Duration // 0 = no Echo-Requests (SoftEther: ~4.8s)
	// IPv6 runs IPv6CP (RFC 5072) next to IPCP, as the client's
	// ClientConfig.IPv6; false: it is Protocol-Rejected. InterfaceID is
	// the identifier to propose (0: drawn from Rand).
	IPv6        bool
	InterfaceID uint64
}

// Server is the authenticator side. Handle on a server that was not
// started starts it first (SoftEther starts PPP on the first data frame).
type Server struct {
	link
	cfg ServerConfig

	// LCP (owned by serverLCP)
	authIdx  int
	tried    map[AuthMethod]bool
	insisted int
	method   AuthMethod

	// authentication (link.authFrame: our CHAP Challenge)
	chalID  uint8
	chal    []byte
	okFrame []byte // Ack/Success, re-sent for duplicate requests
	okID    uint8

	// EAP
	eapID     uint8
	eapInner  AuthMethod // the method of our last Request (AuthNone: Identity)
	eapTried  map[AuthMethod]bool
	eapUser   string
	eapFailed error // set once the inner method failed: EAP Failure follows the peer's ack
	stuck     bool  // SoftEtherEAP: EAP was given up; no authentication starts any more

	// IPCP
	reqAddr bool
}

// errEAPNoMethod: EAP found no method both sides do.
var errEAPNoMethod = errors.New("ppp: no EAP method in common")

// NewServer returns an authenticator.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{cfg: cfg, tried: make(map[AuthMethod]bool)}
	s.reqMRU = cfg.MRU != 0
	s.reqMagic = cfg.SendMagic
	s.reqAddr = true
	s.link.init(s, cfg.Rand, 0, 0, max(cfg.EchoInterval, 0), 0)
	s.lcp = fsm{l: &s.link, proto: ProtoLCP, name: "LCP", h: (*serverLCP)(s)}
	s.ipcp = fsm{l: &s.link, proto: ProtoIPCP, name: "IPCP", h: (*serverIPCP)(s)}
	s.ipv6cp = fsm{l: &s.link, proto: ProtoIPV6CP, name: "IPV6CP", h: (*ipv6cpLayer)(&s.link)}
	s.v6.enabled, s.v6.local = cfg.IPv6, cfg.InterfaceID
	return s
}

// Start sends the server's LCP Configure-Request.
func (s *Server) Start(now time.Time) []Action {
	if !s.started && s.reqMagic {
		s.magic = s.newMagic()
	}
	return s.start(now)
}

// Handle processes one received frame, starting the server if needed.
func (s *Server) Handle(now time.Time, frame []byte) []Action {
	var acts []Action
	if !s.started && !s.dead {
		acts = s.Start(now)
	}
	return append(acts, s.handle(now, frame)...)
}

// Tick runs the timers.
func (s *Server) Tick(now time.Time) []Action { return s.tick(now) }

// Deadline is the next timer; zero when none.
func (s *Server) Deadline() time.Time { return s.deadline() }

// Close sends an LCP Terminate-Request.
func (s *Server) Close(now time.Time) []Action { return s.close(now) }

func (s *Server) lookup(user string) (string, bool) {
	if pw, ok := s.cfg.Users[user]; ok {
		return pw, true
	}
	u := msv2UserName(user)
	if pw, ok := s.cfg.Users[u]; ok {
		return pw, true
	}
	if i := strings.LastIndexByte(u, '@'); i >= 0 {
		pw, ok := s.cfg.Users[u[:i]]
		return pw, ok
	}
	return "", false
}

func (s *Server) authStart(now time.Time) {
	s.okFrame = nil
	if s.stuck {
		return // SoftEther after giving up EAP: waits for nothing, starts nothing
	}
	switch s.method {
	case AuthNone:
		s.authSucceeded(now, AuthNone)
	case PAP:
		s.authWait(now) // for the peer's Authenticate-Request
	case CHAPMD5, MSCHAPv2:
		s.chalID = s.random8()
		s.chal = make([]byte, msv2ChalLen)
		s.random(s.chal)
		f, err := appendFrame(nil, ProtoCHAP, chapCodeChal, s.chalID, chapValueData(s.chal, s.cfg.Name))
		if err != nil {
			s.abort(err)
			return
		}
		s.authSend(now, f)
	case EAP:
		s.eapTried = make(map[AuthMethod]bool)
		s.eapInner, s.eapFailed = AuthNone, nil
		s.eapRequest(now, []byte{eapTypeIdentity})
	}
}

func (s *Server) authMethod() AuthMethod { return s.method }

func (s *Server) authAwaited() string {
	if s.method == EAP {
		return "EAP Response"
	}
	if s.authFrame == nil {
		return "PAP authentication (no Authenticate-Request)"
	}
	return "CHAP Challenge"
}

func (s *Server) authInput(now time.Time, proto uint16, p Packet) {
	name := authPacketName(proto, p.Code)
	if s.okFrame != nil {
		// Authenticated: answer retransmitted requests again.
		if p.ID == s.okID && ((proto == ProtoPAP && p.Code == papCodeReq) || (proto == ProtoCHAP && p.Code == chapCodeResp)) {
			s.emit(Send{Data: clone(s.okFrame)})
			return
		}
		s.drop("%s after authentication", name)
		return
	}
	if s.phase != phaseAuth {
		s.drop("%s after authentication", name)
		return
	}
	switch {
	case proto == ProtoPAP && s.method == PAP && p.Code == papCodeReq:
		user, pw, ok := parsePAPRequest(p.Data)
		if !ok {
			s.drop("malformed %s", name)
			return
		}
		want, known := s.lookup(string(user))
		if known && subtle.ConstantTimeCompare([]byte(want), pw) == 1 {
			s.succeed(now, PAP, ProtoPAP, papCodeAck, p.ID, papMessageData("Login ok"))
			return
		}
		err := &AuthError{Method: PAP, User: string(user), Message: "wrong user name or password"}
		if !s.cfg.PAPFailureTerminates {
			s.send(ProtoPAP, papCodeNak, p.ID, papMessageData("Login incorrect"))
		}
		s.abort(err)
	case proto == ProtoCHAP && (s.method == MSCHAPv2 || s.method == CHAPMD5) && p.Code == chapCodeResp:
		if p.ID != s.chalID {
			s.drop("%s with wrong identifier %d (ours is %d)", name, p.ID, s.chalID)
			return
		}
		value, user, ok := parseCHAPValue(p.Data)
		if !ok {
			s.drop("malformed %s", name)
			return
		}
		if s.method == MSCHAPv2 {
			s.mschapResponse(now, p.ID, value, string(user))
		} else {
			s.md5Response(now, p.ID, value, string(user))
		}
	case proto == ProtoEAP && s.method == EAP && p.Code == eapCodeResponse:
		if p.ID != s.eapID {
			s.drop("%s with wrong identifier %d (ours is %d)", name, p.ID, s.eapID)
			return
		}
		s.eapResponse(now, p.Data)
	default:
		s.drop("%s unexpected (authenticating with %v)", name, s.method)
	}
}

func (s *Server) mschapResponse(now time.Time, id uint8, value []byte, user string) {
	if len(value) != msv2RespLen {
		s.drop("MS-CHAPv2 Response value of %d bytes", len(value))
		return
	}
	if pw, peerChal, nt, ok := s.msv2Verify(value, user); ok {
		s.succeed(now, MSCHAPv2, ProtoCHAP, chapCodeSucc, id, []byte(s.msv2Success(pw, nt, peerChal, user)))
		return
	}
	msg := s.msv2Failure()
	s.send(ProtoCHAP, chapCodeFail, id, []byte(msg))
	s.abort(&AuthError{Method: MSCHAPv2, User: user, Message: msg, Code: 691})
}

// msv2Verify checks an MS-CHAPv2 Response value against our challenge;
// it returns the user's password when the NT-Response matches.
func (s *Server) msv2Verify(value []byte, user string) (pw string, peerChal [16]byte, nt [24]byte, ok bool) {
	if len(value) != msv2RespLen || len(s.chal) != msv2ChalLen {
		return "", peerChal, nt, false
	}
	peerChal = [16]byte(value[:16])
	nt = [24]byte(value[24:48])
	pw, known := s.lookup(user)
	want, err := generateNTResponse([16]byte(s.chal), peerChal, user, pw)
	if err != nil {
		s.failLater(err)
		return "", peerChal, nt, false
	}
	return pw, peerChal, nt, known && subtle.ConstantTimeCompare(want[:], nt[:]) == 1
}

func (s *Server) msv2Success(pw string, nt [24]byte, peerChal [16]byte, user string) string {
	a := formatAuthResponse(generateAuthenticatorResponse(pw, nt, peerChal, [16]byte(s.chal), user))
	if s.cfg.MSCHAPv2Success != nil {
		return s.cfg.MSCHAPv2Success(a)
	}
	return a + " M=Access granted"
}

func (s *Server) msv2Failure() string {
	var c [16]byte
	s.random(c[:])
	return "E=691 R=0 C=" + strings.ToUpper(hex.EncodeToString(c[:])) + " V=3 M=Authentication failure"
}

func (s *Server) md5Response(now time.Time, id uint8, value []byte, user string) {
	pw, known := s.lookup(user)
	want := chapMD5Response(id, pw, s.chal)
	if known && subtle.ConstantTimeCompare(want[:], value) == 1 {
		s.succeed(now, CHAPMD5, ProtoCHAP, chapCodeSucc, id, []byte("Access granted"))
		return
	}
	s.send(ProtoCHAP, chapCodeFail, id, []byte("Access denied"))
	s.abort(&AuthError{Method: CHAPMD5, User: user, Message: "Access denied"})
}

// succeed sends the Ack or Success of an authentication (kept to answer a
// retransmitted request again) and moves to the network phase.
func (s *Server) succeed(now time.Time, m AuthMethod, proto uint16, code, id uint8, msg []byte) {
	f, err := appendFrame(nil, proto, code, id, msg)
	if err != nil {
		s.abort(err)
		return
	}
	s.okID, s.okFrame = id, f
	s.emit(Send{Data: clone(f)})
	s.authSucceeded(now, m)
}
