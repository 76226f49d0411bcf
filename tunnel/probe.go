package tunnel

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
	"github.com/l2tpctl/l2tpctl/proto/suite"
)

// Probe fingerprints a server without bringing a link up (l2tpctl probe).
//
// Without credentials it sends Main Mode message 1 once per suite class
// (ProbeIKEClasses), each from a fresh socket (a new random port) under a
// fresh cookie, and reads the answer: message 2 (the transform the server
// chose and its vendor IDs), an error notify (refused), or nothing. Then
// Aggressive Mode message 1 (does the server do Aggressive Mode?) and a
// Main Mode offer with RSA signatures (does it take certificates?). It
// never sends message 3: the server drops the half-open exchange after a
// while (SoftEther: 10 s). strongSwan keeps them for minutes and ignores a
// client address with 5 of them, and it refuses an unencrypted Delete for
// them, so a second probe soon after the first may see no answer.
//
// With a pre-shared key or certificates in cfg it then completes phase 1
// and tries Quick Mode once per ESP class (ProbeESPClasses), tearing each
// attempt down (IKE Delete) as soon as the IPsec SA is up; with a user and
// password also L2TP and PPP up to the link, reporting the server's L2TP
// names and the PPP authentication methods it asked for, then tears down
// (PPP Terminate, CDN, StopCCN, IKE Delete) without creating an interface.
//
// It returns the result, also when the server never answered; the error
// is non-nil only when the server could not be probed at all (a bad cfg,
// a name that does not resolve, no socket), or when it answered nothing
// (ErrNoAnswer, phase IKE). Each offer waits at most ProbeWait; a silent
// server gets five (four classes and Aggressive Mode), about 15 s.
func Probe(ctx context.Context, cfg Config, deps Deps) (*ProbeResult, error) {
	deps = deps.withDefaults()
	cfg = cfg.WithDefaults()
	if cfg.Server == "" {
		return nil, &PhaseError{PhaseSetup, fmt.Errorf("%w: no server given", ErrConfig)}
	}
	server, err := deps.Resolve(ctx, cfg.Server)
	if err != nil {
		return nil, &PhaseError{PhaseSetup, fmt.Errorf("%w %q: %w", ErrResolve, cfg.Server, err)}
	}
	p := &prober{cfg: cfg, deps: deps, ike: netip.AddrPortFrom(server, cfg.IKEPort)}
	res := &ProbeResult{Server: server.String(), Port: cfg.IKEPort}
	if err := p.unkeyed(ctx, res); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("probe interrupted: %w", err)
		}
		return res, err
	}
	if !res.Answered() {
		res.Use = recommend(res)
		sent := 0
		for _, o := range res.IKE {
			if o.Result != ProbeSkipped {
				sent++
			}
		}
		return res, &PhaseError{PhaseIKE, fmt.Errorf("%w: no answer to %d Main Mode offers and one Aggressive Mode offer on UDP %d", ErrNoAnswer, sent, cfg.IKEPort)}
	}
	if len(cfg.PSK) > 0 || cfg.Certs != nil {
		p.keyed(ctx, res)
	}
	res.Use = recommend(res)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("probe interrupted: %w", err)
	}
	return res, nil
}

// ProbeWait is how long one probe offer waits for an answer; it is sent
// again after a third and two thirds of it.
const ProbeWait = 3 * time.Second

// ProbeKeyedWait bounds one keyed attempt (phase 1 + Quick Mode, or the
// whole bring-up with credentials).
const ProbeKeyedWait = 20 * time.Second

// ProbeClass is one named list of suites a probe offers in one exchange.
type ProbeClass struct {
	Name string
	IKE  []IKEProposal  // phase-1 classes
	ESP  []ESPTransform // Quick Mode classes
}

func ike(e suite.EncID, bits int, h suite.HashID, g suite.GroupID) IKEProposal {
	return IKEProposal{Enc: e, KeyBits: bits, Hash: h, Group: g}
}

