package ppp

import (
	"crypto/subtle"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// ClientConfig configures the PPP client (the authenticated peer).
type ClientConfig struct {
	User     string
	Password string
	// Auth lists the methods we accept, in preference order (default
	// DefaultAuth). EAP means EAP with EAP-MSCHAPv2 or EAP-MD5 inside.
	Auth []AuthMethod
	// MRU is the MRU we request (0 → 1400).
	MRU uint16
	// Rand supplies the Magic-Number, the MS-CHAPv2 peer challenge and the
	// initial Identifiers. Required.
	Rand io.Reader
	// RestartTimer caps the RFC 1661 restart timer (default 3s). The first
	// retransmission happens after min(1s, RestartTimer), then doubles.
	RestartTimer time.Duration
	MaxConfigure int // default 10
	// NetworkRestartTimer and NetworkMaxConfigure, when set, replace
	// RestartTimer and MaxConfigure for IPCP and IPv6CP (LCP and the
	// authentication keep the others). A server may queue a request it
	// cannot answer yet and read one packet per wake-up: retransmitting
	// fast then only lengthens its queue (SoftEther's IPCP, which waits for
	// our Ack of its own request; docs/reliability.md).
	NetworkRestartTimer time.Duration
	NetworkMaxConfigure int
	// AuthRetries is how often our authentication request (PAP, CHAP,
	// MS-CHAPv2 Response) is sent again without an answer before Down
	// with ErrAuthOutcomeLost (0: MaxConfigure − 1, 27 s in all with the
	// default timers). A caller that can start over (a new L2TP call)
	// sets it low: a server that sends its Success only once never
	// answers the retransmissions.
	AuthRetries int
	// AuthWait is how long we wait for the authenticator to start (the
	// CHAP Challenge, the first EAP Request) before Down with
	// ErrNoResponse (0: MaxConfigure restart periods, 30 s by default).
	AuthWait     time.Duration
	EchoInterval time.Duration // LCP Echo-Request after this much silence (default 10s; <0 disables)
	EchoFailures int           // unanswered Echo-Requests before Down (default 5)
	// EchoRetry is the interval between Echo-Requests once one went
	// unanswered (0: EchoInterval): silence starts the check, and a short
	// retry ends it soon when the peer is gone.
	EchoRetry time.Duration
	// IPv6 runs IPv6CP next to IPCP (RFC 5072): our Interface-Identifier
	// is drawn from Rand. False: IPv6CP and IPv6 frames get a
	// Protocol-Reject. A server that rejects IPv6CP, or sends nothing for
	// it by the time IPCP opens, leaves the link IPv4-only (Up.IPv6Off).
	IPv6 bool
	// IPv6Passive (with IPv6) sends our IPv6CP Configure-Request only in
	// answer to the server's (RFC 1661 §4.2, the passive Open): a server
	// that does not start IPv6CP by the time IPCP opens never sees it.
	IPv6Passive bool
}

// DefaultAuth is the client's preference when ClientConfig.Auth is empty:
// every method it implements, MS-CHAPv2 first (it also proves that the
// server knows the password), then EAP (its inner methods are EAP-MSCHAPv2
// and EAP-MD5; an EAP exchange costs more round trips and servers often
// want certificates there), CHAP-MD5 (the server must keep the password in
// clear) and PAP (the password goes over the link, inside IPsec).
var DefaultAuth = []AuthMethod{MSCHAPv2, EAP, CHAPMD5, PAP}

// Client is the PPP client state machine over L2TP. It is not safe for
// concurrent use; the tunnel's control loop owns it.
type Client struct {
	link
	cfg  ClientConfig
	auth []AuthMethod // accepted and implemented

	// LCP (owned by clientLCP)
	mru       uint16
	offered   []AuthMethod // methods the server asked for
	suggested []AuthMethod // methods we proposed in a Configure-Nak
	declined  []AuthMethod // methods we accept but Naked for a preferred one
	refused   bool         // we Naked or Rejected an Auth-Protocol option
	method    AuthMethod

	// authentication (link.authFrame: our PAP request or CHAP Response)
	authID   uint8
	chalID   uint8
	chal     []byte
	wantAuth [20]byte
	eap      eapClient

	// IPCP (owned by clientIPCP)
	local   netip.Addr
	dns     [2]netip.Addr
	reqAddr bool
	reqDNS  [2]bool
	peer    netip.Addr
}

// NewClient returns a client; call Start to send the first Configure-Request.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{cfg: cfg}
	methods := cfg.Auth
	if len(methods) == 0 {
		methods = DefaultAuth
	}
	for _, m := range methods {
		if m > AuthNone && m < numAuthMethods && !containsMethod(c.auth, m) {
			c.auth = append(c.auth, m)
		}
	}
	c.mru = cfg.MRU
	if c.mru == 0 {
		c.mru = defaultClientMRU
	}
	c.reqMRU, c.reqMagic = true, true
	c.local = netip.IPv4Unspecified()
	c.dns = [2]netip.Addr{netip.IPv4Unspecified(), netip.IPv4Unspecified()}
	c.reqAddr, c.reqDNS = true, [2]bool{true, true}
	echo := cfg.EchoInterval
	if echo == 0 {
		echo = defaultEcho
	} else if echo < 0 {
		echo = 0
	}
	c.link.init(c, cfg.Rand, cfg.RestartTimer, cfg.MaxConfigure, echo, cfg.EchoFailures)
	if cfg.AuthRetries > 0 {
		c.authBudget = cfg.AuthRetries
	}
	if cfg.AuthWait > 0 {
		c.authWaitFor = cfg.AuthWait
	}
	if cfg.EchoRetry > 0 && cfg.EchoRetry < c.echoInterval {
		c.echoRetry = cfg.EchoRetry
	}
	c.lcp = fsm{l: &c.link, proto: ProtoLCP, name: "LCP", h: (*clientLCP)(c)}
	c.ipcp = fsm{l: &c.link, proto: ProtoIPCP, name: "IPCP", h: (*clientIPCP)(c),
		restartTimer: cfg.NetworkRestartTimer, maxConfigure: cfg.NetworkMaxConfigure}
	c.ipv6cp = fsm{l: &c.link, proto: ProtoIPV6CP, name: "IPV6CP", h: (*ipv6cpLayer)(&c.link),
		restartTimer: cfg.NetworkRestartTimer, maxConfigure: cfg.NetworkMaxConfigure}
	c.v6.enabled, c.v6.passive = cfg.IPv6, cfg.IPv6Passive
	return c
}

