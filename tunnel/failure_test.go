package tunnel

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"testing"

	"github.com/l2tpctl/l2tpctl/proto/isakmp"
	"github.com/l2tpctl/l2tpctl/proto/l2tp"
	"github.com/l2tpctl/l2tpctl/proto/ppp"
)

// TestFailureOf builds each error the way Run and the control loop do and
// checks its class.
func TestFailureOf(t *testing.T) {
	pe := func(p Phase, err error) error { return &PhaseError{Phase: p, Err: err} }
	notify := func(n isakmp.NotifyType) error { return &isakmp.NotifyError{Type: uint16(n)} }
	tests := []struct {
		name string
		err  error
		want Failure
	}{
		{"nil", nil, FailNone},
		{"unexpected", errors.New("boom"), FailOther},
		{"config (Validate)", fmt.Errorf("%w: empty interface name", ErrConfig), FailConfig},
		{"config (route contains the server)", pe(PhaseSetup, fmt.Errorf("%w: route 10.0.0.0/8 contains the server", ErrConfig)), FailConfig},
		{"resolve", pe(PhaseSetup, fmt.Errorf("%w %q: %w", ErrResolve, "vpn.example", &net.DNSError{Err: "no such host", Name: "vpn.example", IsNotFound: true})), FailResolve},
		{"TUN permission", pe(PhaseSetup, fmt.Errorf("cannot open /dev/net/tun: %w", syscall.EACCES)), FailLocal},
		{"socket", pe(PhaseSetup, errors.New("cannot open a UDP socket towards 10.0.0.1:500: too many open files")), FailLocal},
		{"unreachable on listen", pe(PhaseSetup, fmt.Errorf("cannot open a UDP socket: %w", fmt.Errorf("%w on UDP 500: network is unreachable", ErrNoAnswer))), FailNoAnswer},
		{"no answer to Main Mode", pe(PhaseIKE, describeIKE(fmt.Errorf("%w to Main Mode message 1", isakmp.ErrNoResponse), 500)), FailNoAnswer},
		{"unreachable in Main Mode", pe(PhaseIKE, fmt.Errorf("%w (IKE to UDP 500: %v)", ErrNoAnswer, syscall.EHOSTUNREACH)), FailNoAnswer},
		{"NO-PROPOSAL-CHOSEN", pe(PhaseIKE, notify(isakmp.NotifyNoProposalChosen)), FailNoProposal},
		{"bad proposal", pe(PhaseIKE, isakmp.ErrBadProposal), FailNoProposal},
		{"no NAT-T", pe(PhaseIKE, isakmp.ErrNoNATT), FailNoProposal},
		{"PSK mismatch (SoftEther)", pe(PhaseIKE, isakmp.ErrPSKMismatch), FailIKEAuth},
		{"PSK mismatch (Aggressive Mode HASH_R)", pe(PhaseIKE, isakmp.ErrPSKHashMismatch), FailIKEAuth},
		{"no answer to Main Mode 5 (strongSwan)", pe(PhaseIKE, fmt.Errorf("%w (%w to Main Mode message 5)", isakmp.ErrPSKUnanswered, isakmp.ErrNoResponse)), FailIKEAuth},
		{"server certificate rejected", pe(PhaseIKE, &isakmp.PeerAuthError{Reason: "was not issued by a trusted CA"}), FailIKEAuth},
		{"AUTHENTICATION-FAILED", pe(PhaseIKE, notify(isakmp.NotifyAuthenticationFailed)), FailIKEAuth},
		{"INVALID-HASH-INFORMATION", pe(PhaseIKE, notify(isakmp.NotifyInvalidHashInformation)), FailIKEAuth},
		{"other phase 1 notify", pe(PhaseIKE, notify(isakmp.NotifyInvalidCookie)), FailOther},
		{"Quick Mode NO-PROPOSAL-CHOSEN", pe(PhaseIPsec, notify(isakmp.NotifyNoProposalChosen)), FailQuickMode},
		{"no answer to Quick Mode", pe(PhaseIPsec, describeIKE(fmt.Errorf("%w to Quick Mode message 1", isakmp.ErrNoResponse), 4500)), FailQuickMode},
		{"StopCCN", pe(PhaseL2TPTunnel, &l2tp.StopError{Result: 2, Tunnel: true}), FailL2TP},
		{"no answer to SCCRQ", pe(PhaseL2TPTunnel, &l2tp.NoResponseError{Msg: l2tp.MsgSCCRQ, Retransmits: 5}), FailL2TP},
		{"CDN", pe(PhaseL2TPSession, &l2tp.StopError{Result: 3}), FailL2TP},
		{"LCP no answer", pe(PhaseLCP, fmt.Errorf("ppp: no answer to LCP Configure-Request: %w", ppp.ErrNoResponse)), FailPPPNegotiation},
		{"no common auth (LCP)", pe(PhaseLCP, fmt.Errorf("%w (server offered pap)", ppp.ErrNoCommonAuth)), FailPPPNegotiation},
		{"no common auth (auth)", pe(PhaseAuth, fmt.Errorf("%w (server offered pap)", ppp.ErrNoCommonAuth)), FailPPPNegotiation},
		{"auth rejected", pe(PhaseAuth, &ppp.AuthError{Method: ppp.MSCHAPv2, User: "alice", Code: 691}), FailPPPAuth},
		{"server not authentic", pe(PhaseAuth, ppp.ErrServerNotAuthentic), FailPPPAuth},
		{"terminated during auth", pe(PhaseAuth, &ppp.TerminatedError{Phase: "authentication"}), FailPPPAuth},
		{"IPCP no address", pe(PhaseIPCP, ppp.ErrNoAddress), FailPPPNegotiation},
		{"TUN", pe(PhaseInterface, errors.New("netlink: file exists")), FailLocal},
		{"TUN permission (interface)", pe(PhaseInterface, &fs.PathError{Op: "open", Path: "/dev/net/tun", Err: fs.ErrPermission}), FailLocal},
		{"TUN gone", pe(PhaseConnected, fmt.Errorf("%w: l2tp0: %w", ErrInterfaceGone, fs.ErrClosed)), FailLocal},
		{"lost: LCP terminated", pe(PhaseConnected, &ppp.TerminatedError{Phase: "network"}), FailLost},
		{"lost: LCP echo", pe(PhaseConnected, fmt.Errorf("ppp: no answer to LCP Echo-Request: %w", ppp.ErrNoResponse)), FailLost},
		{"lost: HELLO", pe(PhaseConnected, &l2tp.NoResponseError{Msg: l2tp.MsgHello, Retransmits: 5}), FailLost},
		{"lost: StopCCN", pe(PhaseConnected, &l2tp.StopError{Result: 6, Tunnel: true}), FailLost},
		{"lost: IKE deleted", pe(PhaseConnected, isakmp.ErrPeerDeleted), FailLost},
		{"wrapped", fmt.Errorf("connect: %w", pe(PhaseAuth, &ppp.AuthError{})), FailPPPAuth},
	}
	seen := map[Failure]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FailureOf(tt.err); got != tt.want {
				t.Errorf("FailureOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
		seen[tt.want] = true
	}
	for f := FailNone; f <= FailLost; f++ {
		if !seen[f] {
			t.Errorf("no case for %v", f)
		}
		if f.String() == "" || (f != FailOther && f.String() == "other") {
			t.Errorf("Failure(%d).String() = %q", f, f.String())
		}
	}
	if got := Failure(99).String(); got != "other" {
		t.Errorf("Failure(99).String() = %q", got)
	}
}