// ProbeIKEClasses are the phase-1 offers of a probe, one exchange each:
// short lists, so that servers that choke on long ones still answer.
var ProbeIKEClasses = []ProbeClass{
	{Name: "aes-sha2-modp2048", IKE: []IKEProposal{
		ike(suite.EncAESCBC, 256, suite.HashSHA256, suite.MODP2048), ike(suite.EncAESCBC, 128, suite.HashSHA256, suite.MODP2048),
		ike(suite.EncAESCBC, 256, suite.HashSHA512, suite.MODP2048), ike(suite.EncAESCBC, 256, suite.HashSHA384, suite.MODP2048)}},
	{Name: "aes-ecp", IKE: []IKEProposal{
		ike(suite.EncAESCBC, 256, suite.HashSHA256, suite.ECP256), ike(suite.EncAESCBC, 256, suite.HashSHA384, suite.ECP384),
		ike(suite.EncAESCBC, 256, suite.HashSHA1, suite.ECP384), ike(suite.EncAESCBC, 128, suite.HashSHA1, suite.ECP256)}},
	{Name: "aes-sha1-modp2048", IKE: []IKEProposal{
		ike(suite.EncAESCBC, 256, suite.HashSHA1, suite.MODP2048), ike(suite.EncAESCBC, 128, suite.HashSHA1, suite.MODP2048)}},
	{Name: "legacy", IKE: []IKEProposal{
		ike(suite.EncAESCBC, 256, suite.HashSHA1, suite.MODP1024), ike(suite.EncAESCBC, 128, suite.HashSHA1, suite.MODP1024),
		ike(suite.EncAESCBC, 128, suite.HashSHA1, suite.MODP1536),
		ike(suite.Enc3DESCBC, 192, suite.HashSHA1, suite.MODP2048), ike(suite.Enc3DESCBC, 192, suite.HashSHA1, suite.MODP1536),
		ike(suite.Enc3DESCBC, 192, suite.HashSHA1, suite.MODP1024), ike(suite.Enc3DESCBC, 192, suite.HashMD5, suite.MODP1024)}},
	{Name: "des-md5", IKE: []IKEProposal{
		ike(suite.EncDESCBC, 64, suite.HashMD5, suite.MODP1024), ike(suite.EncDESCBC, 64, suite.HashSHA1, suite.MODP1024)}},
}

// ProbeESPClasses are the Quick Mode offers of a probe with a key.
var ProbeESPClasses = []ProbeClass{
	{Name: "aes-gcm", ESP: []ESPTransform{{Enc: suite.ESPAESGCM16, KeyBits: 256}, {Enc: suite.ESPAESGCM16, KeyBits: 128}}},
	{Name: "aes-sha2", ESP: []ESPTransform{{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA256}, {Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA256}}},
	{Name: "aes-sha1", ESP: []ESPTransform{{Enc: suite.ESPAES, KeyBits: 256, Auth: suite.AuthHMACSHA1}, {Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACSHA1}}},
	{Name: "legacy", ESP: []ESPTransform{{Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACSHA1},
		{Enc: suite.ESPAES, KeyBits: 128, Auth: suite.AuthHMACMD5}, {Enc: suite.ESP3DES, KeyBits: 192, Auth: suite.AuthHMACMD5}}},
}

// Probe outcomes of one offer.
const (
	ProbeAccepted = "accepted"
	ProbeRefused  = "refused"
	ProbeSilent   = "no answer"
	ProbeFailed   = "failed" // something else went wrong (Err says what)
	ProbeSkipped  = "skipped"
)