// Requested lists the authentication methods the server asked for in its
// LCP Configure-Requests so far, in order (those we do not implement left
// out), for l2tpctl probe. The caller must not modify it.
func (c *Client) Requested() []AuthMethod { return c.offered }

// Start sends the LCP Configure-Request.
func (c *Client) Start(now time.Time) []Action {
	if !c.started {
		c.magic = c.newMagic()
	}
	return c.start(now)
}

// Handle processes one received PPP frame (with or without FF 03; a 1-byte
// protocol is accepted).
func (c *Client) Handle(now time.Time, frame []byte) []Action { return c.handle(now, frame) }

// Tick runs the timers; call it when now >= Deadline().
func (c *Client) Tick(now time.Time) []Action { return c.tick(now) }

// Deadline is the next timer; zero when none.
func (c *Client) Deadline() time.Time { return c.deadline() }

// Close sends one LCP Terminate-Request. Down{nil} follows on the
// Terminate-Ack or after the retransmission budget (Max-Terminate).
func (c *Client) Close(now time.Time) []Action { return c.close(now) }

func (c *Client) authStart(now time.Time) {
	c.chal = nil
	c.authFrame = nil
	c.eap = eapClient{}
	switch c.method {
	case PAP:
		data, ok := papRequestData(c.cfg.User, c.cfg.Password)
		if !ok {
			c.abort(&AuthError{Method: PAP, User: c.cfg.User, Message: "user name or password longer than 255 bytes"})
			return
		}
		c.authID = c.random8()
		f, err := appendFrame(nil, ProtoPAP, papCodeReq, c.authID, data)
		if err != nil {
			c.abort(err)
			return
		}
		c.authSend(now, f)
	case MSCHAPv2, CHAPMD5:
		c.authWait(now) // for the Challenge, which the authenticator retransmits
	case EAP:
		c.authWait(now) // for the first Request
	default:
		c.authSucceeded(now, AuthNone)
	}
}