// ProbeResult is what Probe found. Its JSON form is documented in
// docs/json.md.
type ProbeResult struct {
	Server string `json:"server"`
	Port   uint16 `json:"port"`
	// IKE has one entry per phase-1 class, in ProbeIKEClasses order.
	IKE []ProbeOutcome `json:"ike"`
	// Aggressive is the Aggressive Mode offer (the first accepted
	// class's first proposal's group, PSK).
	Aggressive ProbeOutcome `json:"aggressive"`
	// Certificates is a Main Mode offer with RSA signatures. Accepted
	// means the server took the offer in message 1; strongSwan does so
	// whatever it is configured for and checks the method later.
	Certificates ProbeOutcome `json:"certificates"`
	// VendorIDs are the vendor IDs of the first answer (they rarely
	// differ between answers).
	VendorIDs []ProbeVID `json:"vendor_ids"`
	// Guess names the server software when the vendor IDs give it away.
	Guess string `json:"guess,omitempty"`

	// With a pre-shared key or certificates.
	Phase1 *ProbeOutcome  `json:"phase1,omitempty"` // the completed phase 1 (Chosen: suite; Detail: server ID)
	ESP    []ProbeOutcome `json:"esp,omitempty"`    // one per ESP class
	// With a user and password.
	L2TP *ProbeL2TP `json:"l2tp,omitempty"`
	PPP  *ProbePPP  `json:"ppp,omitempty"`

	// Use are the flags recommended for connect.
	Use []string `json:"use"`
}

// ProbeOutcome is the answer to one offer.
type ProbeOutcome struct {
	Class   string   `json:"class"`
	Offered []string `json:"offered,omitempty"`
	Result  string   `json:"result"`           // ProbeAccepted, ProbeRefused, ProbeSilent, ProbeFailed, ProbeSkipped
	Chosen  string   `json:"chosen,omitempty"` // the server's choice (a suite name, or raw attributes)
	Notify  string   `json:"notify,omitempty"` // the refusal's notify type
	Detail  string   `json:"detail,omitempty"` // more: the server's ID, an error
	Time    float64  `json:"seconds"`          // until the answer
}

// ProbeVID is one vendor ID.
type ProbeVID struct {
	Hex  string `json:"hex"`
	Name string `json:"name,omitempty"`
}

// ProbeL2TP is what the server's SCCRP said.
type ProbeL2TP struct {
	HostName   string `json:"host_name"`
	VendorName string `json:"vendor_name"`
	Firmware   *int   `json:"firmware,omitempty"`
	Framing    uint32 `json:"framing_caps"`
	Bearer     uint32 `json:"bearer_caps"`
}

// ProbePPP is what PPP authentication showed.
type ProbePPP struct {
	// Requested are the methods the server asked for, in order (we Nak
	// those not wanted by Config.Auth, in its preference order; then, in
	// a second bring-up, we offer only the methods it had not asked for).
	Requested []string `json:"requested"`
	// Accepted are the methods that authenticated us: the first with
	// Config.Auth, then one of the others, if any.
	Accepted []string `json:"accepted"`
	Up       bool     `json:"link_up"` // IPCP completed
	Err      string   `json:"error,omitempty"`
}

// Answered reports whether the server said anything at all.
func (r *ProbeResult) Answered() bool {
	for _, o := range append(slices.Clone(r.IKE), r.Aggressive, r.Certificates) {
		if o.Result == ProbeAccepted || o.Result == ProbeRefused {
			return true
		}
	}
	return false
}

// firstAccepted is the first accepted phase-1 class's chosen proposal.
func (r *ProbeResult) firstAccepted(legacy bool) (IKEProposal, bool) {
	for i, o := range r.IKE {
		if o.Result != ProbeAccepted || (!legacy && i >= 3) {
			continue
		}
		if ps, err := suite.ParseIKEProposals(o.Chosen); err == nil && len(ps) == 1 {
			return ps[0], true
		}
	}
	return IKEProposal{}, false
}

type prober struct {
	cfg  Config
	deps Deps
	ike  netip.AddrPort
}

// unkeyed sends the offers that need no key: the phase-1 classes,
// Aggressive Mode, certificates.
func (p *prober) unkeyed(ctx context.Context, res *ProbeResult) error {
	silent := 0
	for i, c := range ProbeIKEClasses {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if silent == 4 && i == 4 {
			// Four classes went unanswered (a silent server, or one that
			// ignores offers it does not like): DES is not worth the wait.
			res.IKE = append(res.IKE, ProbeOutcome{Class: c.Name, Offered: names(c.IKE), Result: ProbeSkipped})
			continue
		}
		o, err := p.offer(ctx, res, isakmp.ProbeOffer{Proposals: c.IKE})
		if err != nil {
			return err
		}
		o.Class = c.Name
		if o.Result == ProbeSilent {
			silent++
			if res.Answered() {
				o.Detail = halfOpenNote
			}
		}
		res.IKE = append(res.IKE, o)
	}
	// Aggressive Mode with the group the server took, or MODP-2048.
	am := []IKEProposal{ProbeIKEClasses[0].IKE[0]}
	if chosen, ok := res.firstAccepted(true); ok {
		am = []IKEProposal{chosen}
	}
	id := isakmp.ID{Type: isakmp.IDFQDN, Data: []byte("probe.l2tpctl.invalid")}
	o, err := p.offer(ctx, res, isakmp.ProbeOffer{Proposals: am, Aggressive: true, ID: id})
	if err != nil {
		return err
	}
	o.Class = "aggressive-psk"
	if o.Result == ProbeSilent && res.Answered() {
		o.Detail = halfOpenNote
	}
	res.Aggressive = o
	// Certificates (RSA signatures) in Main Mode, with what was accepted.
	res.Certificates = ProbeOutcome{Class: "main-rsa-sig", Result: ProbeSkipped}
	cert := slices.Clone(ProbeIKEClasses[0].IKE)
	chosen, ok := res.firstAccepted(true)
	if ok {
		cert = []IKEProposal{chosen}
	}
	if !ok && !res.Answered() {
		res.Guess = guessServer(res.VendorIDs)
		return nil // silent so far: not worth another wait
	}
	o, err = p.offer(ctx, res, isakmp.ProbeOffer{Proposals: cert, Auth: isakmp.AuthRSASig})
	if err != nil {
		return err
	}
	o.Class = "main-rsa-sig"
	if o.Result == ProbeSilent {
		o.Detail = halfOpenNote
	}
	res.Certificates = o
	res.Guess = guessServer(res.VendorIDs)
	return nil
}

// halfOpenNote explains an offer unanswered after others were answered.
const halfOpenNote = "the server answered earlier offers: it may ignore offers it does not like, or limit " +
	"half-open exchanges per client address (strongSwan: 5, for minutes); probe again later to tell"

func names[S fmt.Stringer](l []S) []string {
	s := make([]string, len(l))
	for i, x := range l {
		s[i] = x.String()
	}
	return s
}

// offer sends one probe from a fresh socket and waits for its answer.
// Vendor IDs of the first answer go into res. Errors are local: no socket.
func (p *prober) offer(ctx context.Context, res *ProbeResult, o isakmp.ProbeOffer) (ProbeOutcome, error) {
	out := ProbeOutcome{Offered: names(o.Proposals), Result: ProbeSilent}
	if _, err := p.deps.Rand.Read(o.ICookie[:]); err != nil {
		return out, &PhaseError{PhaseSetup, fmt.Errorf("randomness: %w", err)}
	}
	msg, err := o.Message(p.deps.Rand)
	if err != nil {
		return out, &PhaseError{PhaseSetup, err}
	}
	conn, err := p.deps.Listen(p.ike)
	if err != nil {
		return out, &PhaseError{PhaseSetup, fmt.Errorf("cannot open a UDP socket towards %v: %w", p.ike, err)}
	}
	pkts := make(chan []byte, 8)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(pkts)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				if isClosed(err) {
					return
				}
				continue
			}
			if unmapAddrPort(from) != p.ike {
				continue
			}
			select {
			case pkts <- append([]byte(nil), buf[:n]...):
			default: // a flood: the answer is among the first
			}
		}
	}()
	defer func() {
		conn.Close()
		wg.Wait()
	}()

	start := p.deps.Clock.Now()
	end := start.Add(ProbeWait)
	nextSend := start
	sends := 0
	for {
		now := p.deps.Clock.Now()
		if !now.Before(nextSend) && sends < 3 {
			if _, err := conn.WriteToUDPAddrPort(msg, p.ike); err != nil {
				if isUnreachable(err) {
					out.Detail = err.Error()
					return out, nil
				}
				p.deps.Log.debugf("probe: sending: %v", err)
			}
			sends++
			nextSend = start.Add(time.Duration(sends) * ProbeWait / 3)
		}
		if !now.Before(end) {
			return out, nil
		}
		wait := end.Sub(now)
		if sends < 3 {
			wait = min(wait, nextSend.Sub(now))
		}
		timer := p.deps.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return out, ctx.Err()
		case <-timer.C():
			timer.Stop() // a no-op on a fired timer, but a fake clock waits for it
		case pkt := <-pkts:
			timer.Stop()
			a, err := isakmp.ReadProbeAnswer(o.ICookie, pkt)
			if err != nil {
				p.deps.Log.debugf("probe: ignored a message: %v", err)
				continue
			}
			out.Time = p.deps.Clock.Now().Sub(start).Seconds()
			if len(res.VendorIDs) == 0 {
				for _, v := range a.VIDs {
					res.VendorIDs = append(res.VendorIDs, ProbeVID{Hex: hex.EncodeToString(v), Name: isakmp.VIDName(v)})
				}
			}
			if a.Refused != nil {
				out.Result = ProbeRefused
				out.Notify = isakmp.NotifyType(a.Refused.Type).String()
				return out, nil
			}
			out.Result = ProbeAccepted
			out.Chosen = isakmp.AttrsString(a.Attrs)
			if a.ChosenKnown {
				out.Chosen = a.Chosen.String()
			}
			if a.PeerID != "" {
				out.Detail = "server ID " + a.PeerID
			}
			return out, nil
		}
	}
}