func (c *Client) authMethod() AuthMethod { return c.method }

func (c *Client) authAwaited() string {
	switch {
	case c.method == EAP && c.eap.lastResp == nil:
		return "EAP authentication (no Request)"
	case c.method == EAP:
		return "EAP Response"
	case c.method == PAP:
		return "PAP Authenticate-Request"
	case c.authFrame == nil:
		return c.method.String() + " authentication (no Challenge)"
	}
	return c.method.String() + " Response"
}

// outcomeLost: the server started the network phase (IPCP) while our
// PAP, CHAP or MS-CHAPv2 request waits for its answer, so the server
// accepted us and its Ack or Success was lost. For MS-CHAPv2 only the
// Success proves that the server knows the password (RFC 2759 §5), and
// for PAP and CHAP-MD5 the IPCP could come from anyone who can inject
// into the call: the client does not treat it as success but ends the
// link with ErrAuthOutcomeLost, and the caller starts over.
// Ref: RFC 1661 §3.5 (no network-phase packets before authentication
// completes).
func (c *Client) outcomeLost(proto uint16) error {
	var answer string
	switch c.method {
	case PAP:
		answer = "PAP Authenticate-Ack"
	case CHAPMD5:
		answer = "CHAP Success"
	case MSCHAPv2:
		answer = "MS-CHAPv2 Success"
	default:
		return nil
	}
	return &outcomeLostError{what: fmt.Sprintf("the server started %s but its %s never arrived (lost)", protoName(proto), answer)}
}

func (c *Client) authInput(now time.Time, proto uint16, p Packet) {
	name := authPacketName(proto, p.Code)
	if c.authDone && proto == ProtoCHAP && c.method == CHAPMD5 {
		c.md5Input(now, p) // CHAP may challenge again at any time. Ref: RFC 1994 §2
		return
	}
	if c.authDone || c.phase != phaseAuth {
		c.drop("%s after authentication", name) // a late retransmission of Ack/Success
		return
	}
	switch {
	case proto == ProtoPAP && c.method == PAP:
		if c.authFrame == nil || p.ID != c.authID {
			c.drop("%s with wrong identifier %d (ours is %d)", name, p.ID, c.authID)
			return
		}
		switch p.Code {
		case papCodeAck:
			c.authSucceeded(now, PAP)
		case papCodeNak:
			c.abort(&AuthError{Method: PAP, User: c.cfg.User, Message: parsePAPMessage(p.Data)})
		default:
			c.drop("%s unexpected", name)
		}
	case proto == ProtoCHAP && c.method == MSCHAPv2:
		c.mschapInput(now, p)
	case proto == ProtoCHAP && c.method == CHAPMD5:
		c.md5Input(now, p)
	case proto == ProtoEAP && c.method == EAP:
		c.eapInput(now, p)
	default:
		c.drop("%s, but we authenticate with %v", name, c.method)
	}
}

func (c *Client) mschapInput(now time.Time, p Packet) {
	switch p.Code {
	case chapCodeChal:
		value, _, ok := parseCHAPValue(p.Data)
		if !ok || len(value) != msv2ChalLen {
			c.drop("malformed MS-CHAPv2 Challenge")
			return
		}
		if c.authFrame != nil && p.ID == c.chalID && string(value) == string(c.chal) {
			c.emit(Send{Data: clone(c.authFrame)}) // retransmitted Challenge
			return
		}
		resp, err := c.msv2Response([16]byte(value))
		if err != nil {
			c.abort(err)
			return
		}
		f, err := appendFrame(nil, ProtoCHAP, chapCodeResp, p.ID, chapValueData(resp, c.cfg.User))
		if err != nil {
			c.abort(err) // a user name of about 64 KiB
			return
		}
		c.chalID, c.chal = p.ID, clone(value)
		c.authSend(now, f)
	case chapCodeSucc, chapCodeFail:
		if c.authFrame == nil {
			c.drop("%s before our Response", authPacketName(ProtoCHAP, p.Code))
			return
		}
		if p.ID != c.chalID {
			c.drop("%s with wrong identifier %d (ours is %d)", authPacketName(ProtoCHAP, p.Code), p.ID, c.chalID)
			return
		}
		if p.Code == chapCodeFail {
			f, _ := parseMSCHAPv2Failure(p.Data)
			c.abort(&AuthError{Method: MSCHAPv2, User: c.cfg.User, Message: strings.TrimSpace(string(trimNUL(p.Data))), Code: f.Code})
			return
		}
		got, _, ok := parseMSCHAPv2Success(p.Data)
		if !ok || subtle.ConstantTimeCompare(got[:], c.wantAuth[:]) != 1 {
			c.abort(ErrServerNotAuthentic)
			return
		}
		c.authSucceeded(now, MSCHAPv2)
	default:
		c.drop("%s unexpected", authPacketName(ProtoCHAP, p.Code))
	}
}