// guessServer names the server software from its vendor IDs, if they are
// telling.
func guessServer(vids []ProbeVID) string {
	has := map[string]bool{}
	for _, v := range vids {
		name, _, _ := strings.Cut(v.Name, " (version")
		has[name] = true
	}
	switch {
	case has["strongSwan"]:
		return "strongSwan"
	case has["Libreswan"]:
		return "Libreswan"
	case has["Openswan"]:
		return "Openswan"
	case has["Microsoft Windows"]:
		return "Windows (RRAS)"
	case has["Cisco Unity"]:
		return "Cisco"
	case len(vids) == 6 && has["NAT-T (RFC 3947)"] && has["NAT-T draft-00"] && has["NAT-T draft-02"] &&
		has["NAT-T draft-02\\n"] && has["NAT-T draft-03"] && has["DPD (RFC 3706)"]:
		// RFC 3947, the four drafts and DPD, nothing else.
		return "SoftEther (by its vendor ID set)"
	}
	return ""
}

// probeNotes collects, from the control loop of a keyed probe attempt,
// what the events do not carry. Owned by the control goroutine until
// connectOnce returns.
type probeNotes struct {
	ipsecOnly bool // stop once the IPsec SA is up: start no L2TP
	l2tp      *l2tp.TunnelUp
	l2tpPeer  l2tp.PeerInfo
	requested []ppp.AuthMethod
	accepted  ppp.AuthMethod
}

// keyed runs the attempts that need the pre-shared key (or certificates):
// phase 1 and one Quick Mode per ESP class, then, with a user and a
// password, the whole bring-up.
func (p *prober) keyed(ctx context.Context, res *ProbeResult) {
	base := p.cfg
	base.AllowLegacy = true
	base.Reconnect, base.Script, base.ControlSocket = false, "", ""
	base.NATTKeepalive = NATTKeepaliveOff
	base.SALifetime = time.Hour
	if chosen, ok := res.firstAccepted(true); ok {
		base.IKE = []IKEProposal{chosen}
	} else if res.Aggressive.Result == ProbeAccepted {
		base.Aggressive = true
		if ps, err := suite.ParseIKEProposals(res.Aggressive.Chosen); err == nil {
			base.IKE = ps
		}
	}
	creds := base.User != "" && len(base.Password) > 0
	if !creds {
		base.User, base.Password = "probe", []byte("probe") // never used: each attempt ends after Quick Mode
	}
	for _, c := range ProbeESPClasses {
		o := ProbeOutcome{Class: c.Name, Offered: names(c.ESP)}
		if ctx.Err() != nil || res.Phase1 != nil && res.Phase1.Result != ProbeAccepted {
			o.Result = ProbeSkipped
			res.ESP = append(res.ESP, o)
			continue
		}
		cfg := base
		cfg.ESP = c.ESP
		var ph1 *ProbeOutcome
		start := p.deps.Clock.Now()
		err := p.attempt(ctx, cfg, &probeNotes{ipsecOnly: true}, func(ev Event, stop func()) {
			switch {
			case ev.Kind == EventPhase && ev.Phase == PhaseIKE && ev.State == PhaseDone:
				ph1 = &ProbeOutcome{Class: "phase1", Result: ProbeAccepted, Detail: ev.Msg, Time: ev.Duration.Seconds()}
			case ev.Kind == EventPhase && ev.Phase == PhaseIKE && ev.State == PhaseFailed:
				ph1 = &ProbeOutcome{Class: "phase1", Result: ProbeFailed, Detail: ev.Msg, Time: ev.Duration.Seconds()}
			case ev.Kind == EventProposal:
				if ph1 != nil {
					ph1.Chosen = ev.Proposal.IKE
				}
				if res.Phase1 != nil && res.Phase1.Chosen == "" {
					res.Phase1.Chosen = ev.Proposal.IKE
				}
				o.Result, o.Chosen = ProbeAccepted, ev.Proposal.ESP
				stop()
			}
		})
		o.Time = p.deps.Clock.Now().Sub(start).Seconds()
		if res.Phase1 == nil && ph1 != nil {
			res.Phase1 = ph1
		}
		if o.Result == "" {
			switch {
			case ph1 == nil || ph1.Result != ProbeAccepted:
				o.Result = ProbeSkipped
			case FailureOf(err) == FailQuickMode:
				o.Result, o.Detail = ProbeRefused, err.Error()
			default:
				o.Result = ProbeFailed
				if err != nil {
					o.Detail = err.Error()
				}
			}
		}
		res.ESP = append(res.ESP, o)
	}
	if !creds || res.Phase1 == nil || res.Phase1.Result != ProbeAccepted || ctx.Err() != nil {
		return
	}
	cfg := base
	cfg.ESP = nil
	for _, o := range res.ESP {
		if o.Result == ProbeAccepted {
			if ts, err := suite.ParseESPTransforms(o.Chosen); err == nil {
				cfg.ESP = append(cfg.ESP, ts...)
			}
		}
	}
	if cfg.ESP == nil {
		return
	}
	pr := &ProbePPP{}
	notes, err := p.pppAttempt(ctx, cfg, pr)
	if t := notes.l2tp; t != nil {
		pi := notes.l2tpPeer
		res.L2TP = &ProbeL2TP{HostName: t.PeerHostName, VendorName: t.PeerVendor, Framing: pi.Framing, Bearer: pi.Bearer}
		if pi.HasFirmware {
			fw := int(pi.Firmware)
			res.L2TP.Firmware = &fw
		}
	} else {
		return // L2TP did not come up: nothing to say about PPP
	}
	if err != nil {
		pr.Err = err.Error()
	}
	res.PPP = pr
	// Would the server also ask for the methods it has not asked for yet?
	// Offer only those: it Naks its way through its list.
	var rest []AuthMethod
	for _, m := range KnownAuth {
		if !slices.Contains(pr.Requested, m.String()) {
			rest = append(rest, m)
		}
	}
	if len(rest) == 0 || len(pr.Accepted) == 0 || len(rest) == len(KnownAuth) || ctx.Err() != nil {
		return
	}
	cfg.Auth = rest
	if _, err := p.pppAttempt(ctx, cfg, pr); err != nil {
		p.deps.Log.debugf("probe: PPP with %s: %v", joinAuth(rest), err)
	}
}