// md5Input answers CHAP with MD5 (RFC 1994 §4): a Response to each new
// Challenge (also after authentication: re-challenges are allowed), the
// same Response again to a retransmitted one.
func (c *Client) md5Input(now time.Time, p Packet) {
	switch p.Code {
	case chapCodeChal:
		value, _, ok := parseCHAPValue(p.Data)
		if !ok || len(value) == 0 {
			c.drop("malformed CHAP Challenge")
			return
		}
		if c.authFrame != nil && p.ID == c.chalID && string(value) == string(c.chal) {
			c.emit(Send{Data: clone(c.authFrame)}) // retransmitted Challenge
			return
		}
		r := chapMD5Response(p.ID, c.cfg.Password, value)
		f, err := appendFrame(nil, ProtoCHAP, chapCodeResp, p.ID, chapValueData(r[:], c.cfg.User))
		if err != nil {
			c.abort(err)
			return
		}
		c.chalID, c.chal = p.ID, clone(value)
		if c.authDone {
			c.authFrame = f
			c.emit(Send{Data: clone(f)}) // the authenticator retransmits its Challenge
			return
		}
		c.authSend(now, f)
	case chapCodeSucc, chapCodeFail:
		name := authPacketName(ProtoCHAP, p.Code)
		switch {
		case c.authFrame == nil:
			c.drop("%s before our Response", name)
		case p.ID != c.chalID:
			c.drop("%s with wrong identifier %d (ours is %d)", name, p.ID, c.chalID)
		case p.Code == chapCodeFail:
			c.abort(&AuthError{Method: CHAPMD5, User: c.cfg.User, Message: strings.TrimSpace(string(trimNUL(p.Data)))})
		case c.authDone:
			c.drop("%s of a re-challenge", name)
		default:
			c.authSucceeded(now, CHAPMD5)
		}
	default:
		c.drop("%s unexpected", authPacketName(ProtoCHAP, p.Code))
	}
}

// ackedMRU is the MRU the peer accepted from us: what we requested, or
// the default when it rejected the option. Ref: RFC 1661 §6.1.
func (c *Client) ackedMRU() uint16 {
	if c.reqMRU {
		return c.mru
	}
	return defaultMRU
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// msv2Response answers an MS-CHAPv2 Challenge (authChal), in PPP or inside
// EAP: the Response Value (Peer-Challenge, 8 reserved bytes, NT-Response,
// Flags). It also sets the authenticator response the server's Success
// must carry. Ref: RFC 2759 §4.
func (c *Client) msv2Response(authChal [16]byte) ([]byte, error) {
	var peerChal [16]byte
	c.random(peerChal[:])
	nt, err := generateNTResponse(authChal, peerChal, c.cfg.User, c.cfg.Password)
	if err != nil {
		return nil, err
	}
	c.wantAuth = generateAuthenticatorResponse(c.cfg.Password, nt, peerChal, authChal, c.cfg.User)
	resp := make([]byte, 0, msv2RespLen)
	resp = append(resp, peerChal[:]...)
	resp = append(resp, make([]byte, 8)...)
	resp = append(resp, nt[:]...)
	return append(resp, 0), nil // Flags
}