// pppAttempt brings the link up once with cfg and adds what PPP showed to
// pr: the methods requested and the one accepted.
func (p *prober) pppAttempt(ctx context.Context, cfg Config, pr *ProbePPP) (*probeNotes, error) {
	notes := &probeNotes{}
	err := p.attempt(ctx, cfg, notes, func(ev Event, stop func()) {
		if ev.Kind == EventUp {
			pr.Up = true
			stop()
		}
	})
	for _, m := range notes.requested {
		if !slices.Contains(pr.Requested, m.String()) {
			pr.Requested = append(pr.Requested, m.String())
		}
	}
	if notes.accepted != 0 && !slices.Contains(pr.Accepted, notes.accepted.String()) {
		pr.Accepted = append(pr.Accepted, notes.accepted.String())
	}
	return notes, err
}

// attempt is one keyed connection attempt: connectOnce with a TUN that is
// never created for real, its events given to on with a stop function that
// ends the attempt (with the usual teardown).
func (p *prober) attempt(ctx context.Context, cfg Config, notes *probeNotes, on func(Event, func())) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeKeyedWait)
	defer cancel()
	deps := p.deps
	deps.OpenTUN = func(c TUNConfig) (TUN, error) { return newNullTUN(c.Name, c.MTU), nil }
	deps.Events = func(ev Event) { on(ev, cancel) }
	ev := &emitter{deps: deps, probe: notes}
	err := connectOnce(ctx, cfg, deps, ev, nil, nil)
	if err == nil && ctx.Err() == context.DeadlineExceeded {
		err = &PhaseError{ev.last, fmt.Errorf("%w: the probe's attempt took longer than %v", ErrNoAnswer, ProbeKeyedWait)}
	}
	return err
}

// nullTUN is the interface of a probe's bring-up: nothing is created;
// Read blocks until Close.
type nullTUN struct {
	name   string
	mtu    int
	closed chan struct{}
	once   sync.Once
}

func newNullTUN(name string, mtu int) *nullTUN {
	return &nullTUN{name: name, mtu: mtu, closed: make(chan struct{})}
}

func (t *nullTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	<-t.closed
	return 0, errNullTUNClosed
}
func (t *nullTUN) Write(bufs [][]byte, offset int) (int, error) { return len(bufs), nil }
func (t *nullTUN) BatchSize() int                               { return 1 }
func (t *nullTUN) Name() string                                 { return t.name }
func (t *nullTUN) MTU() int                                     { return t.mtu }
func (t *nullTUN) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}

// errNullTUNClosed wraps os.ErrClosed, as a closed real TUN's error does,
// so that the reader ends at once (isClosed) instead of backing off.
var errNullTUNClosed = fmt.Errorf("probe: interface closed: %w", os.ErrClosed)

// recommend turns a probe's result into connect flags.
func recommend(r *ProbeResult) []string {
	var use []string
	add := func(s string) {
		if !slices.Contains(use, s) {
			use = append(use, s)
		}
	}
	_, modern := r.firstAccepted(false)
	legacy, anyMM := r.firstAccepted(true)
	switch {
	case modern:
	case anyMM:
		add("--allow-legacy")
		add("--ike " + legacy.String())
	case r.Aggressive.Result == ProbeAccepted:
		add("--aggressive")
		if ps, err := suite.ParseIKEProposals(r.Aggressive.Chosen); err == nil && len(ps) == 1 && ps[0].Level() != suite.Modern {
			add("--allow-legacy")
			add("--ike " + ps[0].String())
		}
	case r.Certificates.Result == ProbeAccepted:
		add("--cert FILE --key FILE --ca FILE")
	}
	if len(r.ESP) > 0 {
		var good, weak string
		for i, o := range r.ESP {
			if o.Result != ProbeAccepted {
				continue
			}
			if i < 3 && good == "" {
				good = o.Chosen
			}
			if i == 3 && weak == "" {
				weak = o.Chosen
			}
		}
		if good == "" && weak != "" {
			add("--allow-legacy")
			add("--esp " + weak)
		}
	}
	if r.PPP != nil && len(r.PPP.Accepted) > 0 {
		add("--auth " + r.PPP.Accepted[0])
	}
	return use
}
